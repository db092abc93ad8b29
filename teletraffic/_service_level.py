"""Service level, ASA and staffing from Erlang C (M/M/N, FIFO, no abandonment)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._erlang import erlang_c

__all__ = [
    "StaffingPoint",
    "agents_for_service_level",
    "average_speed_of_answer",
    "occupancy",
    "offered_load",
    "service_level",
    "staffing",
]


def _check_times(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def offered_load(calls: float, interval: float, aht: float) -> float:
    """Traffic in Erlang: `calls` arriving in `interval` seconds, each held `aht` seconds.

    100 calls in 30 minutes with AHT 180 s is 100 * 180 / 1800 = 10 Erlang.
    """
    _check_times(calls=calls, aht=aht)
    if not math.isfinite(interval) or interval <= 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
    return calls * aht / interval


def occupancy(traffic: float, agents: int) -> float:
    """Fraction of time the agents are busy (capped at 1 for an overloaded group)."""
    if agents <= 0:
        raise ValueError(f"agents must be >= 1, got {agents!r}")
    _check_times(traffic=traffic)
    return min(1.0, traffic / agents)


def service_level(traffic: float, agents: int, aht: float, target: float) -> float:
    """Fraction of calls answered within `target` seconds: 1 - C * exp(-(N - A) * T / AHT)."""
    _check_times(aht=aht, target=target)
    c = erlang_c(traffic, agents)
    if traffic >= agents:
        return 0.0  # the queue grows without bound; no finite share is answered in time
    if aht == 0:
        return 1.0
    return 1.0 - c * math.exp(-(agents - traffic) * target / aht)


def average_speed_of_answer(traffic: float, agents: int, aht: float) -> float:
    """Mean wait over all calls (ASA), C * AHT / (N - A); infinite when N <= A."""
    _check_times(aht=aht)
    c = erlang_c(traffic, agents)
    if traffic >= agents:
        return math.inf
    return c * aht / (agents - traffic)


@dataclass(frozen=True, slots=True)
class StaffingPoint:
    """Erlang C figures for one head count; a row of a staffing table."""

    agents: int
    p_wait: float
    service_level: float
    asa: float
    occupancy: float


def staffing(traffic: float, agents: int, aht: float, target: float) -> StaffingPoint:
    """All Erlang C figures for `agents` agents at `traffic` Erlang."""
    return StaffingPoint(
        agents=agents,
        p_wait=erlang_c(traffic, agents),
        service_level=service_level(traffic, agents, aht, target),
        asa=average_speed_of_answer(traffic, agents, aht),
        occupancy=occupancy(traffic, agents),
    )


def agents_for_service_level(
    traffic: float,
    aht: float,
    target: float,
    goal: float,
    *,
    max_occupancy: float = 1.0,
) -> int:
    """Smallest head count whose service level is at least `goal` (e.g. 0.8 for 80/20).

    `max_occupancy` below 1 adds agents until traffic/agents is under it, as
    planners do to keep agents from burning out. Erlang B is advanced one
    agent at a time with the same recurrence as `erlang_b`, so the search is
    O(N) in total rather than O(N^2).
    """
    _check_times(traffic=traffic, aht=aht, target=target)
    if not 0.0 <= goal < 1.0:
        raise ValueError(f"goal must be in [0, 1), got {goal!r}")
    if not 0.0 < max_occupancy <= 1.0:
        raise ValueError(f"max_occupancy must be in (0, 1], got {max_occupancy!r}")
    if traffic == 0:
        return 0 if goal == 0 else 1
    b = 1.0
    n = 0
    while True:
        n += 1
        ab = traffic * b
        b = ab / (n + ab)
        if n <= traffic or traffic / n > max_occupancy:
            continue
        c = n * b / (n - traffic * (1.0 - b))
        sl = 1.0 if aht == 0 else 1.0 - c * math.exp(-(n - traffic) * target / aht)
        if sl >= goal:
            return n
