"""Call delivery (R-AG-3/4), queueing, priority and overflow (R-CORE-4), abandonment, reconcile."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acd import Acd, AgentState, ErrorCode, ManualClock, Offer, QueueConfig, Route
from tests.acd.acd_testkit import kinds, login, rung, sound

BILLING = QueueConfig("billing", skills={"billing": 1}, ring_timeout=15.0)


def test_offer_carries_caller_number_business_category_and_sip_user(acd: Acd) -> None:
    login(acd, 1001, seat=42)
    result = acd.enqueue("c1", "billing", caller="13800138000", category="electricity-bill")
    # username: the account, which is the agent's SIP user that the call controller rings.
    assert result.actions == [
        Offer("c1", 1001, 42, "13800138000", "electricity-bill", "billing", 15.0, "user1001")
    ]
    assert kinds(result) == ["call.queued", "agent.state", "call.ringing"]
    assert acd.agent_state(1001) is AgentState.RESERVED
    sound(acd)


def test_answer_then_hangup_without_wrap_up(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    clock.advance(4)
    answered = acd.answered("c1", 1001)
    assert acd.agent_state(1001) is AgentState.TALKING
    event = answered.events[-1]
    assert (event["kind"], event["agent"], event["wait"]) == ("call.answered", 1001, 4.0)
    clock.advance(100)
    ended = acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.IDLE
    assert ended.events[-1]["kind"] == "call.ended"
    assert ended.events[-1]["talk"] == 100.0
    assert acd.call("c1") is None
    assert acd.agent(1001)["calls"] == 1  # type: ignore[index]
    sound(acd)


def test_answer_refusals(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.enqueue("c1", "billing")  # rings 1001 (longest idle)
    for call, agent, code in [
        ("nope", 1001, ErrorCode.UNKNOWN_CALL),
        ("c1", 1002, ErrorCode.NOT_RINGING),
    ]:
        result = acd.answered(call, agent)
        assert result.error is not None and result.error.code is code
    acd.answered("c1", 1001).raise_for_error()
    again = acd.answered("c1", 1001)
    assert again.error is not None and again.error.code is ErrorCode.CALL_ALREADY_ANSWERED
    late = acd.no_answer("c1", 1001)
    assert late.error is not None and late.error.code is ErrorCode.NOT_RINGING


def test_an_agent_never_holds_two_calls(acd: Acd) -> None:
    login(acd, 1001)
    assert rung(acd.enqueue("c1", "billing")) == [("c1", 1001)]
    assert rung(acd.enqueue("c2", "billing")) == []
    internal = acd.reserve_for_internal_call(1001, "i1")
    assert internal.error is not None and internal.error.code is ErrorCode.AGENT_NOT_AVAILABLE
    sound(acd)


def test_skills_and_levels_decide_who_is_offered(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(QueueConfig("vip", skills={"billing": 4, "english": 1}))
    login(acd, 1001, skills={"billing": 5})  # lacks english
    login(acd, 1002, skills={"billing": 3, "english": 2})  # level too low
    login(acd, 1003, skills={"billing": 4, "english": 1})
    assert rung(acd.enqueue("c1", "vip")) == [("c1", 1003)]


# ------------------------------------------------------------ ring no answer


def test_no_answer_goes_to_the_next_idle_agent(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.enqueue("c1", "billing")
    result = acd.no_answer("c1", 1001)
    assert rung(result) == [("c1", 1002)]
    assert kinds(result)[0] == "call.no_answer"
    assert acd.agent_state(1001) is AgentState.IDLE
    assert acd.agent(1001)["no_answers"] == 1  # type: ignore[index]
    sound(acd)


def test_ring_timeout_is_enforced_by_the_core(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.enqueue("c1", "billing")
    assert acd.next_deadline() == clock.now() + 15
    clock.advance(14.9)
    assert acd.tick().actions == []
    clock.advance(0.1)
    result = acd.tick()
    assert [(a.kind, a.agent, a.username) for a in result.actions] == [
        ("cancel_ring", 1001, "user1001"),
        ("offer", 1002, "user1002"),
    ]


def test_agent_who_let_it_ring_is_asked_again_only_if_nobody_else_is_idle(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    assert rung(acd.no_answer("c1", 1001)) == [("c1", 1001)]  # nobody else: ring again
    login(acd, 1002)
    acd.go_busy(1002, "BREAK")
    result = acd.no_answer("c1", 1001)
    assert rung(result) == [("c1", 1001)]
    assert rung(acd.go_idle(1002)) == []  # 1001 is ringing; the call is not queued


def test_max_no_answers_makes_agent_not_ready(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, max_no_answers=2))
    login(acd, 1001)
    login(acd, 1002)
    acd.go_busy(1002, "BREAK")
    acd.enqueue("c1", "billing")
    acd.no_answer("c1", 1001)  # 1 in a row, rung again: nobody else
    result = acd.no_answer("c1", 1001)  # 2 in a row
    assert acd.agent_state(1001) is AgentState.BUSY
    assert acd.agent(1001)["reason"] == "NO_ANSWER"  # type: ignore[index]
    assert rung(result) == []
    assert acd.waiting("billing") == ["c1"]
    sound(acd)


def test_answering_resets_the_no_answer_count(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, max_no_answers=2))
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.no_answer("c1", 1001)
    acd.answered("c1", 1001)
    acd.hangup("c1")
    acd.enqueue("c2", "billing")
    acd.no_answer("c2", 1001)
    assert acd.agent_state(1001) is AgentState.RESERVED  # only one in a row since the answer


def test_zero_max_no_answers_never_makes_agent_not_ready(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, max_no_answers=0))
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    for _ in range(10):
        acd.no_answer("c1", 1001)
    assert acd.agent_state(1001) is AgentState.RESERVED


# ------------------------------------------------------------ wrap-up


def test_wrap_up_lasts_the_queue_setting_then_idle(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=12))
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    clock.advance(60)
    acd.hangup("c1")
    acd.enqueue("c2", "billing")  # waits: the agent is wrapping up
    assert acd.agent_state(1001) is AgentState.WRAP_UP
    assert acd.next_deadline() == clock.now() + 12
    clock.advance(11.9)
    assert acd.tick().events == []
    clock.advance(0.1)
    result = acd.tick()
    assert [(e["from"], e["to"]) for e in result.events if e["kind"] == "agent.state"] == [
        ("wrap_up", "idle"),
        ("idle", "reserved"),
    ]
    assert rung(result) == [("c2", 1001)]


def test_idle_ends_wrap_up_early(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=60))
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    acd.hangup("c1")
    assert acd.go_idle(1001).ok
    assert acd.agent_state(1001) is AgentState.IDLE


# ------------------------------------------------------------ priority


def test_higher_priority_first_then_fifo(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001, ready=False)
    for call, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 9)]:
        acd.enqueue(call, "billing", priority=priority)
        clock.advance(1)
    assert acd.waiting("billing") == ["e", "b", "d", "a", "c"]
    served = []
    acd.go_idle(1001)
    for _ in range(5):
        call = acd.agent(1001)["call"]  # type: ignore[index]
        served.append(call)
        acd.answered(call, 1001)
        acd.hangup(call)
    assert served == ["e", "b", "d", "a", "c"]


def test_priority_can_be_switched_off_per_queue(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(QueueConfig("fifo", honour_priority=False))
    acd.enqueue("a", "fifo", priority=0)
    acd.enqueue("b", "fifo", priority=9)
    assert acd.waiting("fifo") == ["a", "b"]


def test_agent_in_two_queues_takes_the_most_urgent_call(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(
        QueueConfig("billing", skills={"billing": 1}), QueueConfig("outage", skills={"outage": 1})
    )
    login(acd, 1001, skills={"billing": 1, "outage": 1}, ready=False)
    login(acd, 1002, skills={"outage": 1}, ready=False)  # keeps outage staffed
    acd.enqueue("old-billing", "billing")
    acd.enqueue("new-outage", "outage")
    acd.enqueue("vip-outage", "outage", priority=3)
    assert rung(acd.go_idle(1001)) == [("vip-outage", 1001)]
    acd.no_answer("vip-outage", 1001)
    acd.answered("vip-outage", 1001)
    acd.hangup("vip-outage")
    assert acd.agent(1001)["call"] == "old-billing"  # type: ignore[index]


# ------------------------------------------------------------ overflow


def overflow_config() -> tuple[QueueConfig, ...]:
    return (
        QueueConfig("billing", skills={"billing": 1}, max_wait=60, overflow_queue="general"),
        QueueConfig("general", skills={"general": 1}, max_wait=30, overflow_target="voicemail"),
    )


def test_overflow_after_max_wait(make_acd: Callable[..., Acd], clock: ManualClock) -> None:
    acd = make_acd(*overflow_config())
    login(acd, 1001, skills={"billing": 1}, ready=False)
    login(acd, 1002, skills={"general": 1}, ready=False)
    acd.enqueue("c1", "billing")
    clock.advance(59)
    assert acd.tick().events == []
    clock.advance(1)
    moved = acd.tick()
    assert kinds(moved) == ["call.overflow", "call.queued"]
    assert (moved.events[0]["queue"], moved.events[0]["target"]) == ("billing", "general")
    assert moved.events[0]["reason"] == "MAX_WAIT"
    assert acd.waiting("general") == ["c1"]
    clock.advance(30)
    routed = acd.tick()
    assert routed.actions == [Route("c1", "voicemail", "MAX_WAIT")]
    assert acd.call("c1") is None
    sound(acd)


def test_overflow_at_once_when_no_agent_has_the_skills(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(*overflow_config())
    result = acd.enqueue("c1", "billing")  # nobody logged in anywhere: straight through
    assert [e["target"] for e in result.events if e["kind"] == "call.overflow"] == [
        "general",
        "voicemail",
    ]
    assert result.actions == [Route("c1", "voicemail", "NO_AGENTS")]


def test_busy_agents_count_as_logged_in(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(*overflow_config())
    login(acd, 1001, skills={"billing": 1}, ready=False)
    acd.enqueue("c1", "billing")
    assert acd.waiting("billing") == ["c1"]


def test_overflow_when_the_last_skilled_agent_logs_out(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(*overflow_config())
    login(acd, 1001, skills={"billing": 1}, ready=False)
    login(acd, 1002, skills={"general": 1})
    acd.enqueue("c1", "billing")
    result = acd.logout(1001)
    assert rung(result) == [("c1", 1002)]


def test_overflowed_call_keeps_its_place_by_arrival(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(*overflow_config())
    login(acd, 1001, skills={"billing": 1}, ready=False)
    login(acd, 1002, skills={"general": 1}, ready=False)
    acd.enqueue("early", "billing")
    clock.advance(40)
    acd.enqueue("later", "general")
    clock.advance(20)  # early hits billing's 60 s max wait; later has waited 20 of 30 s
    acd.tick()
    assert acd.waiting("general") == ["early", "later"]


def test_without_overflow_a_call_waits_for_an_agent(acd: Acd, clock: ManualClock) -> None:
    acd.enqueue("c1", "billing")
    clock.advance(3600)
    acd.tick()
    assert acd.waiting("billing") == ["c1"]
    assert rung(login(acd, 1001)) == [("c1", 1001)]


# ------------------------------------------------------------ abandonment


def test_abandon_while_queued(acd: Acd, clock: ManualClock) -> None:
    acd.enqueue("c1", "billing")
    acd.enqueue("c2", "billing")
    clock.advance(25)
    result = acd.hangup("c1")
    assert [(e["kind"], e["where"], e["wait"]) for e in result.events] == [
        ("call.abandoned", "queued", 25.0)
    ]
    assert acd.waiting("billing") == ["c2"]
    assert acd.call("c1") is None
    sound(acd)


def test_abandon_while_ringing_frees_the_agent(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    result = acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.IDLE
    assert [(a.kind, a.agent, getattr(a, "reason", None)) for a in result.actions] == [
        ("cancel_ring", 1001, "HANGUP")
    ]
    assert "call.abandoned" in kinds(result)
    assert acd.agent(1001)["no_answers"] == 0  # type: ignore[index]
    sound(acd)


def test_hangup_of_unknown_call_is_refused(acd: Acd) -> None:
    result = acd.hangup("ghost")
    assert result.error is not None and result.error.code is ErrorCode.UNKNOWN_CALL


@pytest.mark.parametrize(
    ("call", "queue", "priority", "code"),
    [
        ("c1", "nope", 0, ErrorCode.UNKNOWN_QUEUE),
        ("", "billing", 0, ErrorCode.INVALID_ARGUMENT),
        ("c2", "billing", True, ErrorCode.INVALID_ARGUMENT),
        ("dup", "billing", 0, ErrorCode.CALL_EXISTS),
    ],
)
def test_enqueue_refusals(acd: Acd, call: str, queue: str, priority: int, code: ErrorCode) -> None:
    acd.enqueue("dup", "billing").raise_for_error()
    result = acd.enqueue(call, queue, priority=priority)
    assert result.error is not None and result.error.code is code


# ------------------------------------------------------------ reconcile


def test_reconcile_releases_agents_of_vanished_calls(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=30))
    for agent in (1001, 1002, 1003):
        login(acd, agent)
    acd.enqueue("talk-lost", "billing")
    acd.answered("talk-lost", 1001)
    acd.enqueue("ring-lost", "billing")  # rings 1002
    acd.enqueue("alive", "billing")  # rings 1003
    acd.answered("alive", 1003)
    acd.enqueue("ghost", "billing")  # queued, nobody idle
    clock.advance(5)
    result = acd.reconcile({"alive"})
    assert acd.agent_state(1001) is AgentState.IDLE  # no wrap-up after a lost BYE
    assert acd.agent_state(1002) is AgentState.IDLE
    assert acd.agent_state(1003) is AgentState.TALKING
    assert acd.waiting("billing") == []
    assert {e["call"] for e in result.events if e["kind"] in ("call.ended", "call.abandoned")} == {
        "talk-lost",
        "ring-lost",
        "ghost",
    }
    assert {e.get("reason") for e in result.events if e["kind"] == "call.ended"} == {"RECONCILED"}
    sound(acd)


def test_reconcile_keeps_pending_logout(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    acd.logout(1001)
    acd.reconcile(set())
    assert acd.agent_state(1001) is AgentState.LOGGED_OUT


# ------------------------------------------------------------ transfer


def two_queues(make_acd: Callable[..., Acd]) -> Acd:
    acd = make_acd(BILLING, QueueConfig("outage", skills={"outage": 1}, wrap_up=5))
    login(acd, 1001, skills={"billing": 1})
    login(acd, 1002, skills={"outage": 1}, ready=False)
    return acd


def test_blind_transfer_to_queue_goes_to_the_front(make_acd: Callable[..., Acd]) -> None:
    acd = two_queues(make_acd)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    acd.enqueue("waiting", "outage")
    result = acd.transfer("c1", to_queue="outage")
    assert result.ok
    assert kinds(result)[0] == "call.transferred"
    assert acd.agent_state(1001) is AgentState.IDLE  # billing has no wrap-up
    assert acd.waiting("outage") == ["c1", "waiting"]
    assert acd.call("c1")["queue"] == "outage"  # type: ignore[index]
    sound(acd)


def test_transfer_to_back_or_with_priority(make_acd: Callable[..., Acd]) -> None:
    acd = two_queues(make_acd)
    login(acd, 1003, skills={"billing": 1})
    acd.enqueue("w1", "outage")
    acd.enqueue("c1", "billing")
    acd.enqueue("c2", "billing")
    acd.answered("c1", 1001)
    acd.answered("c2", 1003)
    acd.transfer("c1", to_queue="outage", front=False)
    assert acd.waiting("outage") == ["w1", "c1"]
    acd.transfer("c2", to_queue="outage", front=False, priority=7)
    assert acd.waiting("outage") == ["c2", "w1", "c1"]


def test_blind_transfer_to_an_idle_agent(make_acd: Callable[..., Acd]) -> None:
    acd = two_queues(make_acd)
    acd.go_idle(1002)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    result = acd.transfer("c1", to_agent=1002)
    assert rung(result) == [("c1", 1002)]
    assert result.offers()[0].ring_timeout == acd.config.direct_ring_timeout
    acd.answered("c1", 1002).raise_for_error()
    assert acd.agent_state(1002) is AgentState.TALKING
    sound(acd)


def test_transfer_to_agent_not_answered_returns_to_queue_front(
    make_acd: Callable[..., Acd],
) -> None:
    acd = two_queues(make_acd)
    acd.go_idle(1002)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    acd.transfer("c1", to_agent=1002)
    acd.go_busy(1001, "BREAK")
    acd.enqueue("c2", "billing")
    result = acd.no_answer("c1", 1002)
    assert acd.waiting("billing") == ["c1", "c2"]
    assert acd.agent(1002)["no_answers"] == 0  # type: ignore[index] # not a queue offer
    assert rung(result) == []
    sound(acd)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to_queue": "nope"}, ErrorCode.UNKNOWN_QUEUE),
        ({"to_agent": 1002}, ErrorCode.AGENT_NOT_AVAILABLE),  # busy
        ({"to_agent": 1999}, ErrorCode.NOT_LOGGED_IN),
        ({"to_agent": 1001}, ErrorCode.INVALID_ARGUMENT),  # to itself
        ({}, ErrorCode.INVALID_ARGUMENT),
        ({"to_agent": 1002, "to_queue": "outage"}, ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_transfer_refusals(
    make_acd: Callable[..., Acd], kwargs: dict[str, object], code: ErrorCode
) -> None:
    acd = two_queues(make_acd)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    result = acd.transfer("c1", **kwargs)  # type: ignore[arg-type]
    assert result.error is not None and result.error.code is code
    assert acd.agent_state(1001) is AgentState.TALKING


def test_only_answered_calls_can_be_transferred(acd: Acd) -> None:
    acd.enqueue("c1", "billing")
    for call in ("c1", "ghost"):
        result = acd.transfer(call, to_queue="billing")
        assert result.error is not None
        expected = ErrorCode.CALL_NOT_TALKING if call == "c1" else ErrorCode.UNKNOWN_CALL
        assert result.error.code is expected


# ------------------------------------------------------------ internal calls


def test_internal_call_reserves_and_releases_through_the_core(acd: Acd) -> None:
    login(acd, 1001)
    result = acd.reserve_for_internal_call(1001, "i1", caller="8001")
    assert rung(result) == [("i1", 1001)]
    assert acd.agent_state(1001) is AgentState.RESERVED
    assert rung(acd.enqueue("c1", "billing")) == []  # reserved: no queue call on top
    acd.answered("i1", 1001)
    acd.hangup("i1")
    assert acd.agent(1001)["call"] == "c1"  # type: ignore[index] # free again: takes the queue
    sound(acd)


def test_internal_call_not_answered_is_undelivered(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001, role="supervisor")
    acd.reserve_for_internal_call(1001, "i1", kind="intercept").raise_for_error()
    clock.advance(acd.config.direct_ring_timeout)
    result = acd.tick()
    assert [a.kind for a in result.actions] == ["cancel_ring", "undelivered"]
    assert acd.agent_state(1001) is AgentState.IDLE
    assert acd.call("i1") is None


def test_only_a_supervisor_is_reserved_for_an_intercept(acd: Acd) -> None:
    login(acd, 1001)  # as an agent
    refused = acd.reserve_for_internal_call(1001, "i1", kind="intercept")
    assert refused.error is not None and refused.error.code is ErrorCode.PERMISSION_DENIED
    assert "only a supervisor can intercept" in refused.error.message
    assert acd.agent_state(1001) is AgentState.IDLE and acd.call("i1") is None
    acd.reserve_for_internal_call(1001, "i2").raise_for_error()  # an internal call is fine
    sound(acd)


@pytest.mark.parametrize(
    ("agent", "call", "kind", "code"),
    [
        (1999, "i1", "internal", ErrorCode.NOT_LOGGED_IN),
        (1001, "i1", "party", ErrorCode.INVALID_ARGUMENT),
        (1001, "", "internal", ErrorCode.INVALID_ARGUMENT),
        (1001, "dup", "internal", ErrorCode.CALL_EXISTS),
    ],
)
def test_internal_call_refusals(
    acd: Acd, agent: int, call: str, kind: str, code: ErrorCode
) -> None:
    acd.enqueue("dup", "billing")
    login(acd, 1001, ready=False)
    result = acd.reserve_for_internal_call(agent, call, kind=kind)
    assert result.error is not None and result.error.code is code


def test_internal_call_to_busy_agent_is_refused(acd: Acd) -> None:
    login(acd, 1001, ready=False)
    result = acd.reserve_for_internal_call(1001, "i1")
    assert result.error is not None and result.error.code is ErrorCode.AGENT_NOT_AVAILABLE


def test_no_answer_for_unknown_call_is_refused(acd: Acd) -> None:
    result = acd.no_answer("ghost", 1001)
    assert result.error is not None and result.error.code is ErrorCode.UNKNOWN_CALL


def test_transfer_priority_must_be_an_integer(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    result = acd.transfer("c1", to_queue="billing", priority="high")  # type: ignore[arg-type]
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT
