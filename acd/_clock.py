"""Time source for the ACD core, injected so tests and simulations control time."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with `now() -> float` (seconds)."""

    def now(self) -> float: ...


class SystemClock:
    """Wall-clock seconds since the epoch.

    Wall time rather than a monotonic clock, because the state (lease and
    wrap-up deadlines) is persisted and read by other processes and nodes,
    which share wall time but not a monotonic origin.
    """

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; for tests and discrete-event simulation."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        if when < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = float(when)
