"""Actions that reach the controller only through WatchActions, and the ACD's Route."""

from __future__ import annotations

from acd_api.v1 import acd_pb2 as pb
from testbed import wait_until
from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    CTL_NODE,
    OK,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)


def test_a_queued_call_is_offered_when_an_agent_becomes_ready(rig: Rig) -> None:
    """The call waits (1001 not ready); 1001's SetIdle produces the Offer, which no reply
    to the controller carries: it comes through WatchActions, and the phone rings."""
    agents = rig.agents("1001", busy=("1001",))
    phone = rig.phone("1001", "acd_agent")
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid)
        caller.run.wait_for_log("ANSWERED", timeout=10)
        wait_until(lambda: rig.queue_view().waiting == 1, timeout=5, what="the call queued")
        reply = rig.client.set_idle(
            pb.SetIdleRequest(employee_id=1001, session_id=agents.agents[1001].session)
        )
        assert reply.error.code == OK
        assert [a.offer.call_id for a in reply.actions] == [cid]
        phone.run.wait_for_log("ANSWERED", timeout=10)
        caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        rig.wait_agent("1001", "WRAP_UP")
    events = rig.ended_events(cid)
    assert [k for k, _, _ in calls(events)] == [
        "call.arrived",
        "call.queued",
        "call.ringing",
        "call.answered",
        "call.ended",
    ]


def test_the_acd_takes_a_ringing_call_back_and_the_controller_stops_the_ring(rig: Rig) -> None:
    """1001 logs out while the phone rings: the ACD sends CancelRing (no no-answer), the
    controller CANCELs the INVITE and keeps the caller parked; the call is queued again
    until the caller leaves."""
    agents = rig.agents("1001")
    phone = rig.phone("1001", "ctl_agent_noanswer")
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid)
        phone.run.wait_for_log("RANG", timeout=10)
        out = rig.client.logout(
            pb.LogoutRequest(employee_id=1001, session_id=agents.agents[1001].session)
        )
        assert out.error.code == OK
        assert [a.WhichOneof("kind") for a in out.actions] == ["cancel_ring"]
        assert out.actions[0].cancel_ring.username == "1001"
        phone.run.wait_for_log("CANCELLED", timeout=5)
        wait_until(lambda: rig.queue_view().waiting == 1, timeout=5, what="queued again")
        wait_until(
            lambda: (controller.call(cid) or {}).get("state") == "parked",
            timeout=5,
            what="the caller parked again",
        )
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        wait_until(lambda: rig.queue_view().waiting == 0, timeout=5, what="the call gone")
    events = rig.ended_events(cid)
    # The ACD queues the call again as it sends CancelRing; the controller's release of
    # the ringing leg is then a no-answer for the CDR (docs/call-control.md), though the
    # ACD counted none (1001 left, it did not let the call ring out).
    assert [k for k, _, _ in calls(events)] == [
        "call.arrived",
        "call.queued",
        "call.ringing",
        "call.queued",
        "call.no_answer",
        "call.ended",
    ]
    assert agent_states(events, "1001") == [("idle", "reserved"), ("reserved", "logged_out")]
    assert [o.call_id for o in agents.offers] == [cid]


def test_overflow_to_a_target_outside_the_acd_hangs_up_with_the_target_as_cause(rig: Rig) -> None:
    """Queue `sales` overflows at once to `voicemail` (nobody has its skill): the ACD's
    Route comes back in the Enqueue reply; until route targets exist the controller
    hangs up with cause overflow:voicemail, and sends the ACD nothing more."""
    rig.agents("1001")
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid, number="95596")
        caller.run.wait_for_log("BYE", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        wait_until(
            lambda: f"cid={cid} the ACD routes the call to voicemail" in controller.log_text(),
            timeout=5,
            what="the Route logged",
        )
    events = rig.ended_events(cid)
    assert [(k, n, d) for k, n, d in calls(events)][1:] == [
        ("call.queued", ACD_NODE, {"queue": "sales", "priority": "0"}),
        ("call.overflow", ACD_NODE, {"from_queue": "sales", "to": "voicemail"}),
        ("call.ended", CTL_NODE, {"cause": "overflow:voicemail", "side": "system"}),
    ]
    assert "Abandon" not in controller.log_text()
    assert "abandoned at the ACD" not in controller.log_text()
