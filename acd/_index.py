"""Derived indexes that keep every command O(log n) in the number of agents and calls.

- `IdlePool`: a queue's idle qualifying agents, longest idle first, as a read-only
  sequence over a sorted key list, so a strategy that looks at the head only
  (longest_idle) costs O(1) and nothing is sorted per call.
- `TimerIndex`: every pending deadline (lease, ring timeout, wrap-up end, max wait)
  in a dict, mirrored by a heap with lazy deletion, so finding what is due costs
  O(log n) instead of a scan of every agent and call.

Neither is serialised: the core rebuilds both from its records on load.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterator, Mapping, Sequence
from typing import overload

from ._records import AgentRecord

__all__ = ["TIMER_ORDER", "IdleKey", "IdlePool", "TimerEntry", "TimerIndex", "TimerKey"]

IdleKey = tuple[float, int]  # (idle_since, employee_id): longest idle first, ties by ID
TimerKey = tuple[str, "str | int"]  # (kind, agent ID or call ID)
# (deadline, order, str(id), kind, id): sorts exactly as the timers are applied.
TimerEntry = tuple[float, int, str, str, "str | int"]
# Same deadline: leases first, then ring timeouts, wrap-up ends, max waits.
TIMER_ORDER: Mapping[str, int] = {"lease": 0, "ring": 1, "wrap": 2, "wait": 3}


class IdlePool(Sequence[AgentRecord]):
    """Agents named by a sorted list of IdleKeys, in that order. Must not outlive the
    command that made it (it views the live index)."""

    __slots__ = ("_agents", "_keys")

    def __init__(self, agents: Mapping[int, AgentRecord], keys: Sequence[IdleKey]) -> None:
        self._agents = agents
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> AgentRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[AgentRecord]: ...

    def __getitem__(self, index: int | slice) -> AgentRecord | list[AgentRecord]:
        agents = self._agents
        if isinstance(index, slice):
            return [agents[k[1]] for k in self._keys[index]]
        return agents[self._keys[index][1]]

    def __iter__(self) -> Iterator[AgentRecord]:
        agents = self._agents
        return (agents[k[1]] for k in self._keys)

    def __contains__(self, item: object) -> bool:
        return isinstance(item, AgentRecord) and self.has(item.employee_id)

    def has(self, employee_id: int) -> bool:
        """Whether the agent is in the pool (O(log n))."""
        agent = self._agents.get(employee_id)
        if agent is None:
            return False
        key = (agent.idle_since, employee_id)
        i = bisect.bisect_left(self._keys, key)
        return i < len(self._keys) and self._keys[i] == key


class TimerIndex:
    """Pending deadlines by (kind, id), and a heap of them for earliest-first access.

    The dict is the truth; a heap entry whose deadline no longer matches it is
    stale and skipped (lazy deletion). The heap is rebuilt from the dict when
    stale entries outnumber live ones.
    """

    __slots__ = ("_deadlines", "_heap")

    def __init__(self) -> None:
        self._deadlines: dict[TimerKey, float] = {}
        self._heap: list[TimerEntry] = []

    def __len__(self) -> int:
        return len(self._deadlines)

    def clear(self) -> None:
        self._deadlines.clear()
        self._heap.clear()

    def set(self, kind: str, ident: str | int, deadline: float | None) -> None:
        """Set (or with None, drop) the deadline of one timer."""
        key = (kind, ident)
        if deadline is None:
            self._deadlines.pop(key, None)
            return
        if self._deadlines.get(key) == deadline:
            return
        self._deadlines[key] = deadline
        heapq.heappush(self._heap, (deadline, TIMER_ORDER[kind], str(ident), kind, ident))
        if len(self._heap) > 2 * len(self._deadlines) + 256:
            self._compact()

    def pop_due(self, horizon: float) -> list[TimerEntry]:
        """Take every live timer due at or before `horizon` off the heap, earliest first.

        The timers stay in the dict: `restore()` puts back the ones still pending
        after they were applied.
        """
        heap, deadlines = self._heap, self._deadlines
        due: list[TimerEntry] = []
        seen: set[TimerKey] = set()
        while heap and heap[0][0] <= horizon:
            entry = heapq.heappop(heap)
            key = (entry[3], entry[4])
            if deadlines.get(key) == entry[0] and key not in seen:
                seen.add(key)
                due.append(entry)
        return due

    def restore(self, entries: Sequence[TimerEntry]) -> None:
        """Push back popped entries whose timer is still pending with the same deadline."""
        for entry in entries:
            if self._deadlines.get((entry[3], entry[4])) == entry[0]:
                heapq.heappush(self._heap, entry)

    def next(self) -> float | None:
        """The earliest pending deadline."""
        heap, deadlines = self._heap, self._deadlines
        while heap:
            entry = heap[0]
            if deadlines.get((entry[3], entry[4])) == entry[0]:
                return entry[0]
            heapq.heappop(heap)
        return None

    def deadlines(self) -> dict[TimerKey, float]:
        return dict(self._deadlines)

    def problems(self) -> list[str]:
        """Heap/dict disagreements (for check_invariants)."""
        in_heap = {((e[3], e[4]), e[0]) for e in self._heap}
        missing = [k for k, d in self._deadlines.items() if (k, d) not in in_heap]
        return [f"timer {missing[0]} is not in the heap"] if missing else []

    def _compact(self) -> None:
        self._heap = [
            (d, TIMER_ORDER[k[0]], str(k[1]), k[0], k[1]) for k, d in self._deadlines.items()
        ]
        heapq.heapify(self._heap)
