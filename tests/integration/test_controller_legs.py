"""Legs the call controller originates go back through the Kamailio edge.

Real Kamailio, rtpengine, Redis, one controller replica started by `callcenter up`
(so with `--edge`), and sipp parties: a carrier, registered agent phones, a carrier
gateway. A second `controllers:` entry is `managed: false`: its address is where a
sipp UAC or a raw socket plays a replica, to test the edge's routing alone.

Each test checks what reached every party, the Kamailio log, and that the edge left
rtpengine alone: during a call the only rtpengine call is the controller's own (its
call-id is the correlation ID), and rtpengine's ng counters (`statistics`) show no
offer or delete beyond the controller's. Every carrier sends its own
X-CC-Correlation-ID, which the edge must replace (an untrusted source's X-CC-*).
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from testbed import (
    SDP,
    ReplicaControl,
    Reply,
    Stack,
    artifact_dir,
    base_config,
    exchange,
    media_of,
    running_stack,
    start_phone,
    track,
    unregister_all,
    wait_until,
)

pytestmark = pytest.mark.integration

SERVICE = "95500"
CALLER = "+8613912345678"
EXTERNAL = "+8613800138000"
AGENTS = ("1001", "1002", "1003")


@dataclass
class Legs:
    stack: Stack
    control: ReplicaControl
    replica: str  # the managed replica's SIP address
    fake: str  # the unmanaged controllers: entry, played by sipp or a raw socket
    gateway: str  # carrier-a's gateway, played by sipp

    @property
    def fake_port(self) -> int:
        return int(self.fake.rpartition(":")[2])


def _inactive(stack: Stack) -> set[str]:
    """The destinations Kamailio's dispatcher lists with an inactive flag."""
    text = subprocess.run(
        ["kamcmd", "-s", f"unix:{stack.layout.kamailio_ctl}", "dispatcher.list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return {
        uri
        for uri, flags in re.findall(r"URI: (sip:\S+)\s+FLAGS: (\w+)", text)
        if flags.startswith("I")
    }


@pytest.fixture(scope="module")
def legs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Legs]:
    workdir = tmp_path_factory.mktemp("ctllegs")
    config, passwords = base_config(workdir, AGENTS)
    config["numbers"].append(
        {"number": SERVICE, "category": "self-service", "target": "controller"}
    )
    replica, fake = (f"127.0.0.1:{free_port()}" for _ in range(2))
    gateway = f"127.0.0.1:{free_port()}"
    # Carrier-a is the demo's shape: its sources include the replicas' IP.
    config["trunks"] = [
        {
            "name": "carrier-a",
            "sources": ["127.0.0.1/32"],
            "gateway": gateway,
            "outbound_prefixes": ["+86", "400"],
        },
        {"name": "carrier-b", "sources": ["192.0.2.0/24"]},  # inbound only
    ]
    config["controllers"] = [
        {"sip": replica, "control": f"127.0.0.1:{free_port()}"},
        {"sip": fake, "control": f"127.0.0.1:{free_port()}", "managed": False},
    ]
    config["sip"]["controller_ping_interval_s"] = 1
    failed_before = request.session.testsfailed
    with running_stack(workdir, config, passwords) as stack:
        # Nothing answers the fake replica's probes: once marked inactive, trunk calls
        # to SERVICE all go to the real one (nothing in these tests answers them later).
        wait_until(
            lambda: f"sip:{fake}" in _inactive(stack),
            timeout=10,
            what="the dispatcher marks the unmanaged entry inactive",
        )
        control = stack.replica_control(0)
        try:
            yield Legs(stack, control, replica, fake, gateway)
        finally:
            control.close()
        if request.session.testsfailed > failed_before:
            keep = artifact_dir(f"{request.node.nodeid}-stack")
            shutil.copytree(stack.layout.logs, keep, dirs_exist_ok=True)


@pytest.fixture(autouse=True)
def _clean_registrations(legs: Legs) -> Iterator[None]:
    unregister_all(legs.stack, AGENTS)
    yield
    unregister_all(legs.stack, AGENTS)


_RTPS: list[RtpEndpoint] = []


@pytest.fixture(autouse=True)
def _close_rtp_endpoints() -> Iterator[None]:
    yield
    while _RTPS:
        _RTPS.pop().close()


def _rtp() -> RtpEndpoint:
    endpoint = RtpEndpoint()
    _RTPS.append(endpoint)
    return endpoint


def _phone(
    legs: Legs,
    workdir: Path,
    agent: str,
    scenario: str,
    rtp: RtpEndpoint,
    *,
    answer_after_ms: int = 100,
) -> SippRun:
    phone = start_phone(
        legs.stack,
        agent,
        workdir=workdir,
        scenario=scenario,
        answer_after_ms=answer_after_ms,
        rtp_port=rtp.port,
    )
    return track(phone.run)


def _carrier(
    legs: Legs, workdir: Path, scenario: str, rtp: RtpEndpoint, pause_ms: int | None = None
) -> SippRun:
    keys: dict[str, str | int] = {
        "rtp_port": rtp.port,
        "caller": CALLER,
        "cidhdr": "X-CC-Correlation-ID",
        "cid": "f" * 32,
    }
    return track(
        start_sipp(
            "carrier",
            scenario,
            legs.stack.sip,
            workdir=workdir,
            keys=keys,
            service=f"+86{SERVICE}",
            pause_ms=pause_ms,
            timeout_s=30,
        )
    )


def _new_call(legs: Legs) -> str:
    cid = str(legs.control.wait_new_call()["cid"])
    # The carrier's own X-CC-Correlation-ID was removed at the edge (untrusted source).
    assert re.fullmatch(r"[0-9a-f]{32}", cid) and cid != "f" * 32
    return cid


def _assert_clean(legs: Legs) -> None:
    def clean() -> bool:
        status = legs.control.cmd("status")
        return (status["calls"], status["media_sessions"]) == (
            0,
            0,
        ) and not legs.stack.rtpengine_calls()

    wait_until(clean, timeout=8, what="no call and no rtpengine session left")


def _ng_counts(legs: Legs) -> tuple[int, int]:
    """(offers, deletes) rtpengine has taken so far, from anyone (edge or controller)."""
    stats = legs.stack.ng().request("statistics")["statistics"]["controlstatistics"]
    return int(stats["totaloffercount"]), int(stats["totaldeletecount"])


def _deletes_since(legs: Legs, before: tuple[int, int]) -> int:
    """ng deletes since `before`. The controller sends one per call, when it ends it;
    the edge must send none for these calls (an ng delete is counted even when the
    call-id is unknown, which is all a wasted delete at the edge would find)."""
    return _ng_counts(legs)[1] - before[1]


# -- (a) a leg to a registered agent --------------------------------------------------
def test_agent_rings_through_the_edge_talks_and_the_caller_hangs_up(
    legs: Legs,
    workdir: Path,
) -> None:
    ng_before = _ng_counts(legs)
    caller_rtp, agent_rtp = _rtp(), _rtp()
    agent = _phone(legs, workdir, "1001", "ctl_via_edge_agent", agent_rtp)
    carrier = _carrier(legs, workdir, "ctl_caller_talk_hangup", caller_rtp, pause_ms=3000)
    cid = _new_call(legs)
    legs.control.cmd("connect", cid=cid, agents=["1001"], ring_timeout_s=5.0)

    seen = agent.wait_for_log("CALL")[0]
    assert f"cid={cid} caller=13912345678 " in seen  # the controller's leg, unchanged
    assert ";cc=ctl" in seen.partition(" rr=")[2], "record-routed as a controller leg"
    agent_media = media_of(seen)
    call = legs.control.wait_state(cid, "bridged")
    assert call["attempts"] == [["1001", "answered"]]
    # One rtpengine call, the controller's: the edge offered nothing for this leg.
    assert legs.stack.rtpengine_calls() == [cid]
    caller_media = media_of(carrier.wait_for_log("REINVITE1")[0])
    got_agent, got_caller = exchange(caller_rtp, caller_media, agent_rtp, agent_media)
    assert got_agent >= 48 and got_caller >= 48

    carrier.wait_for_log("HUNG_UP", timeout=10)
    assert f"BYE cid={cid}" in agent.wait_for_log("BYE")[0]
    assert carrier.wait(timeout=10) == 0, carrier.errors()
    assert agent.wait(timeout=10) == 0, agent.errors()
    log = legs.stack.kamailio_log()
    assert re.search(
        rf"cid={cid} controller {legs.replica} leg to agent 1001 at "
        r"sip:\S+ \(media at the controller\)",
        log,
    )
    # Both BYEs passed the edge: the carrier's to the replica, the replica's to the agent.
    assert len(re.findall(rf"cid={cid} BYE from 127\.0\.0\.1", log)) == 2
    _assert_clean(legs)
    assert _deletes_since(legs, ng_before) == 1


def test_agent_hangs_up_through_the_edge(legs: Legs, workdir: Path) -> None:
    ng_before = _ng_counts(legs)
    caller_rtp, agent_rtp = _rtp(), _rtp()
    agent = _phone(
        legs, workdir, "1002", "ctl_via_edge_agent_hangup", agent_rtp, answer_after_ms=1000
    )  # here: how long the agent talks before its BYE
    carrier = _carrier(legs, workdir, "ctl_caller_bridged", caller_rtp)
    cid = _new_call(legs)
    legs.control.cmd("connect", cid=cid, agents=["1002"], ring_timeout_s=5.0)
    assert f"cid={cid} " in agent.wait_for_log("CALL")[0]
    agent.wait_for_log("BYE-ANSWERED", timeout=10)
    carrier.wait_for_log("BYE", timeout=10)  # the controller ends the call
    assert agent.wait(timeout=10) == 0, agent.errors()
    assert carrier.wait(timeout=10) == 0, carrier.errors()
    assert len(re.findall(rf"cid={cid} BYE from 127\.0\.0\.1", legs.stack.kamailio_log())) == 2
    _assert_clean(legs)
    assert _deletes_since(legs, ng_before) == 1


# -- (b) an unregistered agent --------------------------------------------------------
def test_unregistered_agent_gets_480_and_the_controller_tries_the_next(
    legs: Legs,
    workdir: Path,
) -> None:
    ng_before = _ng_counts(legs)
    caller_rtp, agent_rtp = _rtp(), _rtp()
    agent = _phone(legs, workdir, "1001", "ctl_via_edge_agent", agent_rtp)
    carrier = _carrier(legs, workdir, "ctl_caller_bridged", caller_rtp)
    cid = _new_call(legs)
    legs.control.cmd("connect", cid=cid, agents=["1003", "1001"], ring_timeout_s=5.0)
    assert f"cid={cid} " in agent.wait_for_log("CALL")[0]
    call = legs.control.wait_state(cid, "bridged")
    assert call["attempts"] == [["1003", "failed 480"], ["1001", "answered"]]
    log = legs.stack.kamailio_log()
    assert (
        f"refused INVITE from 127.0.0.1: cid={cid} controller {legs.replica}: "
        "agent 1003 is not registered" in log
    )

    legs.control.cmd("hangup", cid=cid)
    assert f"BYE cid={cid}" in agent.wait_for_log("BYE")[0]
    carrier.wait_for_log("BYE")
    assert agent.wait(timeout=10) == 0, agent.errors()
    assert carrier.wait(timeout=10) == 0, carrier.errors()
    _assert_clean(legs)
    assert _deletes_since(legs, ng_before) == 1


# -- CANCEL ------------------------------------------------------------------------------
def test_ring_timeout_cancel_passes_the_edge_without_an_rtpengine_delete(
    legs: Legs,
    workdir: Path,
) -> None:
    ng_before = _ng_counts(legs)
    caller_rtp = _rtp()
    agent = _phone(legs, workdir, "1003", "ctl_via_edge_agent_noanswer", _rtp())
    carrier = _carrier(legs, workdir, "ctl_caller", caller_rtp)  # never bridged
    cid = _new_call(legs)
    legs.control.cmd("connect", cid=cid, agents=["1003"], ring_timeout_s=1.0)
    assert f"RANG cid={cid}" in agent.wait_for_log("RANG")[0]
    assert f"CANCELLED cid={cid}" in agent.wait_for_log("CANCELLED", timeout=5)[0]
    assert agent.wait(timeout=10) == 0, agent.errors()
    call = legs.control.wait_state(cid, "parked")  # nobody left: the caller is parked again
    assert call["attempts"] == [["1003", "no answer"]]
    legs.control.cmd("hangup", cid=cid)
    carrier.wait_for_log("BYE")
    assert carrier.wait(timeout=10) == 0, carrier.errors()
    _assert_clean(legs)
    assert _deletes_since(legs, ng_before) == 1


def test_carrier_cancel_of_a_controller_call_leaves_rtpengine_alone(legs: Legs) -> None:
    """The CANCEL of a trunk call to a replica used to cost an ng delete at the edge."""
    ng_before = _ng_counts(legs)
    with _Raw(legs.stack.sip) as raw:  # a trunk: 127.0.0.1, any port
        invite = raw.request("INVITE", f"+86{SERVICE}", sdp=True)
        assert invite.provisional(timeout=5).code == 100
        cid = _new_call(legs)
        cancel = raw.cancel(invite)
        assert cancel.final().code == 200
        assert invite.final().code == 487
        invite.ack()
    wait_until(
        lambda: legs.control.call(cid) is None,
        timeout=5,
        what="the replica ends the cancelled call",
    )
    _assert_clean(legs)
    assert _deletes_since(legs, ng_before) == 1


# -- (c) outbound: a leg to an external number --------------------------------------
@pytest.mark.parametrize("trunk_header", ["X-CC-Trunk", "X-Not-A-Trunk"])
def test_leg_to_an_external_number_reaches_the_carrier_gateway(
    legs: Legs,
    workdir: Path,
    trunk_header: str,
) -> None:
    """With X-CC-Trunk, or without (the first trunk with a gateway): carrier-a."""
    cid = secrets.token_hex(16)
    ng_before = _ng_counts(legs)
    gateway = track(
        start_sipp(
            "gateway",
            "ctl_via_edge_gateway",
            legs.stack.sip,
            workdir=workdir,
            port=int(legs.gateway.rpartition(":")[2]),
            keys={"rtp_port": _rtp().port},
            pause_ms=100,
            timeout_s=30,
        )
    )
    controller = track(
        start_sipp(
            "controller",
            "ctl_via_edge_originate",
            legs.stack.sip,
            workdir=workdir,
            port=legs.fake_port,
            service=EXTERNAL,
            pause_ms=500,
            timeout_s=30,
            keys={
                "caller": "95598",
                "cid": cid,
                "trunkhdr": trunk_header,
                "trunk": "carrier-a",
                "rtp_port": _rtp().port,
            },
        )
    )

    seen = gateway.wait_for_log("CALL")[0]
    assert f"ruri=sip:{EXTERNAL}@{legs.gateway} " in seen  # as the controller wrote it
    assert f"cid={cid} " in seen  # the controller's X-CC-* header reaches the carrier
    assert "trunkhdr= " in seen  # none: the edge consumed its instruction
    assert "caller=95598 " in seen
    assert ";cc=ctl" in seen.partition(" rr=")[2]
    assert ";cc=ctl" in controller.wait_for_log("ANSWERED")[0]
    assert not legs.stack.rtpengine_calls()  # the edge anchored nothing
    controller.wait_for_log("HUNG_UP")
    assert f"BYE cid={cid}" in gateway.wait_for_log("BYE")[0]
    assert controller.wait(timeout=10) == 0, controller.errors()
    # 0 also says the gateway saw no X-CC-Trunk: the edge consumed its instruction.
    assert gateway.wait(timeout=10) == 0, gateway.errors()
    log = legs.stack.kamailio_log()
    assert (
        f"cid={cid} controller {legs.fake} leg to {EXTERNAL} via trunk carrier-a at "
        f"{legs.gateway} (media at the controller)" in log
    )
    assert f"cid={cid} BYE from 127.0.0.1" in log
    # No controller here, so any ng offer or delete would have been the edge's.
    assert _ng_counts(legs) == ng_before


# -- (d) what a controller address may not do ----------------------------------------
@dataclass(frozen=True)
class Refusal:
    method: str
    user: str
    headers: dict[str, str]
    code: int
    reason: str
    logged: str | None  # in the Kamailio log line (None: not refused, nothing logged)


@pytest.mark.parametrize(
    "case",
    [
        Refusal(
            "INVITE",
            EXTERNAL,
            {"X-CC-Trunk": "nosuch"},
            404,
            "Unknown Trunk",
            "X-CC-Trunk names no trunk 'nosuch'",
        ),
        Refusal(
            "INVITE",
            EXTERNAL,
            {"X-CC-Trunk": "carrier-b"},
            503,
            "No Outbound Gateway",
            f"trunk carrier-b has no gateway; cannot reach {EXTERNAL}",
        ),
        Refusal(
            "INVITE",
            "9995551234",
            {},
            403,
            "Number Not Allowed",
            "9995551234 matches no outbound_prefixes of trunk carrier-a",
        ),
        Refusal(
            "INVITE",
            "alice",
            {},
            404,
            "Not Found",
            "'alice' is neither an agent nor a diallable number",
        ),
        Refusal("INVITE", "1002", {}, 480, "Not Registered", "agent 1002 is not registered"),
        Refusal("MESSAGE", "1002", {}, 405, "Method Not Allowed", "sent MESSAGE"),
        Refusal("REGISTER", "1002", {}, 405, "Method Not Allowed", "sent REGISTER"),
        Refusal("OPTIONS", "1002", {}, 200, "OK", None),
    ],
    ids=lambda case: f"{case.method}-{case.user}-{case.code}",
)
def test_requests_from_a_controller_address_are_refused_with_clear_codes(
    legs: Legs,
    case: Refusal,
) -> None:
    cid = secrets.token_hex(16)
    invite = case.method == "INVITE"
    ng_before = _ng_counts(legs)
    with _Raw(legs.stack.sip, port=legs.fake_port) as raw:
        sent = raw.request(
            case.method, case.user, sdp=invite, headers={"X-CC-Correlation-ID": cid, **case.headers}
        )
        reply = sent.final()
        if invite:
            sent.ack()
    assert reply.text.split("\r\n")[0] == f"SIP/2.0 {case.code} {case.reason}"
    if case.logged is not None:
        (line,) = [ln for ln in legs.stack.kamailio_log().splitlines() if case.logged in ln]
        assert "refused" in line and legs.fake in line
        if invite:
            assert f"cid={cid}" in line
    assert _ng_counts(legs) == ng_before


# -- (e) X-CC-* from anyone else ------------------------------------------------------
def test_a_trunk_on_the_replicas_ip_is_no_controller(legs: Legs) -> None:
    """Same IP as both controllers, another port: a trunk. Its X-CC-* headers are not
    instructions (removed, see _new_call), and an agent's name is no number to it."""
    cid = secrets.token_hex(16)
    with _Raw(legs.stack.sip) as raw:
        sent = raw.request(
            "INVITE",
            "1001",
            sdp=True,
            headers={"X-CC-Correlation-ID": cid, "X-CC-Trunk": "carrier-a"},
        )
        reply = sent.final()
        sent.ack()
    assert reply.code == 404
    assert "trunk carrier-a: no route for number '1001'" in legs.stack.kamailio_log()
    assert f"cid={cid}" not in legs.stack.kamailio_log()


# -- raw SIP from a chosen address ---------------------------------------------------
@dataclass
class _Sent:
    raw: _Raw
    method: str
    ruri: str
    headers: str  # Via, From, To, Call-ID as sent (for CANCEL and ACK)
    cseq: int
    replies: list[Reply]

    def _collect(self, until: Any, timeout: float) -> Reply:
        def got() -> bool:
            self.replies.extend(self.raw.pending(self.headers, self.cseq, self.method))
            return any(until(r) for r in self.replies)

        wait_until(got, timeout=timeout, what=f"a reply to {self.method} {self.ruri}")
        return next(r for r in self.replies if until(r))

    def provisional(self, timeout: float = 5.0) -> Reply:
        return self._collect(lambda r: r.code < 200, timeout)

    def final(self, timeout: float = 5.0) -> Reply:
        return self._collect(lambda r: r.code >= 200, timeout)

    def ack(self) -> None:
        """ACK a non-2xx final reply on the INVITE's branch (RFC 3261 17.1.1.3)."""
        to = self.final().header("To")
        via, from_, _, call_id = self.headers.split("\r\n")
        self.raw.send(
            f"ACK {self.ruri} SIP/2.0\r\n{via}\r\n{from_}\r\nTo: {to}\r\n"
            f"{call_id}\r\nCSeq: {self.cseq} ACK\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )


class _Raw:
    """One UDP socket at a chosen local port, speaking to Kamailio."""

    def __init__(self, target: str, port: int = 0) -> None:
        host, _, target_port = target.rpartition(":")
        self.target = (host, int(target_port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.sock.setblocking(False)
        self._inbox: list[str] = []

    def __enter__(self) -> _Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, text: str) -> None:
        self.sock.sendto(text.encode(), self.target)

    def pending(self, headers: str, cseq: int, method: str) -> list[Reply]:
        """Replies received so far to the request with this Call-ID (last line of
        `headers`) and CSeq. Requests (the dispatcher's probes) are ignored."""
        while True:
            try:
                self._inbox.append(self.sock.recv(65535).decode(errors="replace"))
            except BlockingIOError:
                break
        call_id = headers.rsplit("\r\n", 1)[1]
        mine = [
            m
            for m in self._inbox
            if m.startswith("SIP/2.0 ")
            and call_id in m
            and re.search(rf"^CSeq: *{cseq} {method}\r?$", m, re.M | re.I)
        ]
        self._inbox = [m for m in self._inbox if m not in mine]
        return [Reply(int(m[8:11]), m, 0.0) for m in mine]

    def request(
        self, method: str, user: str, *, sdp: bool = False, headers: dict[str, str] | None = None
    ) -> _Sent:
        host, port = self.target
        ruri = f"sip:{user}@{host}:{port}"
        tag, branch = secrets.token_hex(6), "z9hG4bK" + secrets.token_hex(8)
        dialog = "\r\n".join(
            [
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport",
                f"From: <sip:95598@127.0.0.1:{self.port}>;tag={tag}",
                f"To: <{ruri}>",
                f"Call-ID: legs-{secrets.token_hex(8)}",
            ]
        )
        body = SDP.format(ip="127.0.0.1", port=9) if sdp else ""
        lines = [
            f"{method} {ruri} SIP/2.0",
            dialog,
            f"CSeq: 1 {method}",
            f"Contact: <sip:95598@127.0.0.1:{self.port}>",
            "Max-Forwards: 70",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if sdp:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self.send("\r\n".join(lines) + "\r\n\r\n" + body)
        return _Sent(self, method, ruri, dialog, 1, [])

    def cancel(self, invite: _Sent) -> _Sent:
        """CANCEL an INVITE: same R-URI, Via (branch), From, To and Call-ID."""
        self.send(
            f"CANCEL {invite.ruri} SIP/2.0\r\n{invite.headers}\r\n"
            f"CSeq: {invite.cseq} CANCEL\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        return _Sent(self, "CANCEL", invite.ruri, invite.headers, invite.cseq, [])
