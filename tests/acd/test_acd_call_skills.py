"""A call's own skill requirements (`enqueue(skills=...)`, the IVR's "queue with skill"):
an agent is offered the call only if it has the queue's skills and the call's."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from acd import BUILTIN_STRATEGIES, Acd, ErrorCode, ManualClock, QueueConfig, Route
from tests.acd.acd_testkit import default_config, login, rung, sound

ENGLISH = {"english": 1}


def queue(strategy: str = "longest_idle", **kwargs: object) -> QueueConfig:
    return QueueConfig("q", skills={"billing": 1}, strategy=strategy, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", sorted(BUILTIN_STRATEGIES))
def test_every_strategy_offers_the_call_only_to_agents_with_its_skills(
    strategy: str, make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    """1001 is idle the longest, has the lowest ID and as much billing as 1002: every
    strategy would pick it (or, ring_all, ring it too), but it has no English."""
    acd = make_acd(queue(strategy))
    login(acd, 1001, skills={"billing": 5})
    clock.advance(1)
    login(acd, 1002, skills={"billing": 5, "english": 2})
    clock.advance(1)
    assert rung(acd.enqueue("c1", "q", skills=ENGLISH)) == [("c1", 1002)]
    assert rung(acd.enqueue("c2", "q")) == [("c2", 1001)]
    sound(acd)


def test_the_level_counts_and_the_queue_skills_still_apply(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue())
    login(acd, 1001, skills={"billing": 5, "english": 2})  # English too low
    login(acd, 1002, skills={"english": 5})  # not in the queue at all
    assert rung(acd.enqueue("c1", "q", skills={"english": 3})) == []
    assert acd.waiting("q") == ["c1"]
    clock.advance(1)
    assert rung(login(acd, 1003, skills={"billing": 1, "english": 3})) == [("c1", 1003)]
    sound(acd)


def test_a_call_nobody_idle_can_take_does_not_hold_up_the_calls_behind_it(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue())
    login(acd, 1001, skills={"billing": 5})
    login(acd, 1002, skills={"billing": 5, "english": 1}, ready=False)
    acd.go_busy(1001, "BREAK")
    acd.enqueue("english", "q", skills=ENGLISH, priority=5)
    acd.enqueue("plain", "q")
    assert acd.waiting("q") == ["english", "plain"]
    # 1001 comes back: it cannot take the first call, so it takes the second.
    assert rung(acd.go_idle(1001)) == [("plain", 1001)]
    position = acd.call_position("english")
    assert position is not None
    assert (position["position"], position["priority"], position["skills"]) == (1, 5, ENGLISH)
    clock.advance(1)
    assert rung(acd.go_idle(1002)) == [("english", 1002)]
    sound(acd)


def test_across_queues_the_most_urgent_call_an_agent_can_take_comes_first(
    make_acd: Callable[..., Acd],
) -> None:
    acd = make_acd(
        QueueConfig("a", skills={"billing": 1}),
        QueueConfig("b", skills={"billing": 1}),
    )
    login(acd, 1001, skills={"billing": 5}, ready=False)
    acd.enqueue("a-english", "a", skills=ENGLISH, priority=9)
    acd.enqueue("a-plain", "a", priority=1)
    acd.enqueue("b-plain", "b", priority=3)
    assert rung(acd.go_idle(1001)) == [("b-plain", 1001)]
    sound(acd)


def test_skill_level_first_ranks_by_the_call_skills_too(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue("skill_level_first"))
    login(acd, 1001, skills={"billing": 2, "english": 1})
    login(acd, 1002, skills={"billing": 1, "english": 4})
    # Billing alone: 1001 (2 against 1).
    assert rung(acd.enqueue("plain", "q")) == [("plain", 1001)]
    acd.answered("plain", 1001).raise_for_error()
    acd.hangup("plain").raise_for_error()
    clock.advance(1)
    # Billing and English: 1002 (5 against 3), although 1001 is idle too.
    assert rung(acd.enqueue("english", "q", skills=ENGLISH)) == [("english", 1002)]
    sound(acd)


def test_ring_no_answer_moves_on_to_another_agent_with_the_skills(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue())
    login(acd, 1001, skills={"billing": 5})
    clock.advance(1)
    login(acd, 1002, skills={"billing": 5, "english": 1})
    clock.advance(1)
    login(acd, 1003, skills={"billing": 5, "english": 1})
    assert rung(acd.enqueue("c1", "q", skills=ENGLISH)) == [("c1", 1002)]
    assert rung(acd.no_answer("c1", 1002)) == [("c1", 1003)]
    assert rung(acd.no_answer("c1", 1003)) == [("c1", 1002)]  # asked again before 1001
    sound(acd)


def test_a_call_nobody_logged_in_can_take_overflows_at_once(
    make_acd: Callable[..., Acd],
) -> None:
    acd = make_acd(queue(overflow_target="voicemail"))
    login(acd, 1001, skills={"billing": 5}, ready=False)
    login(acd, 1002, skills={"billing": 5, "french": 1}, ready=False)
    first = acd.enqueue("german", "q", skills={"german": 1})
    assert first.actions == [Route("german", "voicemail", "NO_AGENTS")]
    assert acd.enqueue("french", "q", skills={"french": 1}).actions == []
    acd.enqueue("plain", "q")
    # The only French speaker leaves: its call overflows, the plain one keeps waiting.
    assert acd.logout(1002).actions == [Route("french", "voicemail", "NO_AGENTS")]
    assert acd.waiting("q") == ["plain"]
    sound(acd)


def test_a_transferred_call_keeps_its_skills(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue(wrap_up=30))  # the transferring agent is not idle at once
    login(acd, 1002, skills={"billing": 5, "english": 1})
    acd.enqueue("c1", "q", skills=ENGLISH)
    acd.answered("c1", 1002).raise_for_error()
    login(acd, 1001, skills={"billing": 5})
    result = acd.transfer("c1", to_queue="q")
    assert rung(result) == []  # 1001 is idle, but has no English
    assert acd.waiting("q") == ["c1"]
    assert (acd.call("c1") or {})["skills"] == ENGLISH
    sound(acd)


@pytest.mark.parametrize(
    ("skills", "message"),
    [
        ({"": 1}, "a skill name is 1..64 characters"),
        ({"x" * 65: 1}, "a skill name is 1..64 characters"),
        ({"english": 0}, "needs an integer level >= 1"),
        ({"english": True}, "needs an integer level >= 1"),
        ({"english": "2"}, "needs an integer level >= 1"),
        ({f"s{n}": 1 for n in range(17)}, "at most 16 skills"),
    ],
)
def test_unusable_skills_are_refused_and_change_nothing(
    acd: Acd, skills: dict[str, object], message: str
) -> None:
    login(acd, 1001)
    result = acd.enqueue("c1", "billing", skills=skills)  # type: ignore[arg-type]
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT
    assert message in result.error.message
    assert acd.call("c1") is None
    assert result.events == []


def test_expected_wait_counts_only_the_agents_who_could_take_the_call(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue())
    login(acd, 1001, skills={"billing": 5})
    login(acd, 1002, skills={"billing": 5, "english": 1})
    for call, agent in (("t1", 1001), ("t2", 1002)):
        acd.enqueue(call, "q")
        acd.answered(call, agent).raise_for_error()
    clock.advance(60)
    acd.enqueue("plain", "q")
    acd.enqueue("english", "q", skills=ENGLISH)
    plain, english = acd.call_position("plain"), acd.call_position("english")
    assert plain is not None and english is not None
    # Both agents talk for 60 s so far: H = 60. Plain: 1 x 60 / 2; English: 2 x 60 / 1.
    assert plain["expected_wait"] == pytest.approx(30.0)
    assert english["expected_wait"] == pytest.approx(120.0)
    assert (plain["skills"], english["skills"]) == ({}, ENGLISH)


def test_the_requirements_persist_with_the_call(clock: ManualClock) -> None:
    config = default_config(queue())
    acd = Acd(config, clock)
    login(acd, 1001, skills={"billing": 5})
    acd.go_busy(1001, "BREAK")
    acd.enqueue("english", "q", skills={"english": 2}, priority=3)
    acd.enqueue("plain", "q")
    data = json.loads(json.dumps(acd.to_dict()))
    records = {c["call_id"]: c for c in data["calls"]}
    assert records["english"]["skills"] == {"english": 2}
    # A call without requirements is stored as before the field existed.
    assert "skills" not in records["plain"]

    restored = Acd.from_dict(data, config, clock)
    assert restored.to_dict() == acd.to_dict()
    assert (restored.call("english") or {})["skills"] == {"english": 2}
    assert rung(restored.go_idle(1001)) == [("plain", 1001)]
    clock.advance(1)
    assert rung(login(restored, 1002, skills={"billing": 1, "english": 1})) == []
    assert rung(login(restored, 1003, skills={"billing": 1, "english": 2})) == [("english", 1003)]
    sound(restored)
