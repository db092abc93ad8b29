"""The whole inbound path: carrier -> Kamailio -> controller -> ACD -> agent's phone.

Everything is a real process on loopback, started by `callcenter up` from one config
(testbed.acd_path_config): Redis, rtpengine, one controller replica
(with `--edge`, `--acd` and `--queue-for`, as `up` builds them), the ACD replica and
Kamailio. Agents log in at the ACD over gRPC with the agent simulator in controller
mode (it heartbeats; the controller reports what the phones did), and their sipp
phones register at Kamailio with digest auth. The carrier is a sipp UAC whose source
is the trunk's.

Each test checks what reached every party (the SIP each sipp logged, RTP counted at
the caller and at the agent), the ACD's snapshot (agent states, queue), the call
event log (one total order, from the controller and the ACD), and that no call and
no rtpengine session is left.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from analytics import build_records
from testbed import (
    CALLER,
    OK,
    AcdPath,
    Party,
    Stack,
    acd_node,
    acd_path_config,
    agent_phone,
    agent_states,
    call_events,
    carrier_call,
    exchange,
    hang_up,
    media_of,
    running_acd_path,
    wait_until,
)

pytestmark = pytest.mark.integration

NUMBER = "95598"  # -> queue billing: nobody answers it by itself, no overflow
OVERFLOW_NUMBER = "95597"  # -> queue outage: overflows to voicemail when nobody can take it
QUEUE = "billing"
OVERFLOW_QUEUE = "outage"
CATEGORY = "electricity-billing"
CTL_NODE = "path-ctl0"
AGENTS = ("1001", "1002")
RING_TIMEOUT_MS = 2000  # the controller rings 1.5 s of it, then tells the ACD NoAnswer
WRAP_UP_MS = 1000
TESTS = Path(__file__).resolve().parents[1]
# A phone that rings and is cancelled, whose 487 carries every Via (see its header).
NO_ANSWER_PHONE = TESTS.parent / "sipp" / "ctl_via_edge_agent_noanswer.xml"


@pytest.fixture(scope="module")
def running_path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AcdPath]:
    """One stack for the module's call-path tests (test_demo.py runs the demo's own)."""
    workdir = tmp_path_factory.mktemp("acdpath")
    config, passwords = acd_path_config(
        workdir,
        AGENTS,
        numbers=[
            {"number": NUMBER, "category": CATEGORY, "target": "controller", "queue": QUEUE},
            {
                "number": OVERFLOW_NUMBER,
                "category": "outage",
                "target": "controller",
                "queue": OVERFLOW_QUEUE,
            },
        ],
        queues=[
            {
                "name": QUEUE,
                "skills": {"billing": 1},
                "strategy": "longest_idle",
                "ring_timeout_ms": RING_TIMEOUT_MS,
                "wrap_up_ms": WRAP_UP_MS,
            },
            {"name": OVERFLOW_QUEUE, "skills": {"billing": 1}, "overflow_target": "voicemail"},
        ],
        skills={"billing": 2},
        controller_name=CTL_NODE,
    )
    with running_acd_path(request, workdir, config, passwords) as path:
        yield path


@pytest.fixture
def path(running_path: AcdPath) -> Iterator[AcdPath]:
    """The stack, with no registration and nobody logged in; left the same way."""
    with running_path.for_one_test(AGENTS) as path:
        yield path


def _new_call(path: AcdPath) -> str:
    cid = str(path.control.wait_new_call()["cid"])
    # The edge replaced the carrier's X-CC-Correlation-ID with its own.
    assert re.fullmatch(r"[0-9a-f]{32}", cid) and cid != "f" * 32, cid
    return cid


def _talk_then_caller_hangs_up(
    path: AcdPath, caller: Party, phone: Party, cid: str, agent: str
) -> None:
    """Bridged: RTP both ways (counted at each party), then the caller's BYE reaches
    the agent through the controller and the edge."""
    seen = phone.run.wait_for_log("CALL ")[-1]
    caller.run.wait_for_log("SETTLED", timeout=10)  # the bridge's re-INVITE, ACKed
    bridged = next(line for line in caller.run.log_lines() if line.startswith("REINVITE "))
    path.wait_agent(agent, "TALKING")
    # One rtpengine call, the controller's (the edge anchors none for these calls).
    assert path.stack.rtpengine_calls() == [cid]
    to_agent, to_caller = exchange(caller.rtp, media_of(bridged), phone.rtp, media_of(seen))
    assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)

    hang_up(caller)
    caller.run.wait_for_log("HUNG_UP", timeout=10)
    assert f"BYE cid={cid}" in phone.run.wait_for_log("BYE", timeout=10)[-1]
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()


# -- (a) answered -----------------------------------------------------------------------
def test_trunk_call_is_queued_offered_to_the_longest_idle_agent_and_answered(
    path: AcdPath,
    workdir: Path,
) -> None:
    """The controller answers and enqueues; the ACD offers the longest-idle agent
    (1002, logged in first); the controller rings 1002's registered phone through
    Kamailio; audio both ways; the caller hangs up; 1002 wraps up, then is idle."""
    agents = path.log_in("1002", "1001")
    phones = {a: agent_phone(path, workdir, a, "ctl_via_edge_agent") for a in AGENTS}
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    caller.run.wait_for_log("ANSWERED", timeout=10)  # parked at once, before any agent

    seen = phones["1002"].run.wait_for_log("CALL ", timeout=10)[0]
    assert f"cid={cid} caller={CALLER} " in seen  # the controller's leg, via the edge
    assert ";cc=ctl" in seen.partition(" rr=")[2], "record-routed as a controller leg"
    assert path.agent_view("1002").call_id == cid  # type: ignore[union-attr]
    assert path.state_of("1001") == "IDLE"
    _talk_then_caller_hangs_up(path, caller, phones["1002"], cid, "1002")
    assert phones["1002"].run.wait(timeout=10) == 0, phones["1002"].run.errors()
    path.wait_agent("1002", "WRAP_UP", timeout=5)
    path.wait_agent("1002", "IDLE", timeout=WRAP_UP_MS / 1000 + 5)
    assert not phones["1001"].run.log_lines(), "1001's phone must not have rung"
    path.wait_clean()

    assert [(o.call_id, o.username, o.ring_timeout_seconds) for o in agents.offers] == [
        (cid, "1002", RING_TIMEOUT_MS / 1000)
    ]
    log = path.stack.kamailio_log()
    assert re.search(rf"cid={cid} controller \S+ leg to agent 1002 at sip:\S+", log), (
        "the controller's leg went through the edge's registrar"
    )
    events = path.ended_events(cid)
    assert call_events(events) == [
        (
            "call.arrived",
            CTL_NODE,
            {"trunk": "", "caller": CALLER, "dialled": NUMBER, "category": CATEGORY},
        ),
        ("call.queued", acd_node(path.stack), {"queue": QUEUE, "priority": "0"}),
        ("call.ringing", CTL_NODE, {"agent": "1002", "seat": "2", "leg_id": "L2", "attempt": "1"}),
        ("call.answered", CTL_NODE, {"agent": "1002", "seat": "2", "leg_id": "L2"}),
        ("call.ended", CTL_NODE, {"cause": "200", "side": "caller"}),
    ]
    assert agent_states(events, "1002") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]
    assert agent_states(events, "1001") == []
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.agent, cdr.queue, cdr.hangup_side) == (
        "answered",
        "1002",
        QUEUE,
        "caller",
    )


# -- (b) ring no answer ------------------------------------------------------------------
def test_first_agent_does_not_answer_and_the_second_gets_the_call(
    path: AcdPath,
    workdir: Path,
) -> None:
    """1001 (idle longest) never picks up: after the queue's ring timeout (less the
    controller's margin) its phone gets CANCEL through the edge, the ACD offers 1002
    in its NoAnswer reply, and 1002's phone rings and answers."""
    agents = path.log_in("1001", "1002")
    silent = agent_phone(path, workdir, "1001", str(NO_ANSWER_PHONE))
    answering = agent_phone(path, workdir, "1002", "ctl_via_edge_agent")
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    assert f"cid={cid} " in silent.run.wait_for_log("RANG", timeout=10)[0]
    silent.run.wait_for_log("CANCELLED", timeout=RING_TIMEOUT_MS / 1000 + 5)
    assert silent.run.wait(timeout=10) == 0, silent.run.errors()
    assert f"cid={cid} caller={CALLER} " in answering.run.wait_for_log("CALL ", timeout=10)[0]
    _talk_then_caller_hangs_up(path, caller, answering, cid, "1002")
    assert answering.run.wait(timeout=10) == 0, answering.run.errors()
    assert path.state_of("1001") == "IDLE"  # one no-answer of max_no_answers 3
    path.wait_agent("1002", "WRAP_UP", timeout=5)
    path.wait_agent("1002", "IDLE", timeout=WRAP_UP_MS / 1000 + 5)
    path.wait_clean()

    assert [o.username for o in agents.offers] == ["1001", "1002"]
    events = path.ended_events(cid)
    acd = acd_node(path.stack)
    assert [(k, n) for k, n, _ in call_events(events)] == [
        ("call.arrived", CTL_NODE),
        ("call.queued", acd),
        ("call.ringing", CTL_NODE),
        ("call.no_answer", CTL_NODE),
        ("call.queued", acd),  # back at its place in the queue, then offered again
        ("call.ringing", CTL_NODE),
        ("call.answered", CTL_NODE),
        ("call.ended", CTL_NODE),
    ]
    fields = [
        (k, d)
        for k, _, d in call_events(events)
        if k in ("call.ringing", "call.no_answer", "call.answered")
    ]
    assert fields == [
        ("call.ringing", {"agent": "1001", "seat": "1", "leg_id": "L2", "attempt": "1"}),
        ("call.no_answer", {"agent": "1001", "leg_id": "L2"}),
        ("call.ringing", {"agent": "1002", "seat": "2", "leg_id": "L3", "attempt": "2"}),
        ("call.answered", {"agent": "1002", "seat": "2", "leg_id": "L3"}),
    ]
    # The controller's own ring timer (the queue's 2 s less 0.5 s) ended the ring.
    rung = next(e for e in events if e.kind == "call.ringing")
    missed = next(e for e in events if e.kind == "call.no_answer")
    assert 1.4 <= missed.ts - rung.ts < RING_TIMEOUT_MS / 1000, missed.ts - rung.ts
    assert agent_states(events, "1001") == [("idle", "reserved"), ("reserved", "idle")]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.agent) == ("answered", "1002")


# -- (c) nobody logged in ----------------------------------------------------------------
def test_call_waits_with_nobody_logged_in_and_the_caller_abandons_cleanly(
    path: AcdPath,
    workdir: Path,
) -> None:
    """billing has no overflow: with nobody logged in the call waits, parked. The
    caller hangs up: the ACD drops the call (abandoned in the queue), and an agent who
    then becomes ready is offered nothing."""
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    caller.run.wait_for_log("ANSWERED", timeout=10)
    wait_until(
        lambda: path.queue_view(QUEUE).waiting == 1, timeout=5, what="the call waits in billing"
    )
    assert path.control.call(cid)["state"] == "parked"  # type: ignore[index]
    assert path.stack.rtpengine_calls() == [cid]
    hang_up(caller)
    caller.run.wait_for_log("HUNG_UP", timeout=10)
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    wait_until(
        lambda: path.queue_view(QUEUE).waiting == 0,
        timeout=5,
        what="the abandoned call leaves billing",
    )
    path.wait_clean()

    # Logged in not ready, then ready: SetIdle's own commit would carry an Offer for a
    # waiting call, so its reply proves nothing is left to offer.
    agents = path.log_in("1001", busy=("1001",))
    ready = path.acd.set_idle(
        pb.SetIdleRequest(employee_id=1001, session_id=agents.agents[1001].session)
    )
    assert ready.error.code == OK and not ready.actions, ready
    assert path.state_of("1001") == "IDLE"
    assert path.agent_view("1001").call_id == ""  # type: ignore[union-attr]

    events = path.ended_events(cid)
    assert call_events(events) == [
        (
            "call.arrived",
            CTL_NODE,
            {"trunk": "", "caller": CALLER, "dialled": NUMBER, "category": CATEGORY},
        ),
        ("call.queued", acd_node(path.stack), {"queue": QUEUE, "priority": "0"}),
        ("call.ended", CTL_NODE, {"cause": "200", "side": "caller"}),
    ]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.queue) == ("abandoned_queue", QUEUE)
    assert agents.offers == []


def test_queue_with_an_overflow_target_and_nobody_logged_in_routes_at_once(
    path: AcdPath,
    workdir: Path,
) -> None:
    """outage overflows to voicemail when nobody who could take it is logged in: the
    ACD routes the call away at Enqueue, and the controller, which has no route
    targets yet, hangs the caller up with cause overflow:voicemail."""
    mark = path.log_mark()
    caller = carrier_call(path, workdir, OVERFLOW_NUMBER)
    caller.run.wait_for_log("BYE", timeout=10)
    # The call lasts a few ms: its ID comes from the log, not from the replica's calls.
    wait_until(lambda: path.arrivals(mark), timeout=5, what="call.arrived in the log")
    (arrived,) = path.arrivals(mark)
    cid = arrived.correlation_id
    assert caller.run.wait(timeout=10) == 0, caller.run.errors()
    path.wait_clean()
    assert path.queue_view(OVERFLOW_QUEUE).waiting == 0

    events = path.ended_events(cid)
    assert call_events(events) == [
        (
            "call.arrived",
            CTL_NODE,
            {"trunk": "", "caller": CALLER, "dialled": OVERFLOW_NUMBER, "category": "outage"},
        ),
        ("call.queued", acd_node(path.stack), {"queue": OVERFLOW_QUEUE, "priority": "0"}),
        ("call.overflow", acd_node(path.stack), {"from_queue": OVERFLOW_QUEUE, "to": "voicemail"}),
        ("call.ended", CTL_NODE, {"cause": "overflow:voicemail", "side": "system"}),
    ]


# -- the service token --------------------------------------------------------------------
def test_up_generates_a_private_token_and_the_acd_refuses_calls_without_it(path: AcdPath) -> None:
    """`callcenter up` made the token (0600) and gave it to the controller, whose feed is
    subscribed (the fixture waited for it); a peer without it cannot enqueue or watch."""
    token_file = path.stack.layout.acd_token
    assert token_file.stat().st_mode & 0o777 == 0o600
    runtime = json.loads(path.stack.layout.runtime_config.read_text())
    assert runtime["acd"]["token_file"] == str(token_file.resolve())
    assert path.stack.acd_token is not None
    assert path.stack.acd_token not in " ".join(
        Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ") for pid in _pids(path.stack)
    )  # a file path on the command lines, never the token
    stranger = AcdClient(path.stack.config.acd.listen, retry_for=0)  # type: ignore[union-attr]
    try:
        with pytest.raises(grpc.RpcError) as refused:
            stranger.enqueue(pb.EnqueueRequest(call_id="stranger-1", queue=QUEUE))
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        stranger.close()
    assert all(q.waiting == 0 for q in path.acd.get_snapshot().queues)


def _pids(stack: Stack) -> list[int]:
    return [
        int(p.read_text())
        for p in stack.layout.pids.glob("*.pid")
        if Path(f"/proc/{p.read_text().strip()}").exists()
    ]
