"""Reading the log in a consumer group: at-least-once, in batches, restart-safe.

Delivery contract: a handler gets a batch, and the batch is acknowledged (XACK)
only after the handler returns. A crash between read and ack leaves the entries in
the group's pending list, so they come back: to the same consumer name when it
starts again (it re-reads its own pending entries first), or to another consumer
that claims them with XAUTOCLAIM once they have been idle for `claim_idle_ms`.
Handlers must therefore be idempotent, keyed on `Event.event_id`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from ._event import Event, EventError, decode
from ._writer import DEFAULT_STREAM

log = logging.getLogger(__name__)

_OWN_PENDING_START: Final = "0"
_NEW_ONLY: Final = ">"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event as read from the stream, with its stream id."""

    entry_id: str
    event: Event


Handler = Callable[[Sequence[Delivery]], None]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Consumer:
    """One named member of a consumer group on the event stream.

    Give each process a stable `name` (pod name, host name): a restarted process
    with the same name picks up exactly where it stopped. Several names in one
    `group` share the work; each entry goes to one of them.

    Entries that do not decode (unknown kind, wrong schema version) are copied to
    the dead-letter stream with the reason and then acknowledged, so one bad entry
    does not block the group and is still kept for an operator to inspect.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        group: str,
        name: str,
        stream: str = DEFAULT_STREAM,
        batch_size: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
        dead_letter_stream: str | None = None,
        start_id: str = "0",
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self._client = client
        self.group = group
        self.name = name
        self.stream = stream
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.dead_letter_stream = dead_letter_stream or f"{stream}:dead"
        self._start_id = start_id
        # Where we are in our own pending list; None once it has been drained.
        self._pending_cursor: str | None = _OWN_PENDING_START
        self._claim_cursor = "0-0"
        self._group_ready = False

    # -- setup -------------------------------------------------------------------

    def ensure_group(self) -> None:
        """Create the group (and the stream) if missing. Safe to call repeatedly.

        `start_id` "0" makes a new group see the whole retained history; "$" makes it
        see only what is appended after it was created.
        """
        try:
            self._client.xgroup_create(self.stream, self.group, id=self._start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    # -- one step ------------------------------------------------------------------

    def poll(self, handler: Handler) -> int:
        """Read one batch, hand it to `handler`, ack it. Return the number of entries.

        Order of sources: our own pending entries (left by a previous run that died
        before acking), then entries of dead consumers that have idled long enough,
        then new entries (blocking up to `block_ms`).
        """
        if not self._group_ready:
            self.ensure_group()
        if self._pending_cursor is not None:
            raw = self._read(self._pending_cursor, block=False)
            if raw:
                self._pending_cursor = raw[-1][0]
                return self._deliver(raw, handler)
            self._pending_cursor = None
        claimed = self._claim()
        if claimed:
            return self._deliver(claimed, handler)
        return self._deliver(self._read(_NEW_ONLY, block=True), handler)

    def run(self, handler: Handler, stop: threading.Event) -> None:
        """Poll until `stop` is set. A handler exception propagates and stops the loop;
        the batch stays pending and is re-delivered on the next start."""
        while not stop.is_set():
            self.poll(handler)

    # -- internals -----------------------------------------------------------------

    def _read(self, from_id: str, *, block: bool) -> list[tuple[str, dict[Any, Any] | None]]:
        reply: Any = self._client.xreadgroup(
            self.group,
            self.name,
            {self.stream: from_id},
            count=self.batch_size,
            block=self.block_ms if block else None,
        )
        if not reply:
            return []
        # redis-py RESP2 gives [[stream, entries]]; RESP3 gives {stream: [entries]}.
        entries = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
        return [(_text(entry_id), fields) for entry_id, fields in entries]

    def _claim(self) -> list[tuple[str, dict[Any, Any] | None]]:
        reply: Any = self._client.xautoclaim(
            self.stream,
            self.group,
            self.name,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch_size,
        )
        next_cursor, entries = reply[0], reply[1]
        # Redis 7 also returns ids that were trimmed from the stream while pending; it
        # has already dropped them from the pending list, so there is nothing to ack.
        self._claim_cursor = _text(next_cursor)
        return [(_text(entry_id), fields) for entry_id, fields in entries]

    def _deliver(self, raw: list[tuple[str, dict[Any, Any] | None]], handler: Handler) -> int:
        if not raw:
            return 0
        batch: list[Delivery] = []
        dead: list[tuple[str, dict[str, str]]] = []
        for entry_id, fields in raw:
            if not fields:
                # Pending entry whose data was trimmed away: nothing to hand over.
                continue
            try:
                batch.append(Delivery(entry_id, decode(fields, entry_id=entry_id)))
            except EventError as exc:
                flat = {_text(k): _text(v) for k, v in fields.items()}
                dead.append((entry_id, flat | {"dead_reason": str(exc), "dead_id": entry_id}))
        if batch:
            handler(batch)
        if dead:
            pipe = self._client.pipeline(transaction=False)
            for entry_id, flat in dead:
                log.error("dead-lettering %s: %s", entry_id, flat["dead_reason"])
                pipe.xadd(self.dead_letter_stream, flat)  # type: ignore[arg-type]
            pipe.execute()
        self._client.xack(self.stream, self.group, *[entry_id for entry_id, _ in raw])
        return len(raw)


def replay(
    client: redis.Redis,
    *,
    stream: str = DEFAULT_STREAM,
    from_id: str = "0",
    to_id: str = "+",
    page: int = 1000,
) -> Iterator[Delivery]:
    """Every event in the stream from `from_id` (inclusive) in log order, via XRANGE.

    Used to rebuild a store from scratch; it does not touch any consumer group.
    Entries that fail to decode raise EventError: a rebuild must not skip data.
    """
    start = from_id
    while True:
        entries: Any = client.xrange(stream, min=start, max=to_id, count=page)
        if not entries:
            return
        for entry_id, fields in entries:
            eid = _text(entry_id)
            yield Delivery(eid, decode(fields, entry_id=eid))
        # "(" makes the next page start just after the last id we saw.
        start = "(" + _text(entries[-1][0])
        if len(entries) < page:
            return


def read_batches(
    client: redis.Redis, *, stream: str = DEFAULT_STREAM, from_id: str = "0", page: int = 1000
) -> Iterator[Sequence[Delivery]]:
    """replay() grouped into lists of at most `page`, the shape handlers take."""
    batch: list[Delivery] = []
    for delivery in replay(client, stream=stream, from_id=from_id, page=page):
        batch.append(delivery)
        if len(batch) >= page:
            yield batch
            batch = []
    if batch:
        yield batch
