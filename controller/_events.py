"""Adapters for the service's `EventPublisher` port (the call event log, docs/events.md).

- `RedisPublisher`: appends to the Redis stream with `eventlog.EventLog`. The SIP
  loop only puts the event on a bounded in-process queue (never blocks); one
  background thread drains it in batches with a short socket timeout. When Redis
  is slow or down, the events wait in that buffer and are retried in order; only
  those that find it full are dropped (and counted). The SIP loop never waits.
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

from controller._redis import fail_fast_redis
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
_CLOSE_GRACE_S = 0.5


class RedisPublisher:
    """Non-blocking publisher: a bounded buffer drained by one sender thread, which
    holds events back and retries them while Redis is down.

    `publish` runs on the SIP event loop and only does `put_nowait`; a full buffer
    drops that event (the newest, see `publish`). The sender wakes for the first
    event, lets `linger_s` pass so that the events behind it gather (a call writes 5
    or 6 within a second), then takes up to `batch` queued events and appends them in
    one pipeline round trip (`EventLog.append_many`). On a Redis error it keeps that
    batch and sends the same events again, in the same order, after a back-off (0.1 s
    doubling to `max_backoff_s`) while new events wait in the queue behind it. So an
    outage loses nothing until the buffer is full: `capacity` events queued, plus the
    batch (at most `batch`) the sender holds for its retry.

    Retries are at-least-once: a request that timed out may have been applied, so an
    event may reach the stream twice. The copy has the same `event_id` and `ts` (the
    `Event` is the same object), and every consumer drops duplicates by `event_id`
    (docs/events.md; the CDR builder does). Explicit stream IDs could not prevent it:
    several controllers append to one stream, so none can choose the IDs.

    `stats()` counts what was buffered, retried and dropped and the current backlog.
    The log says WARNING once when an outage starts holding events back and INFO once
    when the backlog has drained, not a line per event.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        capacity: int = 10_000,
        batch: int = 200,
        linger_s: float = 0.02,
        max_backoff_s: float = 1.0,
    ) -> None:
        self._log = EventLog(client, stream=stream)
        self._client = client
        self._queue: queue.Queue[object] = queue.Queue(maxsize=capacity)
        self._batch = batch
        # Why wait: one round trip per event (redis-py's pipeline, two thread wake-ups,
        # the socket), about 240 a second at 40 calls/s, was a tenth of the controller's
        # Python time (py-spy). 20 ms more in the event log is nothing to its readers
        # (CDRs, dashboards), and gathers several events into each trip.
        self._linger_s = linger_s
        # A retry against a Redis that refuses connections costs one connect attempt, so
        # retrying every second at most delivers the backlog soon after a restart.
        self._max_backoff_s = max_backoff_s
        # Each counter has exactly one writing thread: no lock needed.
        self._dropped_full = 0  # SIP loop thread
        self._dropped_unsent = 0  # sender thread: still unsent when close() gave up
        self._published = 0  # sender thread
        self._batches = 0  # sender thread: round trips that succeeded
        self._buffered = 0  # sender thread: events held back by an outage
        self._retried = 0  # sender thread: events sent again after a failure
        self._holding = 0  # sender thread: the batch it has taken and not sent
        self._outage_since: float | None = None  # sender thread: first failure, until drained
        self._outage_counts = (0, 0)  # sender thread: (buffered, dropped) as it began
        self._last_error = ""
        self._closing = threading.Event()
        self._give_up_at = float("inf")  # set by close(): the sender's last moment to retry
        self._thread = threading.Thread(target=self._run, name="event-publisher", daemon=True)
        self._thread.start()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout_s: float = 0.2,
        stream: str = DEFAULT_STREAM,
        capacity: int = 10_000,
    ) -> RedisPublisher:
        """A client that fails fast: short connect/read timeouts, no retries of its own
        (the publisher retries, without holding up the events behind)."""
        client = fail_fast_redis(host, port, timeout_s=timeout_s)
        return cls(client, stream=stream, capacity=capacity)

    # -------------------------------------------------------- SIP loop thread
    def publish(self, event: Event) -> None:
        # When the buffer is full the event being published (the newest) is dropped,
        # not the oldest: what is kept is then an unbroken run of the log from the start
        # of the outage, in order, with one gap at its end rather than holes cut into
        # calls already half written; and the SIP loop never has to take from the queue
        # the sender is reading (put_nowait is all it does).
        if self._closing.is_set():
            self._dropped_full += 1
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._dropped_full += 1

    def stats(self) -> dict[str, Any]:
        queued = self._queue.qsize()
        return {
            "enabled": True,
            "published": self._published,
            "batches": self._batches,
            "buffered": self._buffered,
            "retried": self._retried,
            "backlog": queued + self._holding,
            "dropped": self._dropped_full + self._dropped_unsent,
            "dropped_buffer_full": self._dropped_full,
            "dropped_unsent_at_close": self._dropped_unsent,
            "queued": queued,
            "last_error": self._last_error,
        }

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop taking events, send what is buffered (retrying within `timeout_s`), stop
        the sender; what is still unsent then is dropped and counted."""
        deadline = time.monotonic() + timeout_s
        self._give_up_at = deadline
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout_s)
        # The sender stops retrying at the deadline; the grace lets a last attempt in
        # flight (up to the socket timeout) finish and the drops be counted.
        self._thread.join(max(0.0, deadline - time.monotonic()) + _CLOSE_GRACE_S)
        stats = self.stats()
        if stats["dropped"] or self._thread.is_alive():
            log.warning(
                "event log closed: %s published, %s dropped, %s still buffered",
                stats["published"],
                stats["dropped"],
                stats["backlog"],
            )
        self._client.close()

    # ---------------------------------------------------------- sender thread
    def _run(self) -> None:
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
            if not self._deliver(events) or stop:
                return

    def _deliver(self, events: list[Event]) -> bool:
        """Send `events` until Redis takes them; False if close() gave up on them."""
        self._holding = len(events)
        if self._outage_since is not None:
            self._buffered += len(events)
        backoff = 0.0
        while not self._send(events):
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                self._outage_counts = (self._buffered, self._dropped_full)
                self._buffered += len(events)
                log.warning(
                    "event log: redis unavailable (%s); buffering events and retrying (%s waiting)",
                    self._last_error,
                    len(events) + self._queue.qsize(),
                )
            backoff = min(self._max_backoff_s, backoff * 2 or 0.1)
            if self._closing.is_set():
                wait = min(backoff, self._give_up_at - time.monotonic())
                if wait <= 0:
                    self._give_up(events)
                    return False
                time.sleep(wait)
            else:
                self._closing.wait(backoff)
            self._retried += len(events)
        self._holding = 0
        if self._outage_since is not None and self._queue.empty():
            buffered, dropped = self._outage_counts
            log.info(
                "event log: redis is back; backlog delivered %.1fs after the first "
                "failure (%s events buffered, %s dropped as the buffer was full)",
                time.monotonic() - self._outage_since,
                self._buffered - buffered,
                self._dropped_full - dropped,
            )
            self._outage_since = None
        return True

    def _send(self, events: list[Event]) -> bool:
        try:
            self._log.append_many(events)
        except (redis.RedisError, OSError) as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            return False
        self._published += len(events)
        self._batches += 1
        return True

    def _give_up(self, events: list[Event]) -> None:
        """close()'s deadline passed with Redis still failing: drop what is unsent."""
        unsent = list(events)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Event):
                unsent.append(item)
        self._dropped_unsent += len(unsent)
        self._holding = 0
