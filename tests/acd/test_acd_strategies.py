"""R-CORE-3 agent selection: each built-in strategy, ring_all, and the registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from acd import (
    BUILTIN_STRATEGIES,
    Acd,
    AgentRecord,
    AgentState,
    ConfigError,
    ManualClock,
    QueueConfig,
    StrategyMemory,
)
from tests.acd.acd_testkit import default_config, login, rung, sound


def queue(strategy: str, **kwargs: object) -> QueueConfig:
    return QueueConfig("q", skills={"billing": 1}, strategy=strategy, **kwargs)  # type: ignore[arg-type]


def serve(acd: Acd, call: str, agent: int) -> None:
    acd.answered(call, agent).raise_for_error()
    acd.hangup(call).raise_for_error()


def test_longest_idle(make_acd: Callable[..., Acd], clock: ManualClock) -> None:
    acd = make_acd(queue("longest_idle"))
    for agent in (1003, 1001, 1002):  # idle since t, t+1, t+2
        login(acd, agent)
        clock.advance(1)
    assert rung(acd.enqueue("c1", "q")) == [("c1", 1003)]
    serve(acd, "c1", 1003)  # 1003 is now the most recently idle
    assert rung(acd.enqueue("c2", "q")) == [("c2", 1001)]
    acd.go_busy(1002, "BREAK")
    clock.advance(1)
    acd.go_idle(1002)  # returning from busy restarts the idle clock
    serve(acd, "c2", 1001)
    assert rung(acd.enqueue("c3", "q")) == [("c3", 1003)]


def test_fewest_calls(make_acd: Callable[..., Acd], clock: ManualClock) -> None:
    acd = make_acd(queue("fewest_calls"))
    login(acd, 1001)
    login(acd, 1002, ready=False)
    for n in range(3):
        acd.enqueue(f"warm{n}", "q")
        serve(acd, f"warm{n}", 1001)
        clock.advance(1)
    login(acd, 1003)  # 0 calls
    clock.advance(1)
    acd.go_idle(1002)  # 0 calls, idle later than 1003
    assert rung(acd.enqueue("c1", "q")) == [("c1", 1003)]  # tie on calls: longest idle


def test_round_robin_cycles_through_employee_ids(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(queue("round_robin"))
    for agent in (1003, 1001, 1002):
        login(acd, agent)
    order = []
    for n in range(6):
        ((_, agent),) = rung(acd.enqueue(f"c{n}", "q"))
        order.append(agent)
        serve(acd, f"c{n}", agent)
    assert order == [1001, 1002, 1003, 1001, 1002, 1003]


def test_round_robin_skips_unavailable_agents(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(queue("round_robin"))
    for agent in (1001, 1002, 1003):
        login(acd, agent)
    serve(acd, "c0", rung(acd.enqueue("c0", "q"))[0][1])  # 1001
    acd.go_busy(1002, "BREAK")
    assert rung(acd.enqueue("c1", "q")) == [("c1", 1003)]


def test_skill_level_first_then_longest_idle(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue("skill_level_first"))
    login(acd, 1001, skills={"billing": 2})
    clock.advance(1)
    login(acd, 1002, skills={"billing": 5})
    clock.advance(1)
    login(acd, 1003, skills={"billing": 5})
    assert rung(acd.enqueue("c1", "q")) == [("c1", 1002)]
    assert rung(acd.enqueue("c2", "q")) == [("c2", 1003)]
    assert rung(acd.enqueue("c3", "q")) == [("c3", 1001)]


def test_ring_all_first_answer_wins(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(queue("ring_all"))
    for agent in (1001, 1002, 1003):
        login(acd, agent)
    result = acd.enqueue("c1", "q")
    assert sorted(agent for _, agent in rung(result)) == [1001, 1002, 1003]
    assert all(acd.agent_state(a) is AgentState.RESERVED for a in (1001, 1002, 1003))
    assert rung(acd.enqueue("c2", "q")) == []  # everyone is reserved for c1
    won = acd.answered("c1", 1002)
    assert sorted((a.kind, a.agent) for a in won.actions if a.kind == "cancel_ring") == [
        ("cancel_ring", 1001),
        ("cancel_ring", 1003),
    ]
    assert acd.agent_state(1002) is AgentState.TALKING
    # The released agents are idle again and c2 rings both of them.
    assert sorted(agent for _, agent in rung(won)) == [1001, 1003]
    sound(acd)


def test_ring_all_no_answer_from_one_keeps_the_others_ringing(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(queue("ring_all"))
    login(acd, 1001)
    login(acd, 1002)
    acd.enqueue("c1", "q")
    acd.no_answer("c1", 1001)
    assert acd.call("c1")["ringing"] == [1002]  # type: ignore[index]
    assert acd.agent_state(1001) is AgentState.IDLE  # idle, but c1 is not queued
    acd.answered("c1", 1002).raise_for_error()
    sound(acd)


def test_ring_all_timeout_rings_everyone_again(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(queue("ring_all", ring_timeout=10, max_no_answers=5))
    login(acd, 1001)
    login(acd, 1002)
    acd.enqueue("c1", "q")
    clock.advance(10)
    result = acd.tick()
    assert sorted(a.agent for a in result.actions if a.kind == "cancel_ring") == [1001, 1002]
    assert sorted(agent for _, agent in rung(result)) == [1001, 1002]
    sound(acd)


def test_custom_strategy_from_the_registry(clock: ManualClock) -> None:
    def highest_id(
        candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
    ) -> list[AgentRecord]:
        return [max(candidates, key=lambda a: a.employee_id)]

    strategies = {**BUILTIN_STRATEGIES, "highest_id": highest_id}
    acd = Acd(default_config(queue("highest_id")), clock, strategies=strategies)
    for agent in (1001, 1003, 1002):
        login(acd, agent)
    assert rung(acd.enqueue("c1", "q")) == [("c1", 1003)]


def test_strategy_that_declines_or_returns_strangers_rings_nobody(clock: ManualClock) -> None:
    def stranger(
        candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
    ) -> list[AgentRecord]:
        fake = AgentRecord(9999, "x", 9, "agent", {}, "s", AgentState.IDLE, 0, 0, 0)
        return [fake]

    acd = Acd(default_config(queue("stranger")), clock, strategies={"stranger": stranger})
    login(acd, 1001)
    assert rung(acd.enqueue("c1", "q")) == []
    assert acd.waiting("q") == ["c1"]


def test_unknown_strategy_is_a_config_error(clock: ManualClock) -> None:
    with pytest.raises(ConfigError, match="unknown strategy") as raised:
        Acd(default_config(queue("random_pick")), clock)
    # The error names every strategy the admin could have meant.
    assert all(name in str(raised.value) for name in BUILTIN_STRATEGIES)
