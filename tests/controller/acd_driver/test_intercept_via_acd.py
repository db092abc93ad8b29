"""Consult and intercept on an ACD-driven replica reserve their target at the ACD, and
the internal call's ringback: every process real (conftest.py).

The controller's `consult` and `intercept` commands (from the control socket, as a
desk or a supervisor's tool sends them) first reserve the target with
ReserveForInternalCall under an ID of its own (`<cid>.consult1`, `<cid>.intercept1`):
a target the ACD will not give a call to is refused before anything rings, and a
target that rings cannot be offered a queue call meanwhile. The driver's logic
against fakes is in test_side_reservations.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acd_api.v1 import acd_pb2 as pb
from controller._ringback import RINGBACK_LEVEL_DBFS
from simulators import RtpEndpoint, free_port
from testbed import Controller, exchange, media_of, wait_until
from tests.controller.acd_driver.conftest import (
    CTL_NODE,
    OK,
    QUEUE,
    Party,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)
from tests.controller.acd_driver.test_internal_calls import _agent_dials
from tests.controller.acd_driver.test_queue_media import _ULAW
from tests.controller.acd_driver.test_transfer_via_acd import _settled_media
from tests.controller.call_parties import talk

SUPERVISOR = "1003"  # an account with the queue's skill, logged in: the ACD reserves it


@pytest.fixture
def endpoints() -> Iterator[list[RtpEndpoint]]:
    made: list[RtpEndpoint] = []
    yield made
    for endpoint in made:
        endpoint.close()


def _view(rig: Rig, name: str) -> tuple[str, str]:
    """(state, call_id) of an agent at the ACD."""
    view = rig.agent_view(name)
    if view is None:
        return "LOGGED_OUT", ""
    return pb.AgentState.Name(view.state).removeprefix("AGENT_STATE_"), view.call_id


def _wait_view(rig: Rig, name: str, state: str, call_id: str, timeout: float = 10.0) -> None:
    wait_until(
        lambda: _view(rig, name) == (state, call_id),
        timeout=timeout,
        what=f"agent {name} {state} on {call_id or '-'} (now {_view(rig, name)})",
    )


def _first_media(party: Party, prefix: str = "CALL") -> tuple[str, int]:
    return media_of(party.run.wait_for_log(prefix, timeout=10)[0])


def _talking_with_1001(rig: Rig, controller: Controller, cid: str, agent: Party) -> Party:
    caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
    agent.run.wait_for_log("CALL", timeout=10)
    caller.wait_bridged()
    controller.wait_state(cid, "bridged")
    _wait_view(rig, "1001", "TALKING", cid)
    return caller


def _supervisor_took_over(
    rig: Rig,
    controller: Controller,
    cid: str,
    *,
    caller: Party,
    agent: Party,
    agent_media: tuple[str, int],
    supervisor: Party,
) -> None:
    """The supervisor answered its intercept: 1001 gets BYE and leaves (wrap-up), the
    caller talks with the supervisor and only it (RTP counted at each party), then hangs
    up, and nobody is left reserved."""
    assert agent.run.wait_for_log("BYE", timeout=10)[0] == f"BYE cid={cid} reason="
    controller.wait_state(cid, "bridged")
    _wait_view(rig, SUPERVISOR, "TALKING", f"{cid}.intercept1")
    assert _view(rig, "1001")[0] in ("WRAP_UP", "IDLE")
    talk(
        caller.rtp,
        _settled_media(caller),
        supervisor.rtp,
        media_of(supervisor.run.wait_for_log("REINVITE", timeout=10)[0]),
        released=((agent.rtp, agent_media),),
    )
    assert agent.run.wait(timeout=10) == 0, agent.run.errors()

    trigger(caller, caller_call_id(cid))
    caller.run.wait_for_log("HUNG_UP", timeout=10)
    supervisor.run.wait_for_log("BYE", timeout=10)
    assert supervisor.run.wait(timeout=10) == 0, supervisor.run.errors()
    _no_reservation_left(rig, SUPERVISOR, "1001")


def _no_reservation_left(rig: Rig, *names: str) -> None:
    """Every named agent idle, on no call."""
    for name in names:
        _wait_view(rig, name, "IDLE", "", timeout=10)


def test_intercept_reserves_the_supervisor_who_takes_the_call_the_agent_wraps_up(rig: Rig) -> None:
    """(a) A supervisor intercepts a bridged queue call: reserved at the ACD while its
    phone rings (a queue call arriving meanwhile waits instead of ringing it), caller
    and agent talk on; when it answers the caller hears it and only it, the agent's
    phone gets BYE and the agent wraps up; the supervisor talks, and is idle at once
    when the call ends (an intercept has no wrap-up)."""
    rig.agent_ports[SUPERVISOR] = free_port()
    # 1001 idle the longest: the queue call is its.
    rig.agents("1001", SUPERVISOR, supervisors=(SUPERVISOR,))
    agent = rig.phone("1001", "ctl_party", pause_ms=200)
    # It answers 4 s after its INVITE: time to check the call goes on meanwhile.
    supervisor = rig.phone(SUPERVISOR, "ctl_party", pause_ms=4000)
    cid, other = new_cid(), new_cid()
    rid = f"{cid}.intercept1"
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)
        agent_media = _first_media(agent)
        bridged = _settled_media(caller)

        assert controller.cmd("intercept", cid=cid, agent=SUPERVISOR)["state"] == "intercepting"
        seen = supervisor.run.wait_for_log("CALL", timeout=10)[0]
        assert f"cid={cid}" in seen and f"to={SUPERVISOR}" in seen
        assert _view(rig, SUPERVISOR) == ("RESERVED", rid)
        assert _view(rig, "1001") == ("TALKING", cid)
        # The one-call rule: a queue call now waits rather than ring the supervisor.
        waiting = rig.caller(controller, other)
        wait_until(
            lambda: rig.queue_view().waiting == 1,
            timeout=5,
            what="the second call waits in billing",
        )
        talk(caller.rtp, bridged, agent.rtp, agent_media)  # the call goes on meanwhile
        trigger(waiting, caller_call_id(other))
        waiting.run.wait_for_log("HUNG_UP", timeout=10)

        _supervisor_took_over(
            rig,
            controller,
            cid,
            caller=caller,
            agent=agent,
            agent_media=agent_media,
            supervisor=supervisor,
        )

    events = rig.ended_events(cid)
    assert [(k, d.get("agent") or d.get("mode")) for k, n, d in calls(events) if n == CTL_NODE] == [
        ("call.arrived", None),
        ("call.ringing", "1001"),
        ("call.answered", "1001"),
        ("call.ringing", SUPERVISOR),
        ("call.transferred", "intercept"),
        ("call.answered", SUPERVISOR),
        ("call.ended", None),
    ]
    assert agent_states(events, "1001") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]
    assert agent_states(rig.events(rid), SUPERVISOR) == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "idle"),
    ]


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("busy", "AGENT_NOT_AVAILABLE"),
        ("logged_out", "NOT_LOGGED_IN"),
        ("ringing", "AGENT_NOT_AVAILABLE"),
        ("not_a_supervisor", "PERMISSION_DENIED"),
    ],
)
def test_a_supervisor_the_acd_will_not_reserve_is_refused_and_nothing_changes(
    rig: Rig, how: str, code: str
) -> None:
    """(b) The supervisor is not ready, not logged in, reserved for another intercept, or
    logged in as a plain agent (an intercept is a supervisor's action):
    the command fails with the ACD's reason, its phone never rings, the call stays
    bridged (RTP both ways, nobody re-INVITEd) and nobody's ACD state moves."""
    rig.agent_ports[SUPERVISOR] = free_port()
    rig.agents(
        "1001",
        *(() if how == "logged_out" else (SUPERVISOR,)),
        busy=(SUPERVISOR,) if how == "busy" else (),
        supervisors=() if how == "not_a_supervisor" else (SUPERVISOR,),
    )
    agent = rig.phone("1001", "ctl_party", pause_ms=200)
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)
        before = _view(rig, SUPERVISOR)
        if how == "ringing":
            # Reserved by another desk's intercept (an ID this replica does not own).
            assert (
                rig.client.reserve_for_internal_call(
                    pb.ReserveForInternalCallRequest(
                        call_id="elsewhere.intercept1",
                        username=SUPERVISOR,
                        kind=pb.CALL_KIND_INTERCEPT,
                    )
                ).error.code
                == OK
            )
            before = ("RESERVED", "elsewhere.intercept1")
        reply = controller.try_cmd("intercept", cid=cid, agent=SUPERVISOR)
        assert not reply["ok"]
        assert reply["error"].startswith(
            f"the ACD refused {SUPERVISOR} for the intercept: {code} ("
        ), reply
        assert controller.call(cid)["state"] == "bridged"  # type: ignore[index]
        talk(caller.rtp, _settled_media(caller), agent.rtp, _first_media(agent))
        assert _view(rig, SUPERVISOR) == before and _view(rig, "1001") == ("TALKING", cid)
        assert len(caller.lines("REINVITE ")) == 1, "the caller was never moved"
        if how == "ringing":
            assert (
                rig.client.abandon(pb.AbandonRequest(call_id="elsewhere.intercept1")).error.code
                == OK
            )
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        _wait_view(rig, "1001", "WRAP_UP", "")
    assert [k for k, n, _ in calls(rig.ended_events(cid)) if n == CTL_NODE].count(
        "call.ringing"
    ) == 1


def test_consult_reserves_the_target_talks_completes_and_frees_both(rig: Rig) -> None:
    """(c) 1001 consults 1002: reserved, then talking at the ACD once it answers the
    consult (the caller parked); complete_transfer moves the caller to 1002 (RTP, 1001
    hears and is heard by nobody) and 1001 wraps up; at the end 1002 is idle."""
    rig.agents("1001", "1002")
    agent = rig.phone("1001", "ctl_party", pause_ms=200)
    target = rig.phone("1002", "ctl_party", pause_ms=500)
    cid = new_cid()
    rid = f"{cid}.consult1"
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)
        agent_media = _first_media(agent)
        assert controller.cmd("consult", cid=cid, agent="1002")["state"] == "consult_ringing"
        assert _view(rig, "1002") == ("RESERVED", rid)
        seen = target.run.wait_for_log("CALL", timeout=10)[0]
        assert f"cid={cid}" in seen and "from=1001" in seen  # the consulting agent calls
        controller.wait_state(cid, "consulting")
        _wait_view(rig, "1002", "TALKING", rid)
        assert _view(rig, "1001") == ("TALKING", cid)
        talk(
            agent.rtp,
            media_of(agent.run.wait_for_log("REINVITE", timeout=10)[0]),
            target.rtp,
            media_of(seen),
            released=((caller.rtp, _settled_media(caller)),),
        )

        controller.cmd("complete_transfer", cid=cid)
        assert agent.run.wait_for_log("BYE", timeout=10)[0] == f"BYE cid={cid} reason="
        controller.wait_state(cid, "bridged")
        _wait_view(rig, "1001", "WRAP_UP", "")
        assert _view(rig, "1002") == ("TALKING", rid)
        talk(
            caller.rtp,
            _settled_media(caller),
            target.rtp,
            media_of(target.run.wait_for_log("REINVITE", timeout=10)[-1]),
            released=((agent.rtp, agent_media),),
        )

        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert target.run.wait(timeout=10) == 0, target.run.errors()
        assert agent.run.wait(timeout=10) == 0, agent.run.errors()
        _no_reservation_left(rig, "1002", "1001")

    events = rig.ended_events(cid)
    assert [d.get("mode") for k, _, d in calls(events) if k == "call.transferred"] == ["attended"]
    assert agent_states(rig.events(rid), "1002") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "idle"),
    ]
    assert agent_states(events, "1001")[-1] == ("talking", "wrap_up")


@pytest.mark.parametrize("end", ["cancel_consult", "caller_hangs_up"])
def test_a_consult_that_never_connects_leaves_no_reservation(rig: Rig, end: str) -> None:
    """(d) The target rings and the consult is cancelled (caller back with 1001, RTP), or
    the caller hangs up meanwhile (every leg ends): either way the target is idle at
    the ACD again, and 1001 talks on or wraps up."""
    rig.agents("1001", "1002")
    agent = rig.phone("1001", "ctl_party", pause_ms=200)
    target = rig.phone("1002", "ctl_agent_noanswer")
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)
        agent_media = _first_media(agent)
        controller.cmd("consult", cid=cid, agent="1002")
        assert f"cid={cid}" in target.run.wait_for_log("RANG", timeout=10)[0]
        assert _view(rig, "1002") == ("RESERVED", f"{cid}.consult1")
        if end == "cancel_consult":
            controller.cmd("cancel_consult", cid=cid)
            target.run.wait_for_log("CANCELLED", timeout=10)
            controller.wait_state(cid, "bridged")
            _wait_view(rig, "1002", "IDLE", "")
            assert _view(rig, "1001") == ("TALKING", cid)
            talk(caller.rtp, _settled_media(caller), agent.rtp, agent_media)
        _settled_media(caller)  # parked for the consult: its re-INVITE done first
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert target.run.wait(timeout=10) == 0, target.run.errors()
        _no_reservation_left(rig, "1002", "1001")


def test_the_agent_leaving_for_a_target_who_never_answers_sends_the_caller_back_to_the_queue(
    rig: Rig,
) -> None:
    """(e) Hang up to transfer while the consult target rings, and it never answers:
    the target is freed, the caller goes back to the front of billing (1001 wraps up)
    and the next idle agent, 1003, is offered it and talks with the caller."""
    rig.agent_ports["1003"] = free_port()
    rig.agents("1001", "1003", "1002")
    agent = rig.phone("1001", "acd_agent", pause_ms=200)  # hangs up when told
    target = rig.phone("1002", "ctl_agent_noanswer")
    third = rig.phone("1003", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)
        controller.cmd("consult", cid=cid, agent="1002", ring_timeout_s=2.0)
        target.run.wait_for_log("RANG", timeout=10)
        (call_line,) = agent.lines("CALL")
        trigger(agent, call_line.split("callid=")[1].split()[0])
        agent.run.wait_for_log("HUNG_UP", timeout=10)
        target.run.wait_for_log("CANCELLED", timeout=10)  # its ring time ran out
        (rang,) = third.run.wait_for_log("CALL", timeout=10)
        assert f"cid={cid}" in rang
        controller.wait_state(cid, "bridged")
        _wait_view(rig, "1003", "TALKING", cid)
        assert _view(rig, "1002") == ("IDLE", "")
        assert _view(rig, "1001")[0] in ("WRAP_UP", "IDLE")
        talk(caller.rtp, _settled_media(caller), third.rtp, media_of(rang))
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        _wait_view(rig, "1003", "WRAP_UP", "")
        _no_reservation_left(rig, "1001", "1002")
    events = rig.ended_events(cid)
    assert [(k, d.get("to")) for k, _, d in calls(events) if k == "call.transferred"] == [
        ("call.transferred", "1002"),
        ("call.transferred", QUEUE),
    ]


def _tone_packets(rtp: RtpEndpoint) -> int:
    """Packets of the ringback tone: peaks near its level, well above the hold music."""
    level = 32767 * 10 ** (RINGBACK_LEVEL_DBFS / 20)
    count = 0
    for _, body in list(rtp.received):
        peak = max((abs(_ULAW[b]) for b in body), default=0)
        if 0.8 * level <= peak <= 1.2 * level:
            count += 1
    return count


def test_the_calling_agent_hears_ringback_while_the_callee_rings(
    rig: Rig, workdir: Path, endpoints: list[RtpEndpoint]
) -> None:
    """(f) An internal call: while 1002's phone rings (2 s), 1001 (answered and parked
    by then) hears the 450 Hz ringback tone from rtpengine; once 1002 answers, the tone
    stops and 1001 hears 1002 only."""
    rig.agents("1001", "1002")
    callee = rig.phone("1002", "acd_agent", pause_ms=2000)
    cid = new_cid()
    with rig.controller(
        "--prompt-cache", str(workdir / "prompts"), "--announce-every", "0"
    ) as controller:
        a = _agent_dials(rig, controller, endpoints, cid)
        a.run.wait_for_log("ANSWERED", timeout=10)
        wait_until(
            lambda: _tone_packets(a.rtp) >= 25,
            timeout=5,
            what="half a second of ringback at the calling agent",
        )
        (rang,) = callee.run.wait_for_log("CALL", timeout=10)
        bridged = a.wait_bridged()
        rig.wait_agent("1002", "TALKING")
        a.rtp.received.clear()
        to_callee, to_caller = exchange(a.rtp, media_of(bridged), callee.rtp, media_of(rang))
        assert to_callee >= 48 and to_caller >= 48, (to_callee, to_caller)
        assert len(a.rtp.received) == to_caller, "the ringback stopped at the answer"
        trigger(a, caller_call_id(cid))
        a.run.wait_for_log("HUNG_UP", timeout=10)
        _no_reservation_left(rig, "1001", "1002")


def test_intercept_of_a_ringing_call_frees_the_agent_without_a_no_answer(rig: Rig) -> None:
    """(g) The supervisor intercepts a queue call while 1001's phone rings: 1001's ring
    is cancelled and it is idle at once (no no-answer counted, the call not offered to
    anyone else), the supervisor is reserved, answers and talks with the caller, and is
    idle when the call ends."""
    rig.agent_ports[SUPERVISOR] = free_port()
    rig.agents("1001", SUPERVISOR, supervisors=(SUPERVISOR,))
    agent = rig.phone("1001", "ctl_agent_noanswer")
    supervisor = rig.phone(SUPERVISOR, "ctl_party", pause_ms=200)
    cid = new_cid()
    rid = f"{cid}.intercept1"
    with rig.controller() as controller:
        caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
        assert f"cid={cid}" in agent.run.wait_for_log("RANG", timeout=10)[0]
        # Within the controller's 1.5 s ring (the queue's 2 s less the margin).
        controller.cmd("intercept", cid=cid, agent=SUPERVISOR)
        agent.run.wait_for_log("CANCELLED", timeout=10)
        seen = supervisor.run.wait_for_log("CALL", timeout=10)[0]
        controller.wait_state(cid, "bridged")
        _wait_view(rig, SUPERVISOR, "TALKING", rid)
        assert _view(rig, "1001") == ("IDLE", "")
        view = rig.agent_view("1001")
        assert view is not None and view.reason != "NO_ANSWER"
        talk(caller.rtp, _settled_media(caller), supervisor.rtp, media_of(seen))
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert supervisor.run.wait(timeout=10) == 0, supervisor.run.errors()
        _no_reservation_left(rig, SUPERVISOR, "1001")
    assert [
        (k, d.get("agent"))
        for k, n, d in calls(rig.ended_events(cid))
        if n == CTL_NODE and k in ("call.ringing", "call.no_answer", "call.answered")
    ] == [
        ("call.ringing", "1001"),
        ("call.no_answer", "1001"),
        ("call.ringing", SUPERVISOR),
        ("call.answered", SUPERVISOR),
    ]


@pytest.mark.parametrize("how", ["target_logs_out", "supervisor_refuses"])
def test_a_ring_the_acd_or_the_phone_ends_frees_the_target_and_the_call_goes_on(
    rig: Rig, how: str
) -> None:
    """(h) The consult target logs out while its phone rings (the ACD's CancelRing of
    the reservation: the controller cancels the ring and the caller is back with 1001),
    or the supervisor's phone refuses the intercept (603: a NoAnswer for the
    reservation). Either way the caller and 1001 talk on, and nobody is left reserved."""
    target = "1002" if how == "target_logs_out" else SUPERVISOR
    rig.agent_ports[SUPERVISOR] = free_port()
    agents = rig.agents("1001", target, supervisors=(SUPERVISOR,))
    agent = rig.phone("1001", "ctl_party", pause_ms=200)
    phone = rig.phone(
        target, "ctl_agent_noanswer" if how == "target_logs_out" else "ctl_party_refuses"
    )
    cid = new_cid()
    with rig.controller() as controller:
        caller = _talking_with_1001(rig, controller, cid, agent)
        agent_media = _first_media(agent)
        if how == "target_logs_out":
            controller.cmd("consult", cid=cid, agent=target)
            phone.run.wait_for_log("RANG", timeout=10)
            assert _view(rig, target) == ("RESERVED", f"{cid}.consult1")
            assert (
                rig.client.logout(
                    pb.LogoutRequest(
                        employee_id=int(target), session_id=agents.agents[int(target)].session
                    )
                ).error.code
                == OK
            )
            phone.run.wait_for_log("CANCELLED", timeout=10)
            expected = ("LOGGED_OUT", "")
        else:
            controller.cmd("intercept", cid=cid, agent=target)
            phone.run.wait_for_log("REFUSED", timeout=10)
            expected = ("IDLE", "")
        controller.wait_state(cid, "bridged")
        _wait_view(rig, target, *expected)
        assert _view(rig, "1001") == ("TALKING", cid)
        talk(caller.rtp, _settled_media(caller), agent.rtp, agent_media)
        assert phone.run.wait(timeout=10) == 0, phone.run.errors()
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        _wait_view(rig, "1001", "WRAP_UP", "")
    assert [
        k
        for k, n, _ in calls(rig.ended_events(cid))
        if n == CTL_NODE and k in ("call.ringing", "call.no_answer", "call.answered", "call.ended")
    ][-3:] == ["call.ringing", "call.no_answer", "call.ended"]
