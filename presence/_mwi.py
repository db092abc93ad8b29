"""Message-waiting indication (docs/presence.md, "MWI"; docs/recording.md, "Voicemail").

When a box's messages change (`voicemail.left`, `voicemail.heard`, `voicemail.deleted`
in the event log, read in presence's own consumer group), the box's owner (an agent
box's agent) and its `notify:` accounts get an unsolicited NOTIFY (`Event:
message-summary`, RFC 3842) at each of their registered contacts, sent by Kamailio's
tm module (`tm.t_uac_start` over the jsonrpcs FIFO): `Messages-Waiting: yes|no` and
`Voice-Message: new/old (0/0)`. At start every registered phone whose boxes hold
messages is told once, so a restarted presence puts lamps right.

The counts come from the business store (`bizdata.count_voicemail`); the contacts from
`ul.dump`. A failure (Kamailio, the store) is logged and that notification dropped:
the next change of the box sends the whole state again.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventlog import VOICEMAIL_DELETED, VOICEMAIL_HEARD, VOICEMAIL_LEFT, Delivery
from presence._dump import Contact, DumpFormatError, registered_contacts
from presence._fifo import KamailioRpcError

__all__ = [
    "MWI_EVENTS",
    "MailboxOwners",
    "MwiNotifier",
    "mailbox_owners",
    "run_mwi",
    "summary_body",
]

log = logging.getLogger("presence.mwi")

MWI_EVENTS = frozenset({VOICEMAIL_LEFT, VOICEMAIL_HEARD, VOICEMAIL_DELETED})


class Rpc(Protocol):
    def call(self, method: str, *params: object) -> object: ...


# Box -> (new, heard); runs on the notifier's thread; raises on failure.
CountMessages = Callable[[str], tuple[int, int]]


@dataclass(frozen=True)
class MailboxOwners:
    """Who hears of each box: box -> accounts, and every agent's own `agent.<user>`."""

    boxes: Mapping[str, tuple[str, ...]]
    agents: frozenset[str] = frozenset()

    def accounts(self, box: str) -> tuple[str, ...]:
        named = self.boxes.get(box)
        if named is not None:
            return named
        kind, _, user = box.partition(".")
        return (user,) if kind == "agent" and user in self.agents else ()

    def all_boxes(self) -> list[str]:
        return sorted(set(self.boxes) | {f"agent.{user}" for user in self.agents})


def mailbox_owners(config: Any) -> MailboxOwners:
    """From a `CallCenterConfig`: an agent box's agent plus its `notify:`; a queue box's
    `notify:` accounts; `agent.<user>` of every agent account not configured."""
    boxes: dict[str, tuple[str, ...]] = {}
    for name, spec in config.voicemail.boxes.items():
        owners = [spec.agent] if spec.agent else []
        boxes[name] = tuple(dict.fromkeys([*owners, *spec.notify]))
    agents = frozenset(a.username for a in config.accounts if "agent" in a.roles)
    return MailboxOwners(boxes, agents)


def summary_body(box: str, realm: str, new: int, old: int) -> str:
    """The application/simple-message-summary body (RFC 3842)."""
    return (
        f"Messages-Waiting: {'yes' if new else 'no'}\r\n"
        f"Message-Account: sip:{box}@{realm}\r\n"
        f"Voice-Message: {new}/{old} (0/0)\r\n"
    )


class MwiNotifier:
    """Sends message-summary NOTIFYs through Kamailio. One thread uses it."""

    def __init__(
        self, rpc: Rpc, owners: MailboxOwners, count: CountMessages, *, realm: str
    ) -> None:
        self._rpc = rpc
        self.owners = owners
        self._count = count
        self.realm = realm
        self.sent = 0
        self.failed = 0

    def handle(self, deliveries: Sequence[Delivery]) -> None:
        """A batch of the event log (`Consumer.poll`): each changed box once."""
        boxes = dict.fromkeys(
            d.event.data.get("box", "") for d in deliveries if d.event.kind in MWI_EVENTS
        )
        for box in boxes:
            if box:
                self.notify_box(box)

    def notify_box(self, box: str, contacts: Mapping[str, list[Contact]] | None = None) -> int:
        """Tell `box`'s accounts' phones its counts; the number of NOTIFYs sent."""
        accounts = self.owners.accounts(box)
        if not accounts:
            log.debug("box %s has nobody to tell", box)
            return 0
        try:
            new, old = self._count(box)
        except Exception as exc:
            log.error("box %s: cannot count its messages: %s", box, exc)
            self.failed += 1
            return 0
        if contacts is None:
            contacts = self._contacts()
            if contacts is None:
                return 0
        body = summary_body(box, self.realm, new, old)
        sent = 0
        for account in accounts:
            for contact in contacts.get(account, ()):
                sent += self._notify(box, account, contact, body)
        log.info("box %s: %d new, %d heard; %d NOTIFY sent", box, new, old, sent)
        return sent

    def notify_all(self) -> int:
        """At start: each box with messages, to its registered accounts."""
        contacts = self._contacts()
        if contacts is None:
            return 0
        sent = 0
        for box in self.owners.all_boxes():
            if not any(account in contacts for account in self.owners.accounts(box)):
                continue
            try:
                new, old = self._count(box)
            except Exception as exc:
                log.error("box %s: cannot count its messages: %s", box, exc)
                continue
            if new or old:
                sent += self.notify_box(box, contacts)
        return sent

    def _contacts(self) -> dict[str, list[Contact]] | None:
        try:
            return registered_contacts(self._rpc.call("ul.dump"))
        except (KamailioRpcError, DumpFormatError) as exc:
            log.error("MWI: cannot read registrations from Kamailio: %s", exc)
            self.failed += 1
            return None

    def _notify(self, box: str, account: str, contact: Contact, body: str) -> int:
        headers = (
            f"From: <sip:{box}@{self.realm}>;tag={secrets.token_hex(6)}\r\n"
            f"To: <sip:{account}@{self.realm}>\r\n"
            f"Contact: <sip:{box}@{self.realm}>\r\n"
            "Event: message-summary\r\n"
            "Subscription-State: active\r\n"
            "Content-Type: application/simple-message-summary\r\n"
        )  # no Content-Length: tm adds it (and refuses one given)
        # Behind NAT the phone is reached where its REGISTER came from.
        next_hop = contact.received or "."
        try:
            self._rpc.call(
                "tm.t_uac_start", "NOTIFY", contact.address, next_hop, ".", headers, body
            )
        except KamailioRpcError as exc:
            log.warning("MWI NOTIFY for %s to %s failed: %s", box, account, exc)
            self.failed += 1
            return 0
        self.sent += 1
        return 1


def run_mwi(
    notifier: MwiNotifier,
    poll: Callable[[Callable[[Sequence[Delivery]], None]], int],
    stop: threading.Event,
    *,
    retry_s: float = 1.0,
) -> None:
    """The MWI thread: current state once, then the event log until `stop`. A failing
    read (Redis away) is logged once and retried every `retry_s`."""
    notifier.notify_all()
    down = False
    while not stop.is_set():
        try:
            poll(notifier.handle)
        except Exception as exc:  # logged when the outage starts, not every retry
            if not down:
                log.error("MWI: reading the event log failed (retrying): %s", exc)
            down = True
            stop.wait(retry_s)
            continue
        if down:
            log.warning("MWI: the event log answers again")
            down = False
