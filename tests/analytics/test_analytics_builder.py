"""The CDR builder, outcome by outcome and field by field (no I/O)."""

from __future__ import annotations

import random

import pytest

import eventlog as ev
from analytics import CdrBuilder, build_records
from analytics._records import Cdr, Leg
from tests.analytics.analytics_scenarios import T0, Script, agent


def one_cdr(events: list[ev.Event]) -> tuple[Cdr, list[Leg]]:
    records = build_records(events)
    assert len(records.cdrs) == 1
    return records.cdrs[0], sorted(records.legs, key=lambda leg: leg.seq)


def answered_script() -> Script:
    return Script("c-ans")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="main", input="1")(
        3, ev.CALL_IVR_STEP, ivr_node="billing", input="2"
    )(5, ev.CALL_QUEUED)(8, ev.CALL_RINGING)(10, ev.CALL_ANSWERED)(
        10, ev.RECORDING_STARTED, ref="rec/c-ans.pcap"
    )(40, ev.CALL_HOLD)(50, ev.CALL_RESUME)(130, ev.CALL_ENDED, cause="200", side="agent")


def test_answered_call_every_field() -> None:
    events = answered_script().events + agent(
        "a1",
        T0,
        (-100, "idle", ""),
        (8, "reserved", ""),
        (10, "talking", "c-ans"),
        (130, "wrap_up", "c-ans"),
        (145, "idle", ""),
    )
    cdr, legs = one_cdr(sorted(events, key=lambda e: e.ts))
    assert cdr == Cdr(
        correlation_id="c-ans",
        trunk="cmcc-1",
        caller="13800138000",
        dialled="95598",
        category="billing",
        arrived_at=T0,
        queued_at=T0 + 5,
        answered_at=T0 + 10,
        ended_at=T0 + 130,
        queue="billing",
        agent="a1",
        seat="s1",
        ivr_path=("main", "billing"),
        # No call.ivr_done in this log: inferred from the queueing after the last node.
        ivr_result="queued",
        ivr_exit_node="billing",
        wait_s=5.0,
        talk_s=110.0,  # 120 s connected minus 10 s on hold
        hold_s=10.0,
        wrapup_s=15.0,
        disposition="answered",
        hangup_cause="200",
        hangup_side="agent",
        recording_ref="rec/c-ans.pcap",
        transfers=0,
        version=11,  # 10 call events + 1 wrap-up attribution
    )
    (leg,) = legs
    assert (leg.leg_kind, leg.agent, leg.seat, leg.leg_id, leg.attempt) == (
        "ring",
        "a1",
        "s1",
        "L1",
        1,
    )
    assert (leg.started_at, leg.answered_at, leg.ended_at) == (T0 + 8, T0 + 10, T0 + 130)
    assert (leg.outcome, leg.talk_s, leg.hold_s) == ("answered", 110.0, 10.0)


def test_agent_intervals_close_on_each_change() -> None:
    events = answered_script().events + agent(
        "a1",
        T0,
        (-100, "idle", ""),
        (8, "reserved", ""),
        (10, "talking", "c-ans"),
        (130, "wrap_up", "c-ans"),
        (145, "idle", ""),
        (300, "logged_out", ""),
    )
    intervals = build_records(sorted(events, key=lambda e: e.ts)).intervals
    assert [(i.state, i.start - T0, i.end - T0) for i in intervals] == [
        ("idle", -100, 8),
        ("reserved", 8, 10),
        ("talking", 10, 130),
        ("wrap_up", 130, 145),
        ("idle", 145, 300),
    ]
    assert intervals[3].correlation_id == "c-ans"
    assert all(i.seat == "seat-a1" for i in intervals)


def test_abandoned_in_queue() -> None:
    cdr, legs = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(2, ev.CALL_QUEUED)(
            32, ev.CALL_ENDED, cause="487", side="caller"
        ).events
    )
    assert cdr.disposition == "abandoned_queue"
    assert (cdr.queued_at, cdr.answered_at, cdr.ended_at) == (T0 + 2, None, T0 + 32)
    assert (cdr.wait_s, cdr.talk_s, cdr.hold_s, cdr.wrapup_s) == (30.0, 0.0, 0.0, 0.0)
    assert (cdr.agent, cdr.seat, cdr.queue) == ("", "", "billing")
    assert (cdr.hangup_cause, cdr.hangup_side) == ("487", "caller")
    assert legs == []


def test_abandoned_while_ringing() -> None:
    cdr, legs = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(
            5, ev.CALL_RINGING, agent="a2", seat="s2", leg_id="L7"
        )(9, ev.CALL_ENDED, cause="487", side="caller").events
    )
    assert cdr.disposition == "abandoned_ringing"
    assert (cdr.wait_s, cdr.agent, cdr.answered_at) == (8.0, "", None)
    (leg,) = legs
    assert (leg.agent, leg.leg_id, leg.outcome, leg.started_at, leg.ended_at) == (
        "a2",
        "L7",
        "abandoned",
        T0 + 5,
        T0 + 9,
    )
    assert leg.answered_at is None and leg.talk_s == 0.0


def test_ring_no_answer_then_answered_by_next_agent() -> None:
    cdr, legs = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(0, ev.CALL_QUEUED)(
            1, ev.CALL_RINGING, agent="a1", seat="s1", leg_id="L1", attempt=1
        )(16, ev.CALL_NO_ANSWER, agent="a1", leg_id="L1")(
            16.5, ev.CALL_RINGING, agent="a2", seat="s2", leg_id="L2", attempt=2
        )(20, ev.CALL_ANSWERED, agent="a2", seat="s2", leg_id="L2")(
            80, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert cdr.disposition == "answered"
    assert (cdr.agent, cdr.seat, cdr.wait_s, cdr.talk_s) == ("a2", "s2", 20.0, 60.0)
    assert [(x.agent, x.attempt, x.outcome, x.started_at - T0, x.ended_at - T0) for x in legs] == [
        ("a1", 1, "no_answer", 1, 16),
        ("a2", 2, "answered", 16.5, 80),
    ]
    assert legs[1].talk_s == 60.0


def test_blind_transfer_to_another_agent() -> None:
    cdr, legs = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(2, ev.CALL_QUEUED)(4, ev.CALL_RINGING)(
            10, ev.CALL_ANSWERED
        )(70, ev.CALL_TRANSFERRED, from_agent="a1", to_kind="agent", to="a3", mode="blind")(
            70, ev.CALL_RINGING, agent="a3", seat="s3", leg_id="L2", attempt=2
        )(72, ev.CALL_ANSWERED, agent="a3", seat="s3", leg_id="L2")(
            100, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert cdr.disposition == "answered"
    # Talk is the agents' (60 s + 28 s), not the 2 s the caller waited for a3 to answer.
    assert (cdr.agent, cdr.transfers, cdr.wait_s, cdr.talk_s) == ("a1", 1, 8.0, 88.0)
    assert [(x.leg_kind, x.agent, x.outcome, x.talk_s) for x in legs] == [
        ("ring", "a1", "answered", 60.0),
        ("transfer", "a1", "transferred", 0.0),
        ("ring", "a3", "answered", 28.0),
    ]
    assert (legs[1].to_kind, legs[1].to_target, legs[1].mode) == ("agent", "a3", "blind")


def test_overflow_out_of_the_acd() -> None:
    cdr, _ = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(
            61, ev.CALL_OVERFLOW, from_queue="billing", to="+861012345"
        )(120, ev.CALL_ENDED, cause="200", side="system").events
    )
    assert (cdr.disposition, cdr.queue, cdr.wait_s) == ("overflow", "billing", 60.0)


def test_overflow_to_another_queue_then_abandoned_there() -> None:
    cdr, _ = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(
            61, ev.CALL_OVERFLOW, from_queue="billing", to="general"
        )(61, ev.CALL_QUEUED, queue="general")(91, ev.CALL_ENDED, cause="487", side="caller").events
    )
    # The later queue decides; the wait runs from the first time the call queued.
    assert (cdr.disposition, cdr.queue, cdr.wait_s) == ("abandoned_queue", "general", 90.0)


def test_failed_before_any_queue() -> None:
    cdr, _ = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(0.5, ev.CALL_ENDED, cause="503", side="system").events
    )
    assert (cdr.disposition, cdr.queue, cdr.wait_s, cdr.hangup_cause) == ("failed", "", 0.0, "503")


def test_queue_timeout_by_the_system_is_failed_not_abandoned() -> None:
    cdr, _ = one_cdr(
        Script("c")(0, ev.CALL_QUEUED)(300, ev.CALL_ENDED, cause="408", side="system").events
    )
    assert (cdr.disposition, cdr.wait_s) == ("failed", 300.0)


def test_voicemail() -> None:
    cdr, _ = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(31, ev.CALL_VOICEMAIL)(
            90, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert (cdr.disposition, cdr.wait_s, cdr.talk_s, cdr.answered_at) == (
        "voicemail",
        30.0,
        0.0,
        None,
    )


def test_abandoned_in_ivr() -> None:
    cdr, _ = one_cdr(
        Script("c")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="main", input="9")(
            20, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert (cdr.disposition, cdr.ivr_path, cdr.queued_at) == ("abandoned_ivr", ("main",), None)


def test_hang_up_while_on_hold_counts_hold_until_the_end() -> None:
    cdr, legs = one_cdr(
        Script("c")(0, ev.CALL_QUEUED)(1, ev.CALL_ANSWERED)(11, ev.CALL_HOLD)(
            41, ev.CALL_ENDED, side="caller"
        ).events
    )
    assert (cdr.talk_s, cdr.hold_s) == (10.0, 30.0)
    assert (legs[0].talk_s, legs[0].hold_s) == (10.0, 30.0)


def test_order_of_arrival_and_duplicates_do_not_matter() -> None:
    events = answered_script().events
    reference = build_records(events).cdrs
    shuffled = events + events[:4]  # redelivered entries
    random.Random(7).shuffle(shuffled)
    # call.ended must still come last in the stream for the call to be emitted once.
    shuffled.sort(key=lambda e: e.kind == ev.CALL_ENDED)
    assert build_records(shuffled).cdrs == reference


def test_untagged_wrap_up_goes_to_the_agents_last_call_and_re_emits() -> None:
    builder = CdrBuilder()
    for e in answered_script().events:
        builder.add(e)
    first = builder.drain().cdrs[0]
    assert (first.wrapup_s, first.version) == (0.0, 10)
    for e in agent("a1", T0, (130, "wrap_up", ""), (160, "idle", "")):
        builder.add(e)
    second = builder.drain().cdrs[0]
    assert (second.wrapup_s, second.version) == (30.0, 11)
    assert second.correlation_id == first.correlation_id


def test_late_event_re_emits_with_higher_version_and_keeps_sort_key() -> None:
    builder = CdrBuilder()
    script = Script("c")(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(5, ev.CALL_ANSWERED)
    for e in script(60, ev.CALL_ENDED).events:
        builder.add(e)
    first = builder.drain().cdrs[0]
    # A slow node delivers the recording reference and a queue change after the end.
    builder.add(Script("c")(5, ev.RECORDING_STARTED, ref="rec/late.pcap").events[0])
    builder.add(Script("c")(0.5, ev.CALL_QUEUED, queue="vip").events[0])
    late = builder.drain().cdrs[0]
    assert late.recording_ref == "rec/late.pcap"
    assert late.version > first.version
    assert (late.queue, late.arrived_at) == (first.queue, first.arrived_at)


def test_open_calls_and_low_water_mark() -> None:
    builder = CdrBuilder()
    a = Script("a")(0, ev.CALL_ARRIVED).events[0]
    b = Script("b")(1, ev.CALL_ARRIVED).events[0]
    builder.add(a, "5-0")
    builder.add(b, "7-1")
    assert builder.open_calls == 2
    assert builder.low_water_mark() == "5-0"
    builder.add(Script("a")(2, ev.CALL_ENDED).events[0], "9-0")
    assert builder.low_water_mark() == "7-1"
    assert builder.drain().cdrs[0].correlation_id == "a"


@pytest.mark.parametrize("side", ["agent", "system"])
def test_ringing_cancelled_when_not_the_caller_hangs_up(side: str) -> None:
    cdr, legs = one_cdr(
        Script("c")(0, ev.CALL_QUEUED)(1, ev.CALL_RINGING)(3, ev.CALL_ENDED, side=side).events
    )
    assert cdr.disposition == "failed"
    assert legs[0].outcome == "cancelled"
