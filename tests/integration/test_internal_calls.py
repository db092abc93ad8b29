"""Internal calls through the edge, a controller replica and the ACD, on real processes.

`callcenter up` from one config with an `acd:` section and a controller replica
(testbed.acd_path_config): an agent's phone (sipp, digest auth, outside
the trunk's network) dials another agent's account at Kamailio; the edge sends it to
the replica (category `internal`), which reserves the callee at the ACD, is answered
when the callee's phone rings (through the edge's registrar), and bridges them.
Without an `acd:` section the edge still rings the callee itself
(tests/integration/test_dialog.py).

Each test checks the SIP each party saw, RTP counted at both phones, the ACD's agent
states, the call event log, and that no call or rtpengine session is left.
"""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics import build_records
from simulators import RtpEndpoint, SippRun, free_port, scenario_path, start_sipp
from testbed import (
    AcdPath,
    acd_path_config,
    agent_states,
    call_events,
    exchange,
    media_of,
    running_acd_path,
    start_phone,
    track,
    wait_until,
)

pytestmark = pytest.mark.integration

AGENTS = ("1001", "1002", "1003")
NUMBER, QUEUE = "95598", "billing"
CTL_NODE = "int-ctl0"
INTERNAL_CALLER = scenario_path("internal_caller_auth")
CUSTOMER = scenario_path("acd_caller")
AGENT_IP = "127.0.0.5"  # the calling phone is an agent, not the trunk (127.0.0.1/32)


@pytest.fixture(scope="module")
def running_path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcdPath]:
    workdir = tmp_path_factory.mktemp("internal")
    config, passwords = acd_path_config(
        workdir,
        AGENTS,
        numbers=[
            {
                "number": NUMBER,
                "category": "electricity-billing",
                "target": "controller",
                "queue": QUEUE,
            }
        ],
        queues=[
            {"name": QUEUE, "skills": {"billing": 1}, "ring_timeout_ms": 4000, "wrap_up_ms": 1000}
        ],
        skills={"billing": 2},
        controller_name=CTL_NODE,
    )
    with running_acd_path(request, workdir, config, passwords) as path:
        yield path


@pytest.fixture
def path(running_path: AcdPath) -> Iterator[AcdPath]:
    with running_path.for_one_test(AGENTS) as path:
        yield path


@pytest.fixture
def rtp() -> Iterator[list[RtpEndpoint]]:
    made: list[RtpEndpoint] = []
    yield made
    for endpoint in made:
        endpoint.close()


class Dialler:
    """A sipp UAC: an agent's phone dialling through the edge, or a carrier's caller."""

    def __init__(
        self, run: SippRun, endpoint: RtpEndpoint, ip: str, port: int, call_id: str
    ) -> None:
        self.run, self.rtp, self.ip, self.port, self.call_id = run, endpoint, ip, port, call_id

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.run.log_lines() if line.startswith(prefix)]

    def hang_up(self) -> None:
        """A MESSAGE in its dialog: the scenario's "hang up now" (acd_caller.xml)."""
        message = (
            f"MESSAGE sip:party@{self.ip}:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{secrets.token_hex(6)}\r\n"
            f"From: <sip:test@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:party@{self.ip}>\r\nCall-ID: {self.call_id}\r\nCSeq: 1 MESSAGE\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), (self.ip, self.port))


def _agent_dials(
    path: AcdPath, workdir: Path, rtp: list[RtpEndpoint], caller: str, callee: str
) -> Dialler:
    endpoint = RtpEndpoint(AGENT_IP)
    rtp.append(endpoint)
    port, call_id = free_port(AGENT_IP), f"agent-{secrets.token_hex(8)}"
    run = track(
        start_sipp(
            f"agent{caller}-dials-{callee}",
            str(INTERNAL_CALLER),
            path.stack.sip,
            workdir=workdir,
            local_ip=AGENT_IP,
            port=port,
            service=callee,
            timeout_s=60,
            auth=(caller, path.stack.passwords[caller]),
            # X-CC-* from a phone: the edge must replace them with its own.
            keys={
                "caller": caller,
                "rtp_port": endpoint.port,
                "cid": "f" * 32,
                "category": "spoofed",
            },
            extra=["-cid_str", call_id],
        )
    )
    return Dialler(run, endpoint, AGENT_IP, port, call_id)


def _customer_calls(path: AcdPath, workdir: Path, rtp: list[RtpEndpoint]) -> Dialler:
    endpoint = RtpEndpoint()
    rtp.append(endpoint)
    port, call_id = free_port(), f"caller-{secrets.token_hex(8)}"
    run = track(
        start_sipp(
            "customer",
            str(CUSTOMER),
            path.stack.sip,
            workdir=workdir,
            port=port,
            service=f"+86{NUMBER}",
            timeout_s=60,
            keys={"rtp_port": endpoint.port, "cid": "f" * 32, "category": "spoofed"},
            extra=["-cid_str", call_id],
        )
    )
    return Dialler(run, endpoint, "127.0.0.1", port, call_id)


def _phone(
    path: AcdPath, workdir: Path, rtp: list[RtpEndpoint], agent: str
) -> tuple[SippRun, RtpEndpoint]:
    endpoint = RtpEndpoint()
    rtp.append(endpoint)
    phone = start_phone(
        path.stack,
        agent,
        workdir=workdir,
        scenario="ctl_via_edge_agent",
        answer_after_ms=100,
        rtp_port=endpoint.port,
    )
    return track(phone.run), endpoint


def _clean(path: AcdPath) -> None:
    def clean() -> bool:
        status = path.control.cmd("status")
        return (status["calls"], status["media_sessions"]) == (
            0,
            0,
        ) and not path.stack.rtpengine_calls()

    wait_until(clean, timeout=8, what="no call in the replica and no rtpengine session")
    log = path.stack.layout.log_file("controller0").read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def _reason(path: AcdPath, agent: str) -> str:
    view = path.agent_view(agent)
    return "" if view is None else view.reason


def test_agent_calls_agent_through_the_edge_and_the_acd(
    path: AcdPath, workdir: Path, rtp: list[RtpEndpoint]
) -> None:
    """(a) 1001's phone dials 1002: challenged, then sent to the replica; the ACD
    reserves 1002, whose registered phone rings through the edge and answers; RTP both
    ways between the two phones. 1001 is busy (INTERNAL_CALL) meanwhile, so a carrier
    call goes to 1003 although 1001 was idle the longest. After the hang-up both are
    idle (no wrap-up for an internal call)."""
    path.log_in("1001", "1002", "1003")
    callee, callee_rtp = _phone(path, workdir, rtp, "1002")
    third, _ = _phone(path, workdir, rtp, "1003")
    a = _agent_dials(path, workdir, rtp, "1001", "1002")
    assert a.run.wait_for_log("CHALLENGED", timeout=10)
    (rang,) = callee.wait_for_log("CALL ", timeout=10)
    cid = re.search(r"cid=([0-9a-f]{32})", rang).group(1)  # type: ignore[union-attr]
    assert cid != "f" * 32 and " caller=1001 " in rang
    assert ";cc=ctl" in rang.partition(" rr=")[2], "the replica's leg, via the edge"
    a.run.wait_for_log("ANSWERED", timeout=10)  # once 1002's phone rang (parked)
    a.run.wait_for_log("SETTLED", timeout=10)  # the bridge's re-INVITE, ACKed
    path.wait_agent("1002", "TALKING")
    assert (path.state_of("1001"), _reason(path, "1001")) == ("BUSY", "INTERNAL_CALL")
    assert path.stack.rtpengine_calls() == [cid]  # the replica's only: none at the edge
    bridged = media_of(a.lines("REINVITE ")[-1])
    to_callee, to_caller = exchange(a.rtp, bridged, callee_rtp, media_of(rang))
    assert to_callee >= 48 and to_caller >= 48, (to_callee, to_caller)

    customer = _customer_calls(path, workdir, rtp)
    (offered,) = third.wait_for_log("CALL ", timeout=10)
    queued = re.search(r"cid=([0-9a-f]{32})", offered).group(1)  # type: ignore[union-attr]
    assert queued != cid and " caller=13912345678 " in offered
    customer.run.wait_for_log("SETTLED", timeout=10)
    path.wait_agent("1003", "TALKING")
    customer.hang_up()
    customer.run.wait_for_log("HUNG_UP", timeout=10)

    a.hang_up()
    a.run.wait_for_log("HUNG_UP", timeout=10)
    assert f"BYE cid={cid}" in callee.wait_for_log("BYE", timeout=10)[0]
    for run in (a.run, callee, customer.run, third):
        assert run.wait(timeout=10) == 0, run.errors()
    path.wait_agent("1002", "IDLE", timeout=5)
    path.wait_agent("1001", "IDLE", timeout=5)
    assert _reason(path, "1001") == "INTERNAL_CALL_ENDED"
    _clean(path)

    log = path.stack.kamailio_log()
    assert re.search(
        rf"cid={cid} trunk= caller=1001 dialled=1002 category=internal "
        r"to controller sip:\S+",
        log,
    )
    assert re.search(rf"cid={cid} controller \S+ leg to agent 1002 at sip:\S+", log)
    events = path.ended_events(cid)
    assert call_events(events) == [
        (
            "call.arrived",
            CTL_NODE,
            {"trunk": "", "caller": "1001", "dialled": "1002", "category": "internal"},
        ),
        ("call.ringing", CTL_NODE, {"agent": "1002", "seat": "2", "leg_id": "L2", "attempt": "1"}),
        ("call.answered", CTL_NODE, {"agent": "1002", "seat": "2", "leg_id": "L2"}),
        ("call.ended", CTL_NODE, {"cause": "200", "side": "caller"}),
    ]
    assert agent_states(events, "1001") == [("idle", "busy"), ("busy", "idle")]
    assert agent_states(events, "1002") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "idle"),
    ]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.agent) == ("answered", "1002")
    assert [e.data["agent"] for e in path.ended_events(queued) if e.kind == "call.answered"] == [
        "1003"
    ]


def test_a_busy_callee_refuses_the_call_with_486_and_nothing_is_left(
    path: AcdPath, workdir: Path, rtp: list[RtpEndpoint]
) -> None:
    """(b) 1002's phone is registered but 1002 is not ready at the ACD: the replica's
    reservation is refused and the calling phone gets 486 through the edge, never an
    answer; 1002's phone never rings; 1001 stays idle; no call or session is left."""
    path.log_in("1001", "1002", busy=("1002",))
    callee, _ = _phone(path, workdir, rtp, "1002")
    mark = path.log_mark()
    a = _agent_dials(path, workdir, rtp, "1001", "1002")
    a.run.wait_for_log("REFUSED code=486", timeout=10)
    assert a.run.wait(timeout=10) == 0, a.run.errors()
    wait_until(lambda: path.arrivals(mark), timeout=5, what="call.arrived in the log")
    (arrived,) = path.arrivals(mark)
    events = path.ended_events(arrived.correlation_id)
    assert [(k, d) for k, _, d in call_events(events)] == [
        (
            "call.arrived",
            {"trunk": "", "caller": "1001", "dialled": "1002", "category": "internal"},
        ),
        ("call.ended", {"cause": "acd refused:AGENT_NOT_AVAILABLE", "side": "system"}),
    ]
    assert path.state_of("1001") == "IDLE" and path.state_of("1002") == "BUSY"
    assert not [line for line in callee.log_lines() if line.startswith("CALL ")]
    callee.stop()
    _clean(path)


def test_a_callee_whose_phone_is_not_registered_gets_480_at_the_edge(
    path: AcdPath, workdir: Path, rtp: list[RtpEndpoint]
) -> None:
    """(b) 1002 is logged in at the ACD but its phone is not registered: the edge
    answers 480 Not Registered itself, so neither the replica nor the ACD hears of the
    call and 1002 is never reserved."""
    path.log_in("1001", "1002")
    mark = path.log_mark()
    a = _agent_dials(path, workdir, rtp, "1001", "1002")
    a.run.wait_for_log("REFUSED code=480", timeout=10)
    assert a.run.wait(timeout=10) == 0, a.run.errors()
    assert re.search(
        r"internal call from 1001: agent 1002 is not registered", path.stack.kamailio_log()
    )
    assert path.arrivals(mark) == []
    assert path.state_of("1001") == "IDLE" and path.state_of("1002") == "IDLE"
    _clean(path)
