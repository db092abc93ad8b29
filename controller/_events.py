"""Adapters for the service's `EventPublisher` port (the call event log, docs/events.md).

- `RedisPublisher`: appends to the Redis stream with `eventlog.EventLog`. The SIP
  loop only puts the event on a bounded in-process queue (never blocks); one
  background thread drains it in batches with a short socket timeout. When Redis
  is slow or down, events are dropped and counted, never waited for.
- `MemoryPublisher`: keeps the events in a list (unit tests).
- `NullPublisher`: discards them (no `--redis`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from eventlog import DEFAULT_STREAM, Event, EventLog

log = logging.getLogger("controller.events")


class NullPublisher:
    """No event log configured: every event is discarded (and not counted as a drop)."""

    def publish(self, event: Event) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        return {"enabled": False}

    def close(self, timeout_s: float = 0.0) -> None:
        return None


@dataclass
class MemoryPublisher:
    """Keeps every published event, in order; for tests."""

    events: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def stats(self) -> dict[str, Any]:
        return {"enabled": True, "published": len(self.events), "dropped": 0, "queued": 0}

    def close(self, timeout_s: float = 0.0) -> None:
        return None


_STOP = object()


class RedisPublisher:
    """Non-blocking publisher: a bounded queue drained by one sender thread.

    `publish` runs on the SIP event loop and only does `put_nowait`; a full queue
    drops the event. The sender wakes for the first event, lets `linger_s` pass so
    that the events behind it gather (a call writes 5 or 6 within a second), then
    takes up to `batch` queued events, appends them in one pipeline round trip
    (`EventLog.append_many`), and on a Redis error drops
    that batch, logs, and backs off (0.1 s doubling to 2 s) while new events queue
    up behind it. So an outage shorter than the queue loses only the batch that
    was in flight; a longer one loses what overflows. Every loss is counted in
    `stats()["dropped"]` and logged (at most once per `log_every_s` while it lasts).
    """

    def __init__(self, client: redis.Redis, *, stream: str = DEFAULT_STREAM,
                 capacity: int = 10_000, batch: int = 200, log_every_s: float = 10.0,
                 linger_s: float = 0.02) -> None:
        self._log = EventLog(client, stream=stream)
        self._client = client
        self._queue: queue.Queue[object] = queue.Queue(maxsize=capacity)
        self._batch = batch
        # Why wait: one round trip per event (redis-py's pipeline, two thread wake-ups,
        # the socket), about 240 a second at 40 calls/s, was a tenth of the controller's
        # Python time (py-spy). 20 ms more in the event log is nothing to its readers
        # (CDRs, dashboards), and gathers several events into each trip.
        self._linger_s = linger_s
        self._log_every_s = log_every_s
        # Each counter has exactly one writing thread: no lock needed.
        self._dropped_full = 0       # SIP loop thread
        self._dropped_failed = 0     # sender thread
        self._published = 0          # sender thread
        self._batches = 0            # sender thread: round trips that succeeded
        self._last_error = ""
        self._failing = False
        self._last_warning = 0.0
        self._logged_drops = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-publisher", daemon=True)
        self._thread.start()

    @classmethod
    def connect(cls, host: str, port: int, *, timeout_s: float = 0.2,
                stream: str = DEFAULT_STREAM, capacity: int = 10_000) -> RedisPublisher:
        """A client that fails fast: short connect/read timeouts, no retries."""
        client = redis.Redis(host=host, port=port, socket_timeout=timeout_s,
                             socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0),
                             retry_on_timeout=False, health_check_interval=0)
        return cls(client, stream=stream, capacity=capacity)

    # -------------------------------------------------------- SIP loop thread
    def publish(self, event: Event) -> None:
        if self._closing.is_set():
            self._dropped_full += 1
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._dropped_full += 1

    def stats(self) -> dict[str, Any]:
        return {"enabled": True, "published": self._published, "batches": self._batches,
                "dropped": self._dropped_full + self._dropped_failed,
                "dropped_queue_full": self._dropped_full,
                "dropped_redis_error": self._dropped_failed,
                "queued": self._queue.qsize(), "last_error": self._last_error}

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop taking events, send what is queued (within `timeout_s`), stop the sender."""
        deadline = time.monotonic() + timeout_s
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout_s)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        stats = self.stats()
        if stats["dropped"] or self._thread.is_alive():
            log.warning("event log closed: %s published, %s dropped, %s still queued",
                        stats["published"], stats["dropped"], stats["queued"])
        self._client.close()

    # ---------------------------------------------------------- sender thread
    def _run(self) -> None:
        backoff = 0.0
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._linger_s > 0:
                self._closing.wait(self._linger_s)  # closing: no waiting, send what is there
            batch = [item]
            stop = False
            while len(batch) < self._batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            events: list[Event] = [e for e in batch if isinstance(e, Event)]
            if self._send(events):
                backoff = 0.0
            else:
                backoff = min(2.0, backoff * 2 or 0.1)
                if not stop and self._closing.wait(backoff):
                    backoff = 0.0  # closing: one last try for what is queued, no waits
            if stop:
                return

    def _send(self, events: list[Event]) -> bool:
        try:
            self._log.append_many(events)
        except (redis.RedisError, OSError) as exc:
            self._dropped_failed += len(events)
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._report_drops(failing=True)
            return False
        self._published += len(events)
        self._batches += 1
        self._report_drops(failing=False)
        return True

    def _report_drops(self, *, failing: bool) -> None:
        """Log drops: at once when they start, then at most every `log_every_s`."""
        now = time.monotonic()
        dropped = self._dropped_full + self._dropped_failed
        if failing and not self._failing:
            self._last_warning = 0.0
        if self._failing and not failing:
            log.warning("event log: redis is back; %s events dropped in total", dropped)
            self._last_warning, self._logged_drops = now, dropped
        elif dropped > self._logged_drops and (
                self._last_warning == 0.0 or now - self._last_warning >= self._log_every_s):
            why = self._last_error if failing else "queue full"
            log.warning("event log: dropping events (%s); %s dropped so far (+%s)",
                        why, dropped, dropped - self._logged_drops)
            self._last_warning, self._logged_drops = now, dropped
        self._failing = failing
