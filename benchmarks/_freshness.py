"""Hang-up to CDR visible in a dashboard query, measured on whatever produces the calls.

The probe tails the call event log for `call.ended` (the hang-up, stamped by whoever
ended the call: the controller on the real stack) and asks the CDR service for those
calls exactly as the dashboards do (`ServiceClient.report("cdr_list", ...)`) every
`poll_s`, until each shows up. Freshness of a call = when its CDR was first seen
minus the `ts` of its `call.ended` (both wall clock on this machine).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from analytics import ServiceClient
from eventlog import CALL_ENDED, decode


@dataclass(frozen=True)
class Freshness:
    calls: int  # hang-ups seen in the event log
    seen: int  # of them, CDRs that appeared in the dashboard query
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def missing(self) -> int:
        return self.calls - self.seen

    def line(self) -> str:
        return (
            f"hang-up -> CDR visible: {self.seen}/{self.calls} calls, p50 "
            f"{self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms, max {self.max_ms:.0f} ms "
            f"(target p99 < 5000 ms: "
            f"{'MET' if self.p99_ms < 5000 and not self.missing else 'NOT MET'})"
        )


class FreshnessProbe:
    """Start before the calls, `stop()` after the last hang-up (it waits for the CDRs)."""

    def __init__(
        self, events: redis.Redis, stream: str, service: ServiceClient, *, poll_s: float = 0.05
    ) -> None:
        self._events = events
        self._stream = stream
        self._service = service
        self._poll_s = poll_s
        self._ended: dict[str, float] = {}  # correlation ID -> call.ended ts
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._last_id = "$"
        self._threads = [
            threading.Thread(target=self._tail, name="fresh-tail", daemon=True),
            threading.Thread(target=self._poll, name="fresh-poll", daemon=True),
        ]

    def start(self) -> FreshnessProbe:
        # "$" resolved now, so hang-ups before the start are not counted.
        last: Any = self._events.xrevrange(self._stream, count=1)
        self._last_id = last[0][0].decode() if last else "0-0"
        for thread in self._threads:
            thread.start()
        return self

    def _tail(self) -> None:
        while not self._stopping.is_set():
            reply: Any = self._events.xread({self._stream: self._last_id}, count=1000, block=200)
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    event = decode(fields, entry_id=self._last_id)
                    if event.kind == CALL_ENDED:
                        with self._lock:
                            self._ended.setdefault(event.correlation_id, event.ts)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                pending = [c for c in self._ended if c not in self._seen]
            if pending:
                frame = self._service.report("cdr_list", correlation_ids=pending)
                now = time.time()
                with self._lock:
                    for cid in frame["correlation_id"]:
                        self._seen.setdefault(str(cid), now)
            self._stopping.wait(self._poll_s)

    def stop(self, timeout_s: float = 30.0) -> Freshness:
        """Wait (up to `timeout_s`) until every hang-up seen has its CDR, then stop."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if all(c in self._seen for c in self._ended):
                    break
            self._stopping.wait(0.1)  # polling is what is measured; this only paces the check
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            lat = sorted(self._seen[c] - ts for c, ts in self._ended.items() if c in self._seen)
        if not lat:
            return Freshness(len(self._ended), 0, float("nan"), float("nan"), float("nan"))
        p99 = statistics.quantiles(lat, n=100, method="inclusive")[98] if len(lat) > 1 else lat[0]
        return Freshness(
            len(self._ended), len(lat), statistics.median(lat) * 1000, p99 * 1000, lat[-1] * 1000
        )
