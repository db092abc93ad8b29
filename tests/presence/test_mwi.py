"""Message-waiting indication against a fake Kamailio RPC (presence/_mwi.py): who is
told, what the NOTIFY carries, and what happens when Kamailio or the store fails."""

from __future__ import annotations

import threading
from typing import Any

from eventlog import VOICEMAIL_HEARD, VOICEMAIL_LEFT, Delivery, Event
from presence import KamailioRpcError, registered_contacts
from presence._mwi import MailboxOwners, MwiNotifier, run_mwi, summary_body

REALM = "cc.example"


def _dump(*contacts: tuple[str, str, Any]) -> dict[str, Any]:
    """ul.dump's shape: (user, contact address, Expires) each."""
    aors: dict[str, list[dict[str, Any]]] = {}
    for user, address, expires in contacts:
        aors.setdefault(user, []).append(
            {"Contact": {"Address": address, "Expires": expires, "Received": "[not set]"}}
        )
    return {
        "Domains": [
            {
                "Domain": {
                    "Domain": "location",
                    "AoRs": [
                        {"Info": {"AoR": user, "Contacts": items}} for user, items in aors.items()
                    ],
                }
            }
        ]
    }


class Rpc:
    def __init__(self, dump: dict[str, Any], *, fail_notify: bool = False) -> None:
        self.dump = dump
        self.fail_notify = fail_notify
        self.sent: list[tuple[object, ...]] = []

    def call(self, method: str, *params: object) -> object:
        if method == "ul.dump":
            return self.dump
        assert method == "tm.t_uac_start"
        if self.fail_notify:
            raise KamailioRpcError("no")
        self.sent.append(params)
        return None


OWNERS = MailboxOwners(
    {"sales": ("1002",), "agent.1001": ("1001", "1003")}, frozenset({"1001", "1004"})
)


def _delivery(kind: str, box: str) -> Delivery:
    data = {"box": box, "message_id": "m1"}
    data |= (
        {"by": "1001"}
        if kind == VOICEMAIL_HEARD
        else {"caller": "1", "duration_ms": "1", "ref": "r"}
    )
    return Delivery("1-0", Event.new(kind, correlation_id="c" * 32, node="n", ts=1.0, **data))


def test_the_body_says_waiting_and_the_counts() -> None:
    assert summary_body("sales", REALM, 2, 1) == (
        "Messages-Waiting: yes\r\nMessage-Account: sip:sales@cc.example\r\n"
        "Voice-Message: 2/1 (0/0)\r\n"
    )
    assert summary_body("sales", REALM, 0, 3).startswith("Messages-Waiting: no\r\n")


def test_owners_of_configured_and_agent_boxes() -> None:
    assert OWNERS.accounts("sales") == ("1002",)
    assert OWNERS.accounts("agent.1001") == ("1001", "1003")
    assert OWNERS.accounts("agent.1004") == ("1004",)
    assert OWNERS.accounts("agent.9999") == ()
    assert OWNERS.all_boxes() == ["agent.1001", "agent.1004", "sales"]


def test_each_live_contact_of_each_owner_gets_one_notify_per_changed_box() -> None:
    rpc = Rpc(
        _dump(
            ("1001", "sip:1001@10.0.0.1:5060", 300),
            ("1001", "sip:1001@10.0.0.2:5060", "expired"),
            ("1003", "sip:1003@10.0.0.3:5060", "permanent"),
        )
    )
    notifier = MwiNotifier(rpc, OWNERS, lambda box: (1, 2), realm=REALM)
    notifier.handle(
        [_delivery(VOICEMAIL_LEFT, "agent.1001"), _delivery(VOICEMAIL_HEARD, "agent.1001")]
    )
    assert [p[1] for p in rpc.sent] == ["sip:1001@10.0.0.1:5060", "sip:1003@10.0.0.3:5060"]
    method, _, hop, sock, headers, body = rpc.sent[0]
    assert (method, hop, sock) == ("NOTIFY", ".", ".")
    assert isinstance(headers, str)
    assert "Event: message-summary\r\n" in headers
    assert "To: <sip:1001@cc.example>\r\n" in headers
    assert "Content-Length" not in headers  # tm adds it
    assert body == summary_body("agent.1001", REALM, 1, 2)


def test_at_start_only_boxes_with_messages_and_registered_owners_are_sent() -> None:
    rpc = Rpc(_dump(("1002", "sip:1002@10.0.0.9:5060", 60), ("1004", "sip:1004@h:5060", 60)))
    counts = {"sales": (0, 0), "agent.1004": (1, 0)}
    notifier = MwiNotifier(rpc, OWNERS, lambda box: counts.get(box, (0, 0)), realm=REALM)
    assert notifier.notify_all() == 1
    assert rpc.sent[0][1] == "sip:1004@h:5060"


def test_failures_are_counted_and_nothing_is_sent() -> None:
    def broken(box: str) -> tuple[int, int]:
        raise RuntimeError("store down")

    rpc = Rpc(_dump(("1002", "sip:1002@h:5060", 60)))
    notifier = MwiNotifier(rpc, OWNERS, broken, realm=REALM)
    assert notifier.notify_box("sales") == 0 and notifier.failed == 1
    failing = MwiNotifier(Rpc(rpc.dump, fail_notify=True), OWNERS, lambda b: (1, 0), realm=REALM)
    assert failing.notify_box("sales") == 0 and failing.failed == 1


def test_registered_contacts_keeps_received_behind_nat() -> None:
    dump = _dump(("1001", "sip:1001@192.168.1.5:5060", 60))
    dump["Domains"][0]["Domain"]["AoRs"][0]["Info"]["Contacts"][0]["Contact"]["Received"] = (
        "sip:203.0.113.7:40000"
    )
    (contact,) = registered_contacts(dump)["1001"]
    assert contact.received == "sip:203.0.113.7:40000"


def test_the_mwi_thread_sends_the_state_then_follows_the_log_through_an_outage() -> None:
    rpc = Rpc(_dump(("1002", "sip:1002@h:5060", 60)))
    notifier = MwiNotifier(rpc, OWNERS, lambda box: (1, 0), realm=REALM)
    stop = threading.Event()
    polls: list[int] = []

    def poll(handler: Any) -> int:
        polls.append(1)
        if len(polls) == 1:
            raise ConnectionError("redis away")
        handler([_delivery(VOICEMAIL_LEFT, "sales")])
        stop.set()
        return 1

    run_mwi(notifier, poll, stop, retry_s=0.001)
    assert len(rpc.sent) == 2  # at start, then for the event after the outage
