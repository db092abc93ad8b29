"""Trunk call -> controller -> Enqueue -> Offer -> the agent's phone rings -> answered.

The path of issue 4, with every process real (conftest.py): the caller and the
agent's phone are sipp parties, the audio goes through rtpengine, the ACD is a
`python -m acdsvc` replica, and what happened is read back from the call event
log and the ACD's snapshot.
"""

from __future__ import annotations

from collections import Counter

import eventlog
from analytics import build_records
from testbed import exchange, media_of, wait_until
from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    CTL_NODE,
    QUEUE,
    WRAP_UP_MS,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)

# The ACD's ticker ends a wrap-up at its deadline, on the clock that stamped its start
# (so never early, beyond float rounding); this bounds how late it may fire on a loaded
# 2-core machine.
WRAP_UP_LATE_S = 0.5


def test_offered_rung_answered_audio_both_ways_then_caller_hangs_up(rig: Rig) -> None:
    """(a) One idle agent: the ACD offers the call, the controller rings the agent's SIP
    user, the agent answers, RTP flows both ways, the caller hangs up; the agent wraps up
    then goes idle in the ACD, and the log has each call event once. A second replica,
    which watches the same actions, does not touch the call."""
    agents = rig.agents("1001")
    phone = rig.phone("1001", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller() as controller, rig.controller(node="ctl-b") as other:
        caller = rig.caller(controller, cid)
        caller.run.wait_for_log("ANSWERED", timeout=10)  # parked at once
        (call,) = phone.run.wait_for_log("CALL", timeout=10)
        assert f"cid={cid}" in call and "caller=13912345678" in call
        phone.run.wait_for_log("ANSWERED", timeout=10)
        bridged = caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        assert rig.agent_view("1001").call_id == cid  # type: ignore[union-attr]

        to_agent, to_caller = exchange(caller.rtp, media_of(bridged), phone.rtp, media_of(call))
        assert to_agent >= 48 and to_caller >= 48, (to_agent, to_caller)

        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        phone.run.wait_for_log("BYE", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        assert phone.run.wait(timeout=10) == 0, phone.run.errors()
        rig.wait_agent("1001", "WRAP_UP", timeout=5)
        rig.wait_agent("1001", "IDLE", timeout=5)
        assert other.cmd("status")["calls"] == 0
        other_log = other.log_text()
    assert cid not in other_log, "the other replica acted on a call it does not own"

    events = rig.ended_events(cid)
    assert calls(events) == [
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
        ("call.ringing", CTL_NODE, {"agent": "1001", "seat": "1", "leg_id": "L2", "attempt": "1"}),
        ("call.answered", CTL_NODE, {"agent": "1001", "seat": "1", "leg_id": "L2"}),
        ("call.ended", CTL_NODE, {"cause": "200", "side": "caller"}),
    ]
    assert agent_states(events, "1001") == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.queue, cdr.hangup_side) == (
        "answered",
        "1001",
        "1",
        QUEUE,
        "caller",
    )

    # The wrap-up's end (agent.state wrap_up -> idle) carries no correlation ID: fold
    # the whole log (this test's alone: the rig flushed Redis), as the CDR service does.
    def whole_log() -> list[eventlog.Event]:
        return [d.event for d in eventlog.replay(rig.r)]

    wait_until(
        lambda: ("wrap_up", "idle") in agent_states(whole_log(), "1001"),
        timeout=5,
        what="1001's wrap_up -> idle in the event log",
    )
    (with_wrap_up,) = [c for c in build_records(whole_log()).cdrs if c.correlation_id == cid]
    configured = WRAP_UP_MS / 1000
    assert configured - 1e-6 <= with_wrap_up.wrapup_s <= configured + WRAP_UP_LATE_S, (
        with_wrap_up.wrapup_s
    )
    assert Counter(o.call_id for o in agents.offers) == {cid: 1}
