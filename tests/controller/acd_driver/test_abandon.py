"""The caller leaves before an agent answers: Abandon, and no agent is left reserved."""

from __future__ import annotations

from acd_api.v1 import acd_pb2 as pb
from analytics import build_records
from testbed import wait_until
from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    CTL_NODE,
    OK,
    QUEUE,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)


def test_caller_abandons_while_queued_and_no_agent_is_left_stuck(rig: Rig) -> None:
    """(c) Nobody idle (1001 logged in not ready): the call waits, parked; the caller
    hangs up; the ACD drops the call (a retried Enqueue for it is refused as ended) and
    1001, once ready, is offered nothing."""
    agents = rig.agents("1001", busy=("1001",))
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid)
        caller.run.wait_for_log("ANSWERED", timeout=10)
        wait_until(lambda: rig.queue_view().waiting == 1, timeout=5, what="the call queued")
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        wait_until(lambda: rig.queue_view().waiting == 0, timeout=5, what="the call gone")
        again = rig.client.enqueue(pb.EnqueueRequest(call_id=cid, queue=QUEUE))
        assert again.error.code == pb.ERROR_CODE_CALL_EXISTS, again
        assert "already ended" in again.error.message

        agent = agents.agents[1001]
        ready = rig.client.set_idle(pb.SetIdleRequest(employee_id=1001, session_id=agent.session))
        assert ready.error.code == OK and not ready.actions
        assert rig.state_of("1001") == "IDLE"
        assert rig.agent_view("1001").call_id == ""  # type: ignore[union-attr]
    events = rig.ended_events(cid)
    assert [(k, n, d) for k, n, d in calls(events)] == [
        (
            "call.arrived",
            CTL_NODE,
            {
                "trunk": "",
                "caller": "13912345678",
                "dialled": "95598",
                "category": "electricity-billing",
            },
        ),
        ("call.queued", ACD_NODE, {"queue": QUEUE, "priority": "0"}),
        ("call.ended", CTL_NODE, {"cause": "200", "side": "caller"}),
    ]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.queue) == ("abandoned_queue", QUEUE)
    assert agents.offers == []


def test_caller_abandons_while_an_agent_rings(rig: Rig) -> None:
    """The caller hangs up while 1001's phone rings: the controller cancels the ring,
    the ACD takes the Abandon and puts 1001 back to idle (no no-answer counted)."""
    rig.agents("1001")
    phone = rig.phone("1001", "ctl_agent_noanswer")
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid)
        phone.run.wait_for_log("RANG", timeout=10)
        assert rig.state_of("1001") == "RESERVED"
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        phone.run.wait_for_log("CANCELLED", timeout=10)
        rig.wait_agent("1001", "IDLE")
    events = rig.ended_events(cid)
    assert [k for k, _, _ in calls(events)] == [
        "call.arrived",
        "call.queued",
        "call.ringing",
        "call.ended",
    ]
    assert agent_states(events, "1001") == [("idle", "reserved"), ("reserved", "idle")]
    (cdr,) = build_records(events).cdrs
    assert cdr.disposition == "abandoned_ringing"
