"""Trunk call -> controller -> Enqueue -> Offer -> the agent's phone rings -> answered.

The path of issue 4, with every process real (conftest.py): the caller and the
agent's phone are sipp parties, the audio goes through rtpengine, the ACD is a
`python -m acdsvc` replica, and what happened is read back from the call event
log and the ACD's snapshot.
"""

from __future__ import annotations

from collections import Counter

from analytics import build_records
from tests.acd_control.conftest import (
    ACD_NODE,
    CTL_NODE,
    QUEUE,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)
from tests.controller.harness import exchange, media_of


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
        ("call.arrived", CTL_NODE, {"trunk": "", "caller": "13912345678", "dialled": "95598",
                                    "category": "electricity-billing"}),
        ("call.queued", ACD_NODE, {"queue": QUEUE, "priority": "0"}),
        ("call.ringing", CTL_NODE, {"agent": "1001", "seat": "1", "leg_id": "L2",
                                    "attempt": "1"}),
        ("call.answered", CTL_NODE, {"agent": "1001", "seat": "1", "leg_id": "L2"}),
        ("call.ended", CTL_NODE, {"cause": "200", "side": "caller"}),
    ]
    assert agent_states(events, "1001") == [("idle", "reserved"), ("reserved", "talking"),
                                            ("talking", "wrap_up")]
    (cdr,) = build_records(events).cdrs
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.queue, cdr.hangup_side) == (
        "answered", "1001", "1", QUEUE, "caller")
    assert cdr.wrapup_s == 0.0 or cdr.wrapup_s > 0  # wrap-up ends after the call's events
    assert Counter(o.call_id for o in agents.offers) == {cid: 1}
