"""Erlang B and Erlang C: the blocking and waiting probabilities of M/M/N systems."""

from __future__ import annotations

import math

__all__ = ["erlang_b", "erlang_c"]


def _check(traffic: float, servers: int) -> None:
    if not math.isfinite(traffic) or traffic < 0:
        raise ValueError(f"traffic must be a finite number >= 0 Erlang, got {traffic!r}")
    if isinstance(servers, bool) or not isinstance(servers, int) or servers < 0:
        raise ValueError(f"servers must be an integer >= 0, got {servers!r}")


def erlang_b(traffic: float, servers: int) -> float:
    """Probability that a call finds all `servers` busy and is lost (M/M/N/N).

    Uses the recurrence B(0) = 1, B(n) = A*B(n-1) / (n + A*B(n-1)). Every step
    stays in [0, 1], so it neither overflows nor cancels for thousands of
    servers, unlike the textbook A^N/N! / sum(A^k/k!) form.
    """
    _check(traffic, servers)
    b = 1.0
    for n in range(1, servers + 1):
        ab = traffic * b
        b = ab / (n + ab)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a call has to wait, P(wait), in M/M/N with an infinite queue.

    Derived from Erlang B: C = N*B / (N - A*(1 - B)), which inherits the
    recurrence's stability. With traffic >= agents the queue grows without
    bound and every call waits, so the answer is 1.
    """
    _check(traffic, agents)
    if traffic == 0:
        return 0.0
    if traffic >= agents:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1.0 - b))
