"""The CDR fold for every outcome, on event sequences as the controller and the ACD
write them today (docs/call-control.md, "Events"; acdsvc/_events.py): the ACD writes
call.queued, call.overflow and its transfers' call.transferred; the controller
call.arrived or call.originated, the rings, answers, holds, its own transfers
(blind, attended, intercept) and call.ended. Each test checks the CDR and its leg rows
field by field (docs/analytics.md)."""

from __future__ import annotations

import eventlog as ev
from analytics import build_records
from analytics._records import Cdr, Leg
from eventlog import Event
from tests.analytics.analytics_scenarios import T0, Script


def fold(events: list[Event]) -> tuple[Cdr, list[Leg]]:
    records = build_records(events)
    (cdr,) = records.cdrs
    return cdr, sorted(records.legs, key=lambda leg: leg.seq)


def ring(agent: str, leg_id: str, attempt: int) -> dict[str, str]:
    return {"agent": agent, "seat": f"s{agent}", "leg_id": leg_id, "attempt": str(attempt)}


def answer(agent: str, leg_id: str) -> dict[str, str]:
    return {"agent": agent, "seat": f"s{agent}", "leg_id": leg_id}


def legs_of(legs: list[Leg]) -> list[tuple[object, ...]]:
    """(kind, agent, attempt, outcome, start, answer, end, talk, hold) relative to T0."""
    return [
        (
            x.leg_kind,
            x.agent,
            x.attempt,
            x.outcome,
            x.started_at - T0,
            None if x.answered_at is None else x.answered_at - T0,
            x.ended_at - T0,
            x.talk_s,
            x.hold_s,
        )
        for x in legs
    ]


def inbound(cid: str = "c") -> Script:
    """An inbound call as the ACD-driven controller starts it: arrived, then queued."""
    return Script(cid)(0, ev.CALL_ARRIVED)(0.5, ev.CALL_QUEUED)


def originated(
    cid: str, agent: str = "1001", number: str = "+8613800138000", caller_id: str = "95598"
) -> Event:
    return Event(
        kind=ev.CALL_ORIGINATED,
        ts=T0,
        correlation_id=cid,
        node="ctl",
        data={"agent": agent, "number": number, "caller_id": caller_id},
    )


# ---------------------------------------------------------------- no transfer


def test_abandoned_in_queue_with_nobody_free() -> None:
    cdr, legs = fold(inbound()(20.5, ev.CALL_ENDED, cause="200", side="caller").events)
    assert cdr == Cdr(
        correlation_id="c",
        trunk="cmcc-1",
        caller="13800138000",
        dialled="95598",
        category="billing",
        arrived_at=T0,
        queued_at=T0 + 0.5,
        answered_at=None,
        ended_at=T0 + 20.5,
        queue="billing",
        agent="",
        seat="",
        ivr_path=(),
        ivr_result="",
        ivr_exit_node="",
        wait_s=20.0,
        talk_s=0.0,
        hold_s=0.0,
        wrapup_s=0.0,
        disposition="abandoned_queue",
        hangup_cause="200",
        hangup_side="caller",
        recording_ref="",
        transfers=0,
        version=3,
    )
    assert legs == []


def test_abandoned_while_the_offered_agent_rings() -> None:
    cdr, legs = fold(
        inbound()(1, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            3, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.wait_s, cdr.talk_s) == (
        "abandoned_ringing",
        "",
        "",
        2.5,
        0.0,
    )
    assert legs_of(legs) == [("ring", "1001", 1, "abandoned", 1, None, 3, 0.0, 0.0)]


def test_no_answer_back_in_the_queue_then_the_next_agent_answers() -> None:
    cdr, legs = fold(
        inbound()(1, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            2.5, ev.CALL_NO_ANSWER, agent="1001", leg_id="L2"
        )(2.5, ev.CALL_QUEUED)(  # the ACD puts it back at its place
            2.75, ev.CALL_RINGING, **ring("1002", "L3", 2)
        )(3, ev.CALL_ANSWERED, **answer("1002", "L3"))(
            13, ev.CALL_ENDED, cause="200", side="agent"
        ).events
    )
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.queued_at) == (
        "answered",
        "1002",
        "s1002",
        T0 + 0.5,
    )
    assert (cdr.wait_s, cdr.talk_s, cdr.hangup_side) == (2.5, 10.0, "agent")
    assert legs_of(legs) == [
        ("ring", "1001", 1, "no_answer", 1, None, 2.5, 0.0, 0.0),
        ("ring", "1002", 2, "answered", 2.75, 3, 13, 10.0, 0.0),
    ]


def test_overflow_at_enqueue_with_nobody_logged_in() -> None:
    """The ACD routes the call away at once; the controller hangs up (no route targets)."""
    cdr, legs = fold(
        inbound()(0.5, ev.CALL_OVERFLOW, from_queue="billing", to="voicemail")(
            0.75, ev.CALL_ENDED, cause="overflow:voicemail", side="system"
        ).events
    )
    assert (cdr.disposition, cdr.queue, cdr.queued_at, cdr.wait_s) == (
        "overflow",
        "billing",
        T0 + 0.5,
        0.0,
    )
    assert (cdr.agent, cdr.answered_at, cdr.talk_s) == ("", None, 0.0)
    assert (cdr.hangup_cause, cdr.hangup_side) == ("overflow:voicemail", "system")
    assert legs == []


def test_overflow_after_max_wait_to_another_queue_answered_there() -> None:
    cdr, legs = fold(
        inbound()(30.5, ev.CALL_OVERFLOW, from_queue="billing", to="general")(
            30.5, ev.CALL_QUEUED, queue="general"
        )(31, ev.CALL_RINGING, **ring("1003", "L2", 1))(
            32, ev.CALL_ANSWERED, **answer("1003", "L2")
        )(42, ev.CALL_ENDED, cause="200", side="caller").events
    )
    # Judged in the queue that took it; the wait runs from the first queue.
    assert (cdr.disposition, cdr.queue, cdr.wait_s, cdr.agent, cdr.talk_s) == (
        "answered",
        "general",
        31.5,
        "1003",
        10.0,
    )
    assert legs_of(legs) == [("ring", "1003", 1, "answered", 31, 32, 42, 10.0, 0.0)]


def test_failed_the_acd_refused_the_call() -> None:
    cdr, legs = fold(
        Script("c")(0, ev.CALL_ARRIVED)(
            0.125, ev.CALL_ENDED, cause="acd refused:UNKNOWN_QUEUE", side="system"
        ).events
    )
    assert (cdr.disposition, cdr.queue, cdr.queued_at, cdr.wait_s) == ("failed", "", None, 0.0)
    assert (cdr.hangup_cause, cdr.hangup_side) == ("acd refused:UNKNOWN_QUEUE", "system")
    assert legs == []


def test_failed_the_agent_leg_answered_without_sdp() -> None:
    """The controller ends the call before any answer: the ring leg is cancelled."""
    cdr, legs = fold(
        inbound()(1, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            1.25, ev.CALL_ENDED, cause="agent answered without SDP", side="system"
        ).events
    )
    assert (cdr.disposition, cdr.agent, cdr.wait_s) == ("failed", "", 0.75)
    assert legs_of(legs) == [("ring", "1001", 1, "cancelled", 1, None, 1.25, 0.0, 0.0)]


def test_failed_internal_call_the_callee_did_not_answer() -> None:
    """The ACD gives an internal call up (Undelivered) when the callee does not answer."""
    cdr, legs = fold(
        Script("c")(
            0, ev.CALL_ARRIVED, trunk="", caller="1001", dialled="1002", category="internal"
        )(0.25, ev.CALL_RINGING, **ring("1002", "L2", 1))(
            4, ev.CALL_NO_ANSWER, agent="1002", leg_id="L2"
        )(4.25, ev.CALL_ENDED, cause="undelivered:NO_ANSWER", side="system").events
    )
    assert (cdr.disposition, cdr.category, cdr.caller, cdr.dialled, cdr.agent) == (
        "failed",
        "internal",
        "1001",
        "1002",
        "",
    )
    assert legs_of(legs) == [("ring", "1002", 1, "no_answer", 0.25, None, 4, 0.0, 0.0)]


# ---------------------------------------------------------------- transfers


def _talking_with_1001() -> Script:
    return inbound()(1, ev.CALL_RINGING, **ring("1001", "L2", 1))(
        2, ev.CALL_ANSWERED, **answer("1001", "L2")
    )


def test_acd_transfer_to_an_agent() -> None:
    """TransferToAgent: the ACD's call.transferred, then the controller rings the Offer."""
    cdr, legs = fold(
        _talking_with_1001()(
            12, ev.CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="1002", mode="blind"
        )(12.25, ev.CALL_RINGING, **ring("1002", "L3", 2))(
            13, ev.CALL_ANSWERED, **answer("1002", "L3")
        )(23, ev.CALL_ENDED, cause="200", side="caller").events
    )
    # The first agent owns the call; talk_s runs from its answer to the end.
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.transfers) == ("answered", "1001", "s1001", 1)
    assert (cdr.wait_s, cdr.talk_s, cdr.hold_s, cdr.answered_at) == (1.5, 20.0, 0.0, T0 + 2)
    assert legs_of(legs) == [
        ("ring", "1001", 1, "answered", 1, 2, 12, 10.0, 0.0),
        ("transfer", "1001", 0, "transferred", 12, None, 12, 0.0, 0.0),
        ("ring", "1002", 2, "answered", 12.25, 13, 23, 10.0, 0.0),
    ]
    assert (legs[1].to_kind, legs[1].to_target, legs[1].mode) == ("agent", "1002", "blind")


def test_acd_transfer_to_a_queue_then_the_caller_leaves_before_an_answer() -> None:
    cdr, legs = fold(
        _talking_with_1001()(
            12, ev.CALL_TRANSFERRED, from_agent="1001", to_kind="queue", to="vip", mode="blind"
        )(12, ev.CALL_QUEUED, queue="vip")(40, ev.CALL_ENDED, cause="200", side="caller").events
    )
    # Answered once is answered; the queue and wait are those of the first answer.
    assert (cdr.disposition, cdr.queue, cdr.wait_s, cdr.agent, cdr.transfers) == (
        "answered",
        "billing",
        1.5,
        "1001",
        1,
    )
    assert legs_of(legs) == [
        ("ring", "1001", 1, "answered", 1, 2, 12, 10.0, 0.0),
        ("transfer", "1001", 0, "transferred", 12, None, 12, 0.0, 0.0),
    ]
    assert (legs[1].to_kind, legs[1].to_target) == ("queue", "vip")


def test_controller_blind_transfer_rings_each_target_in_turn() -> None:
    """The `transfer` command: one call.transferred naming every target, then one ring
    leg per attempt, numbered on from the call's first ring."""
    cdr, legs = fold(
        _talking_with_1001()(
            12,
            ev.CALL_TRANSFERRED,
            from_agent="1001",
            to_kind="agent",
            to="1002,1003",
            mode="blind",
        )(12.25, ev.CALL_RINGING, **ring("1002", "L3", 2))(
            14, ev.CALL_NO_ANSWER, agent="1002", leg_id="L3"
        )(14.25, ev.CALL_RINGING, **ring("1003", "L4", 3))(
            15, ev.CALL_ANSWERED, **answer("1003", "L4")
        )(25, ev.CALL_ENDED, cause="200", side="agent").events
    )
    assert (cdr.disposition, cdr.agent, cdr.transfers, cdr.hangup_side) == (
        "answered",
        "1001",
        1,
        "agent",
    )
    assert legs_of(legs) == [
        ("ring", "1001", 1, "answered", 1, 2, 12, 10.0, 0.0),
        ("transfer", "1001", 0, "transferred", 12, None, 12, 0.0, 0.0),
        ("ring", "1002", 2, "no_answer", 12.25, None, 14, 0.0, 0.0),
        ("ring", "1003", 3, "answered", 14.25, 15, 25, 10.0, 0.0),
    ]
    assert legs[1].to_target == "1002,1003"


def test_attended_transfer_the_consult_counts_as_the_first_agents_hold() -> None:
    """consult: hold + ring of the target; complete_transfer: resume, call.transferred
    (attended), then the target's answer."""
    cdr, legs = fold(
        _talking_with_1001()(10, ev.CALL_HOLD)(10, ev.CALL_RINGING, **ring("1002", "L3", 2))(
            20, ev.CALL_RESUME
        )(20, ev.CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="1002", mode="attended")(
            20, ev.CALL_ANSWERED, **answer("1002", "L3")
        )(30, ev.CALL_ENDED, cause="200", side="caller").events
    )
    assert (cdr.disposition, cdr.agent, cdr.transfers) == ("answered", "1001", 1)
    assert (cdr.talk_s, cdr.hold_s) == (18.0, 10.0)
    assert legs_of(legs) == [
        ("ring", "1001", 1, "answered", 1, 2, 20, 8.0, 10.0),
        ("ring", "1002", 2, "answered", 10, 20, 30, 10.0, 0.0),
        ("transfer", "1001", 0, "transferred", 20, None, 20, 0.0, 0.0),
    ]
    assert legs[2].mode == "attended"


def test_semi_attended_the_agent_hangs_up_while_the_target_rings() -> None:
    """The target rings on for the caller: call.transferred (blind) and resume at the
    agent's hang-up, the target's answer later."""
    cdr, legs = fold(
        _talking_with_1001()(10, ev.CALL_HOLD)(10, ev.CALL_RINGING, **ring("1002", "L3", 2))(
            14, ev.CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="1002", mode="blind"
        )(14, ev.CALL_RESUME)(16, ev.CALL_ANSWERED, **answer("1002", "L3"))(
            26, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    # 1001 talked 8 s (12 s less 4 on hold), 1002 10 s; its 2 s of ringing is no talk.
    assert (cdr.talk_s, cdr.hold_s, cdr.transfers) == (18.0, 4.0, 1)
    assert legs_of(legs) == [
        ("ring", "1001", 1, "answered", 1, 2, 14, 8.0, 4.0),
        ("ring", "1002", 2, "answered", 10, 16, 26, 10.0, 0.0),
        ("transfer", "1001", 0, "transferred", 14, None, 14, 0.0, 0.0),
    ]


def test_cancelled_consult_is_no_transfer() -> None:
    cdr, legs = fold(
        _talking_with_1001()(10, ev.CALL_HOLD)(10, ev.CALL_RINGING, **ring("1002", "L3", 2))(
            13, ev.CALL_NO_ANSWER, agent="1002", leg_id="L3"
        )(13, ev.CALL_RESUME)(22, ev.CALL_ENDED, cause="200", side="caller").events
    )
    assert (cdr.agent, cdr.transfers, cdr.talk_s, cdr.hold_s) == ("1001", 0, 17.0, 3.0)
    assert legs_of(legs) == [
        ("ring", "1001", 1, "answered", 1, 2, 22, 17.0, 3.0),
        ("ring", "1002", 2, "no_answer", 10, None, 13, 0.0, 0.0),
    ]


def test_intercept_of_a_bridged_call() -> None:
    """The supervisor rings while caller and agent talk; on its answer it takes over."""
    cdr, legs = fold(
        _talking_with_1001()(10, ev.CALL_RINGING, **ring("2001", "L3", 2))(
            11, ev.CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="2001", mode="intercept"
        )(11, ev.CALL_ANSWERED, **answer("2001", "L3"))(
            21, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert (cdr.disposition, cdr.agent, cdr.transfers, cdr.talk_s) == ("answered", "1001", 1, 19.0)
    assert legs_of(legs) == [
        ("ring", "1001", 1, "answered", 1, 2, 11, 9.0, 0.0),
        ("ring", "2001", 2, "answered", 10, 11, 21, 10.0, 0.0),
        ("transfer", "1001", 0, "transferred", 11, None, 11, 0.0, 0.0),
    ]
    assert (legs[2].to_kind, legs[2].to_target, legs[2].mode) == ("agent", "2001", "intercept")


def test_intercept_the_supervisor_does_not_answer() -> None:
    cdr, legs = fold(
        _talking_with_1001()(10, ev.CALL_RINGING, **ring("2001", "L3", 2))(
            15, ev.CALL_NO_ANSWER, agent="2001", leg_id="L3"
        )(22, ev.CALL_ENDED, cause="200", side="agent").events
    )
    assert (cdr.agent, cdr.transfers, cdr.talk_s) == ("1001", 0, 20.0)
    assert [(x.agent, x.outcome, x.talk_s) for x in legs] == [
        ("1001", "answered", 20.0),
        ("2001", "no_answer", 0.0),
    ]


def test_intercept_of_a_ringing_call_the_supervisor_owns_it() -> None:
    """No call.transferred: the agent never had the call (its ring ends as no answer)."""
    cdr, legs = fold(
        inbound()(1, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            2, ev.CALL_NO_ANSWER, agent="1001", leg_id="L2"
        )(2, ev.CALL_RINGING, **ring("2001", "L3", 2))(3, ev.CALL_ANSWERED, **answer("2001", "L3"))(
            13, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert (cdr.disposition, cdr.agent, cdr.transfers, cdr.wait_s) == ("answered", "2001", 0, 2.5)
    assert [(x.agent, x.outcome) for x in legs] == [("1001", "no_answer"), ("2001", "answered")]


# ---------------------------------------------------------------- originated (outbound)


def test_originated_call_answered_by_the_customer() -> None:
    """call.answered of the agent is written when the customer is bridged, so the
    answer and talk time are the conversation's."""
    events = [
        originated("o1"),
        *Script("o1")(0.125, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            6, ev.CALL_ANSWERED, **answer("1001", "L2")
        )(36, ev.CALL_ENDED, cause="200", side="caller").events,
    ]
    cdr, legs = fold(events)
    assert cdr == Cdr(
        correlation_id="o1",
        trunk="",
        caller="95598",
        dialled="+8613800138000",
        category="outbound",
        arrived_at=T0,
        queued_at=None,
        answered_at=T0 + 6,
        ended_at=T0 + 36,
        queue="",
        agent="1001",
        seat="s1001",
        ivr_path=(),
        ivr_result="",
        ivr_exit_node="",
        wait_s=0.0,
        talk_s=30.0,
        hold_s=0.0,
        wrapup_s=0.0,
        disposition="answered",
        hangup_cause="200",
        hangup_side="caller",
        recording_ref="",
        transfers=0,
        version=4,
    )
    assert legs_of(legs) == [("ring", "1001", 1, "answered", 0.125, 6, 36, 30.0, 0.0)]


def test_originated_call_the_customer_is_busy() -> None:
    """Not abandoned (the customer never waited for anybody) but failed, and the agent's
    leg is cancelled rather than abandoned; the agent still owns the attempt."""
    events = [
        originated("o2", caller_id=""),
        *Script("o2")(0.125, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            4, ev.CALL_ENDED, cause="486", side="caller"
        ).events,
    ]
    cdr, legs = fold(events)
    assert (cdr.disposition, cdr.agent, cdr.seat, cdr.caller, cdr.category) == (
        "failed",
        "1001",
        "s1001",
        "",
        "outbound",
    )
    assert (cdr.answered_at, cdr.talk_s, cdr.wait_s, cdr.queue) == (None, 0.0, 0.0, "")
    assert (cdr.hangup_cause, cdr.hangup_side) == ("486", "caller")
    assert legs_of(legs) == [("ring", "1001", 1, "cancelled", 0.125, None, 4, 0.0, 0.0)]


def test_originated_call_the_customer_does_not_answer() -> None:
    events = [
        originated("o3"),
        *Script("o3")(0.125, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            21, ev.CALL_ENDED, cause="no answer", side="system"
        ).events,
    ]
    cdr, legs = fold(events)
    assert (cdr.disposition, cdr.agent, cdr.hangup_cause, cdr.hangup_side) == (
        "failed",
        "1001",
        "no answer",
        "system",
    )
    assert [leg.outcome for leg in legs] == ["cancelled"]


def test_originated_call_the_agent_does_not_answer() -> None:
    events = [
        originated("o4"),
        *Script("o4")(0.125, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            20, ev.CALL_NO_ANSWER, agent="1001", leg_id="L2"
        )(20, ev.CALL_ENDED, cause="no answer", side="system").events,
    ]
    cdr, legs = fold(events)
    assert (cdr.disposition, cdr.agent, cdr.answered_at) == ("failed", "1001", None)
    assert legs_of(legs) == [("ring", "1001", 1, "no_answer", 0.125, None, 20, 0.0, 0.0)]


def test_originated_call_answered_then_transferred() -> None:
    """Once bridged an outbound call is like an inbound one: a transfer moves it on."""
    events = [
        originated("o5"),
        *Script("o5")(0.125, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            5, ev.CALL_ANSWERED, **answer("1001", "L2")
        )(15, ev.CALL_TRANSFERRED, from_agent="1001", to_kind="agent", to="1002", mode="blind")(
            15.25, ev.CALL_RINGING, **ring("1002", "L3", 2)
        )(17, ev.CALL_NO_ANSWER, agent="1002", leg_id="L3")(
            25, ev.CALL_ENDED, cause="200", side="caller"
        ).events,
    ]
    cdr, legs = fold(events)
    assert (cdr.disposition, cdr.agent, cdr.transfers, cdr.category) == (
        "answered",
        "1001",
        1,
        "outbound",
    )
    assert [(x.leg_kind, x.agent, x.outcome) for x in legs] == [
        ("ring", "1001", "answered"),
        ("transfer", "1001", "transferred"),
        ("ring", "1002", "no_answer"),
    ]


def test_originated_call_through_the_builder_keeps_its_key_when_late_events_come() -> None:
    events = [
        originated("o6"),
        *Script("o6")(0.125, ev.CALL_RINGING, **ring("1001", "L2", 1))(
            4, ev.CALL_ENDED, cause="486", side="caller"
        ).events,
    ]
    first = build_records(events).cdrs[0]
    # Replayed out of order (call.ended last so that it is emitted once): same CDR.
    again = build_records([events[1], events[0], events[2]]).cdrs[0]
    assert again == first
    assert (first.queue, first.arrived_at) == ("", T0)


def test_every_field_lands_in_its_own_column() -> None:
    # The fold builds Cdr and Leg positionally (hot path): every value here is
    # distinct, so two fields swapped in that call cannot pass unnoticed.
    cdr, legs = fold(
        Script("every")(0, ev.CALL_ARRIVED, trunk="T", caller="C", dialled="D", category="K")(
            1, ev.CALL_IVR_STEP, ivr_node="N"
        )(1.5, ev.CALL_IVR_DONE, ivr_node="X", result="queued")(2, ev.CALL_QUEUED, queue="Q")(
            3, ev.CALL_RINGING, agent="A", seat="S", leg_id="L", attempt=7
        )(5, ev.CALL_ANSWERED, agent="A", seat="S", leg_id="L")(8, ev.CALL_HOLD)(
            9.5, ev.CALL_RESUME
        )(10, ev.RECORDING_STARTED, ref="R")(
            13, ev.CALL_TRANSFERRED, from_agent="A", to_kind="queue", to="Q2", mode="attended"
        )(21, ev.CALL_ENDED, cause="487", side="agent").events
    )
    assert cdr == Cdr(
        correlation_id="every",
        trunk="T",
        caller="C",
        dialled="D",
        category="K",
        arrived_at=T0,
        queued_at=T0 + 2,
        answered_at=T0 + 5,
        ended_at=T0 + 21,
        queue="Q",
        agent="A",
        seat="S",
        ivr_path=("N",),
        ivr_result="queued",
        ivr_exit_node="X",
        wait_s=3.0,
        talk_s=6.5,
        hold_s=1.5,
        wrapup_s=0.0,
        disposition="answered",
        hangup_cause="487",
        hangup_side="agent",
        recording_ref="R",
        transfers=1,
        version=11,
    )
    assert legs == [
        Leg(
            correlation_id="every",
            seq=1,
            leg_kind="ring",
            leg_id="L",
            agent="A",
            seat="S",
            attempt=7,
            started_at=T0 + 3,
            answered_at=T0 + 5,
            ended_at=T0 + 13,
            outcome="answered",
            talk_s=6.5,
            hold_s=1.5,
            to_kind="",
            to_target="",
            mode="",
            version=11,
        ),
        Leg(
            correlation_id="every",
            seq=2,
            leg_kind="transfer",
            leg_id="",
            agent="A",
            seat="",
            attempt=0,
            started_at=T0 + 13,
            answered_at=None,
            ended_at=T0 + 13,
            outcome="transferred",
            talk_s=0.0,
            hold_s=0.0,
            to_kind="queue",
            to_target="Q2",
            mode="attended",
            version=11,
        ),
    ]
