"""Agent-selection strategies, looked up by name from a registry.

A strategy gets the idle agents that qualify for the queue, already ordered
longest-idle first (ties by employee ID), and returns the agents to ring:
one for the usual strategies, all of them for ring_all. It must not change
the records. `memory` is per-queue scratch space that the core persists with
its state (round_robin keeps its position there); keep it JSON-able.

`BUILTIN_STRATEGIES` is the one list of strategy names: a queue's `strategy`,
from the YAML config or anywhere else, is checked against it (or against the
registry passed to `Acd`) by `validate_config`, whose error names the known
ones. A new strategy is a function here and an entry in that mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from configuration import StrategyName

from ._config import QueueConfig
from ._records import AgentRecord

__all__ = ["BUILTIN_STRATEGIES", "Strategy", "StrategyMemory"]

StrategyMemory = dict[str, int | float | str | None]


class Strategy(Protocol):
    def __call__(
        self, candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
    ) -> list[AgentRecord]: ...


def longest_idle(
    candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
) -> list[AgentRecord]:
    return list(candidates[:1])


def fewest_calls(
    candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
) -> list[AgentRecord]:
    # min() keeps the first of equals, and candidates come longest-idle first.
    return [min(candidates, key=lambda a: a.calls)] if candidates else []


def round_robin(
    candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
) -> list[AgentRecord]:
    """The next employee ID after the last one served by this queue, wrapping around."""
    if not candidates:
        return []
    ordered = sorted(candidates, key=lambda a: a.employee_id)
    last = memory.get("last")
    chosen = ordered[0]
    if isinstance(last, int):
        chosen = next((a for a in ordered if a.employee_id > last), ordered[0])
    memory["last"] = chosen.employee_id
    return [chosen]


def skill_level_first(
    candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
) -> list[AgentRecord]:
    """Highest level in the queue's skills (summed if it needs several), then longest idle."""

    def level(agent: AgentRecord) -> int:
        return sum(agent.skills.get(skill, 0) for skill in queue.skills)

    return [max(candidates, key=level)] if candidates else []  # max keeps the first of equals


def ring_all(
    candidates: Sequence[AgentRecord], queue: QueueConfig, memory: StrategyMemory
) -> list[AgentRecord]:
    return list(candidates)


# Keyed by configuration's StrategyName, the names a queue's `strategy:` may say: mypy
# refuses a name the schema does not know, and a test checks that none is missing.
_BY_NAME: dict[StrategyName, Strategy] = {
    "longest_idle": longest_idle,
    "fewest_calls": fewest_calls,
    "round_robin": round_robin,
    "skill_level_first": skill_level_first,
    "ring_all": ring_all,
}
# str keys: an Acd also takes strategies registered under names of its own.
BUILTIN_STRATEGIES: Mapping[str, Strategy] = {str(name): s for name, s in _BY_NAME.items()}
