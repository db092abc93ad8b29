"""The agent hangs up: Hangup with side agent, and the agent wraps up."""

from __future__ import annotations

from testbed import exchange, media_of
from tests.controller.acd_driver.conftest import (
    CTL_NODE,
    Rig,
    agent_states,
    calls,
    new_cid,
    trigger,
)


def test_agent_hangs_up_the_acd_gets_side_agent_and_the_agent_wraps_up(rig: Rig) -> None:
    """(e) The agent's BYE ends the call (cause 200, side agent); the controller sends
    Hangup(side agent) and the ACD puts the agent in wrap-up, then idle."""
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent")
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid)
        (call,) = phone.run.wait_for_log("CALL", timeout=10)
        phone.run.wait_for_log("ANSWERED", timeout=10)
        bridged = caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        to_agent, to_caller = exchange(caller.rtp, media_of(bridged), phone.rtp, media_of(call))
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)

        trigger(phone, call.split("callid=")[1].split()[0])
        phone.run.wait_for_log("HUNG_UP", timeout=10)
        caller.run.wait_for_log("BYE", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        rig.wait_agent("1001", "WRAP_UP")
        rig.wait_agent("1001", "IDLE")
        assert f"cid={cid} hung up at the ACD (side agent)" in controller.log_text()
    events = rig.ended_events(cid)
    assert calls(events)[-1] == ("call.ended", CTL_NODE, {"cause": "200", "side": "agent"})
    assert agent_states(events, "1001") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]


def test_a_stopping_controller_ends_its_calls_at_the_acd_too(rig: Rig) -> None:
    """SIGTERM while a call talks: the controller ends it (cause shutdown) and sends the
    ACD its Hangup before exiting, so the agent does not stay `talking` there."""
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent")
    cid = new_cid()
    with rig.controller(check_clean=False) as controller:
        caller = rig.caller(controller, cid)
        caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        controller.process.terminate()
        assert controller.process.wait(timeout=10) == 0
        caller.run.wait_for_log("BYE", timeout=10)
        phone.run.wait_for_log("BYE", timeout=10)
    rig.wait_agent("1001", "WRAP_UP", timeout=5)
    assert calls(rig.ended_events(cid))[-1] == (
        "call.ended",
        CTL_NODE,
        {"cause": "shutdown", "side": "system"},
    )
