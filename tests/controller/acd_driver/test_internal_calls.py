"""Internal calls (agent to agent) through the ACD: the callee is reserved, never rung
behind the ACD's back, and the calling agent is out of service for the call.

First the driver's logic against fakes (as in test_driver_logic.py), then every
process real (conftest.py): the calling agent's phone is a sipp UAC that sends what
the edge would (category `internal`, its account in the From user, the callee's in
the R-URI) straight to the replica; tests/integration/test_internal_calls.py takes
the same path through Kamailio, with digest auth and registered phones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from acd_api.v1 import acd_pb2 as pb
from analytics import build_records
from callcenter._stack import controller_argv
from configuration import ConfigError, load_config
from eventlog import CALL_ANSWERED, CALL_ARRIVED, CALL_ENDED, CALL_NO_ANSWER
from simulators import RtpEndpoint, free_port, start_sipp
from testbed import ROOT, Controller, exchange, media_of, track, wait_until
from tests.controller.acd_driver.conftest import (
    CTL_NODE,
    QUEUE,
    Party,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)
from tests.controller.acd_driver.test_driver_logic import CID, World, _config, action, offer

SIPP = ROOT / "sipp"

# ---------------------------------------------------------------- driver logic (fakes)


def _internal_arrives(w: World, caller: str = "1001", callee: str = "1002") -> None:
    w.emit(CALL_ARRIVED, trunk="", caller=caller, dialled=callee, category="internal")
    w.run()


def _reserved_with(*actions: pb.Action) -> Callable[[Any], Message]:
    return lambda request: pb.ReserveForInternalCallResponse(actions=list(actions))


def test_an_internal_call_reserves_the_callee_before_answering_anyone() -> None:
    w = World()
    w.replies["ReserveForInternalCall"] = _reserved_with(offer("5-0", 1002))
    _internal_arrives(w)
    (reserve,) = w.rpcs("ReserveForInternalCall")
    assert (
        reserve.call_id,
        reserve.username,
        reserve.employee_id,
        reserve.calling_agent,
        reserve.caller,
        reserve.category,
        reserve.kind,
    ) == (CID, "1002", 0, "1001", "1001", "internal", pb.CALL_KIND_INTERNAL)
    assert w.rpcs("Enqueue") == []
    # Nothing was answered before the reservation: `connect` answers and rings at once.
    assert [c["cmd"] for c in w.commands] == ["connect"]
    assert w.cmds("connect")[0]["agents"] == ["1002"]
    w.ringing.clear()
    w.emit(CALL_ANSWERED, agent="1002", seat="2", leg_id="L2")
    w.emit(CALL_ENDED, cause="200", side="caller")
    w.run()
    assert [m for m, _ in w.rpcs()] == ["ReserveForInternalCall", "Answered", "Hangup"]


@pytest.mark.parametrize(
    "code",
    [pb.ERROR_CODE_AGENT_NOT_AVAILABLE, pb.ERROR_CODE_NOT_LOGGED_IN, pb.ERROR_CODE_NOT_ON_HOOK],
)
def test_a_refused_reservation_refuses_the_unanswered_caller(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    w = World()
    w.replies["ReserveForInternalCall"] = lambda r: pb.ReserveForInternalCallResponse(
        error=pb.Error(code=code, message="employee 1002 is busy")
    )  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, "controller.acd"):
        _internal_arrives(w)
    name = pb.ErrorCode.Name(code).removeprefix("ERROR_CODE_")  # type: ignore[arg-type]
    # Refused, never answered: 486 when the colleague is busy, else the default 480.
    assert w.commands == [
        {"cmd": "hangup", "cid": w.commands[0]["cid"]}
        | ({"code": 486} if code == pb.ERROR_CODE_AGENT_NOT_AVAILABLE else {})
    ]
    assert dict(w.published[-1].data) == {"cause": f"acd refused:{name}", "side": "system"}
    assert f"refused the internal call from 1001 to 1002 ({name}" in caplog.text
    assert [m for m, _ in w.rpcs()] == ["ReserveForInternalCall"]  # no Abandon after it


def test_an_internal_call_the_callee_does_not_take_ends_with_undelivered() -> None:
    w = World()
    w.replies["ReserveForInternalCall"] = _reserved_with(offer("5-0", 1002))
    w.replies["NoAnswer"] = lambda r: pb.NoAnswerResponse(
        actions=[action("6-0", undelivered=pb.Undelivered(call_id=CID, reason="NO_ANSWER"))]
    )
    _internal_arrives(w)
    w.ringing.clear()
    w.emit(CALL_NO_ANSWER, agent="1002", leg_id="L2")  # e.g. its phone answered 486
    w.run()
    assert dict(w.published[-1].data) == {"cause": "undelivered:NO_ANSWER", "side": "system"}
    assert [m for m, _ in w.rpcs()] == ["ReserveForInternalCall", "NoAnswer"]


def test_the_calling_agent_hanging_up_first_is_an_abandon_and_a_late_one_costs_nothing() -> None:
    w = World()
    w.replies["ReserveForInternalCall"] = _reserved_with(offer("5-0", 1002))
    _internal_arrives(w)
    w.emit(CALL_ENDED, cause="487", side="caller")  # CANCEL while 1002 rings
    w.run()
    assert [m for m, _ in w.rpcs()] == ["ReserveForInternalCall", "Abandon"]

    late = World()
    late.emit(CALL_ARRIVED, trunk="", caller="1001", dialled="1002", category="internal")
    late.emit(CALL_ENDED, cause="487", side="caller")  # before its reservation was sent
    late.run()
    assert late.sent == []


def test_the_reservation_guard_refuses_a_call_the_acd_never_took() -> None:
    w = World()
    w.emit(CALL_ARRIVED, trunk="", caller="1001", dialled="1002", category="internal")
    w.loop.pop(0)()  # the reservation is queued, stuck behind other calls' retries
    ((_, fire),) = w.timers
    fire()
    assert dict(w.published[-1].data) == {"cause": "acd unavailable", "side": "system"}
    w.run()
    assert w.sent == []


def test_with_an_acd_and_no_queue_number_the_replicas_still_get_the_acd(tmp_path: Path) -> None:
    """The edge sends internal calls to the replicas whenever there is an `acd:` section
    (routing/_table.py), so they must be driven by it even with no queue to enqueue in;
    and no number may pass for an internal call."""
    argv = controller_argv(load_config(_config(tmp_path, [])), 0)
    assert "--acd" in argv and "--queue-for" not in argv
    with pytest.raises(ConfigError, match="category internal is reserved"):
        load_config(
            _config(
                tmp_path,
                [
                    {
                        "number": "95598",
                        "category": "internal",
                        "target": "controller",
                        "queue": "billing",
                    }
                ],
            )
        )


# ---------------------------------------------------------------- real processes


@pytest.fixture
def endpoints() -> Iterator[list[RtpEndpoint]]:
    made: list[RtpEndpoint] = []
    yield made
    for endpoint in made:
        endpoint.close()


def _agent_dials(
    rig: Rig,
    controller: Controller,
    endpoints: list[RtpEndpoint],
    cid: str,
    *,
    caller: str = "1001",
    callee: str = "1002",
) -> Party:
    """`caller`'s phone dials `callee` as the edge would hand it over (sipp UAC)."""
    rtp = RtpEndpoint()
    endpoints.append(rtp)
    port = free_port()
    run = track(
        start_sipp(
            f"agent{caller}-dials",
            str(SIPP / "internal_caller.xml"),
            controller.sip,
            workdir=rig.workdir / cid,
            port=port,
            service=callee,
            timeout_s=60,
            keys={"rtp_port": rtp.port, "cid": cid, "category": "internal", "caller": caller},
            extra=["-cid_str", caller_call_id(cid)],
        )
    )
    return Party(run, rtp, port)


def _reason(rig: Rig, name: str) -> str:
    view = rig.agent_view(name)
    return "" if view is None else view.reason


def test_agent_calls_agent_the_acd_reserves_both_and_a_queue_call_goes_to_a_third(
    rig: Rig, endpoints: list[RtpEndpoint]
) -> None:
    """(a) 1001 dials 1002: the ACD reserves 1002 (it rings and answers, RTP both
    ways) and takes 1001 out of service (busy, INTERNAL_CALL). A queue call arriving
    meanwhile skips 1001 (idle the longest before) and 1002 and goes to 1003. After
    the hang-up both are idle at once (an internal call has no wrap-up)."""
    rig.agent_ports["1003"] = free_port()
    agents = rig.agents("1001", "1002", "1003")  # 1001 idle the longest
    callee = rig.phone("1002", "acd_agent", pause_ms=200)
    third = rig.phone("1003", "acd_agent", pause_ms=200)
    cid, queued = new_cid(), new_cid()
    with rig.controller() as controller:
        a = _agent_dials(rig, controller, endpoints, cid)
        (rang,) = callee.run.wait_for_log("CALL", timeout=10)
        assert f"cid={cid}" in rang and "caller=1001" in rang
        a.run.wait_for_log("ANSWERED", timeout=10)  # parked once 1002's phone rings
        bridged = a.wait_bridged()
        rig.wait_agent("1002", "TALKING")
        assert (rig.state_of("1001"), _reason(rig, "1001")) == ("BUSY", "INTERNAL_CALL")
        to_callee, to_caller = exchange(a.rtp, media_of(bridged), callee.rtp, media_of(rang))
        assert to_callee >= 48 and to_caller >= 48, (to_callee, to_caller)

        customer = rig.caller(controller, queued)
        (offered,) = third.run.wait_for_log("CALL", timeout=10)
        assert f"cid={queued}" in offered
        customer.wait_bridged()
        rig.wait_agent("1003", "TALKING")
        trigger(customer, caller_call_id(queued))
        customer.run.wait_for_log("HUNG_UP", timeout=10)

        trigger(a, caller_call_id(cid))
        a.run.wait_for_log("HUNG_UP", timeout=10)
        callee.run.wait_for_log("BYE", timeout=10)
        assert a.run.wait(timeout=10) == 0, a.run.errors()
        assert callee.run.wait(timeout=10) == 0, callee.run.errors()
        rig.wait_agent("1002", "IDLE", timeout=5)
        rig.wait_agent("1001", "IDLE", timeout=5)
        assert _reason(rig, "1001") == "INTERNAL_CALL_ENDED"
        assert rig.client.get_snapshot().queues[0].waiting == 0

    assert [(o.call_id, o.username) for o in agents.offers] == [(cid, "1002"), (queued, "1003")]
    events = rig.ended_events(cid)
    assert calls(events) == [
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
    assert (cdr.disposition, cdr.agent, cdr.queue) == ("answered", "1002", "")
    assert [k for k, _, _ in calls(rig.ended_events(queued))].count("call.answered") == 1
    assert agent_states(rig.events(queued), "1003")[:2] == [
        ("idle", "reserved"),
        ("reserved", "talking"),
    ]


@pytest.mark.parametrize(
    ("callee_state", "code"),
    [
        ("busy", "AGENT_NOT_AVAILABLE"),
        ("logged_out", "NOT_LOGGED_IN"),
        ("talking", "AGENT_NOT_AVAILABLE"),
    ],
)
def test_a_callee_who_cannot_take_the_call_refuses_the_caller_and_nothing_is_left(
    rig: Rig, endpoints: list[RtpEndpoint], callee_state: str, code: str
) -> None:
    """(b) 1002 not ready, not logged in, or on a queue call: the calling agent's INVITE
    is refused (486 busy, 480 not logged in; never answered), 1002's phone does not
    ring for it, 1001 stays idle, and neither the ACD nor the replica keeps anything."""
    callee = rig.phone("1002", "acd_agent", pause_ms=200)
    cid, queued = new_cid(), new_cid()
    with rig.controller() as controller:
        customer = None
        if callee_state == "talking":
            rig.agents("1002")  # alone: the queue call is its
            customer = rig.caller(controller, queued)
            customer.wait_bridged()
            rig.wait_agent("1002", "TALKING")
        elif callee_state == "busy":
            rig.agents("1002", busy=("1002",))
        agents = rig.agents("1001")
        a = _agent_dials(rig, controller, endpoints, cid)
        refusal = "480" if callee_state == "logged_out" else "486"
        a.run.wait_for_log(f"REFUSED code={refusal}", timeout=10)
        assert a.run.wait(timeout=10) == 0, a.run.errors()
        wait_until(
            lambda: cid not in [c["cid"] for c in controller.cmd("calls")],
            timeout=5,
            what="the refused call gone from the replica",
        )
        assert rig.state_of("1001") == "IDLE"
        assert (
            rig.client.get_call_position(pb.GetCallPositionRequest(call_id=cid)).error.code
            == pb.ERROR_CODE_UNKNOWN_CALL
        )
        rings = [line for line in callee.run.log_lines() if line.startswith("CALL")]
        assert all(cid not in line for line in rings), "1002's phone rang for the call"
        if customer is not None:
            trigger(customer, caller_call_id(queued))
            customer.run.wait_for_log("HUNG_UP", timeout=10)
            rig.wait_agent("1002", "WRAP_UP")
    assert calls(rig.ended_events(cid)) == [
        (
            "call.arrived",
            CTL_NODE,
            {"trunk": "", "caller": "1001", "dialled": "1002", "category": "internal"},
        ),
        ("call.ended", CTL_NODE, {"cause": f"acd refused:{code}", "side": "system"}),
    ]
    assert agent_states(rig.events(cid), "1001") == []
    assert agents.offers == []


def test_a_callee_whose_phone_refuses_ends_the_call_and_frees_both(
    rig: Rig, endpoints: list[RtpEndpoint]
) -> None:
    """1002's phone answers 486 (do not disturb): the controller reports NoAnswer, the
    ACD gives the internal call up (Undelivered), the calling agent, already answered
    by then, gets a BYE; both agents are idle again and nothing is left."""
    rig.agents("1001", "1002")
    refusing = rig.phone("1002", "ctl_party_refuses")
    cid = new_cid()
    with rig.controller() as controller:
        a = _agent_dials(rig, controller, endpoints, cid)
        refusing.run.wait_for_log("REFUSED", timeout=10)
        a.run.wait_for_log("BYE", timeout=10)
        assert a.run.wait(timeout=10) == 0, a.run.errors()
        assert refusing.run.wait(timeout=10) == 0, refusing.run.errors()
        rig.wait_agent("1001", "IDLE")
        rig.wait_agent("1002", "IDLE")
        wait_until(
            lambda: controller.cmd("status")["calls"] == 0,
            timeout=5,
            what="no call left in the replica",
        )
    ended = calls(rig.ended_events(cid))
    assert [k for k, _, _ in ended] == [
        "call.arrived",
        "call.ringing",
        "call.no_answer",
        "call.ended",
    ]
    assert ended[-1][2] == {"cause": "undelivered:NO_ANSWER", "side": "system"}
    assert agent_states(rig.events(cid), "1001") == [("idle", "busy"), ("busy", "idle")]
    assert QUEUE not in {e.data.get("queue") for e in rig.events(cid)}
