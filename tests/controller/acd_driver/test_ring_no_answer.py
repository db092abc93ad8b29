"""Ring-no-answer: the controller's ring timer, NoAnswer, and the ACD's next Offer."""

from __future__ import annotations

from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    CTL_NODE,
    RING_TIMEOUT_MS,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)


def test_first_agent_does_not_answer_the_next_one_gets_the_offer_and_answers(rig: Rig) -> None:
    """(b) 1001 (idle longest) rings out: the controller cancels at the ACD's ring timeout
    less 0.5 s and reports NoAnswer; the ACD offers 1002 in its reply, who answers."""
    agents = rig.agents("1001", "1002")
    silent = rig.phone("1001", "ctl_agent_noanswer")
    answering = rig.phone("1002", "acd_agent", pause_ms=100)
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid)
        silent.run.wait_for_log("RANG", timeout=10)
        silent.run.wait_for_log("CANCELLED", timeout=RING_TIMEOUT_MS / 1000 + 5)
        assert silent.run.wait(timeout=10) == 0, silent.run.errors()
        answering.run.wait_for_log("ANSWERED", timeout=10)
        caller.wait_bridged()
        rig.wait_agent("1002", "TALKING")
        assert rig.state_of("1001") == "IDLE"  # max_no_answers 0: straight back to idle
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        answering.run.wait_for_log("BYE", timeout=10)
        rig.wait_agent("1002", "WRAP_UP")

    events = rig.ended_events(cid)
    call_events = calls(events)
    assert [(k, n) for k, n, _ in call_events] == [
        ("call.arrived", CTL_NODE),
        ("call.queued", ACD_NODE),
        ("call.ringing", CTL_NODE),
        ("call.no_answer", CTL_NODE),
        ("call.queued", ACD_NODE),  # back at its place in the queue, then offered again
        ("call.ringing", CTL_NODE),
        ("call.answered", CTL_NODE),
        ("call.ended", CTL_NODE),
    ]
    ringing = [d for k, _, d in call_events if k == "call.ringing"]
    assert ringing == [
        {"agent": "1001", "seat": "1", "leg_id": "L2", "attempt": "1"},
        {"agent": "1002", "seat": "2", "leg_id": "L3", "attempt": "2"},
    ]
    assert [d for k, _, d in call_events if k in ("call.no_answer", "call.answered")] == [
        {"agent": "1001", "leg_id": "L2"},
        {"agent": "1002", "seat": "2", "leg_id": "L3"},
    ]
    # The controller's CANCEL reached the ACD before its own ring timer: the ring lasted
    # the controller's 1.5 s, not the ACD's 2 s.
    rung = next(e for e in events if e.kind == "call.ringing")
    missed = next(e for e in events if e.kind == "call.no_answer")
    assert 1.4 <= missed.ts - rung.ts < RING_TIMEOUT_MS / 1000, missed.ts - rung.ts
    assert agent_states(events, "1001") == [("idle", "reserved"), ("reserved", "idle")]
    assert [o.employee_id for o in agents.offers] == [1001, 1002]
