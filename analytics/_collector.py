"""Glue between the event log and a store: the CDR collector's batch handler.

Run exactly one active collector per store: a call's events must all reach the
same builder, and consumer groups spread entries, not calls, over consumers. The
consumer group is still used, for restart safety (pending entries come back).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from eventlog import DEFAULT_STREAM, Delivery, replay

from ._builder import CdrBuilder
from ._store import CdrStore


class CdrCollector:
    """Folds delivered batches into records and writes them before the ack.

    The write happens inside the handler, so a batch is acknowledged only once its
    records are stored. After a restart, `recover()` replays the log from the saved
    low-water mark (the oldest entry of any call or agent state still open) so
    in-flight calls are complete again; duplicates are dropped by event_id and the
    store is idempotent, so the overlap with redelivered entries is harmless.
    """

    def __init__(
        self,
        store: CdrStore,
        client: redis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        builder: CdrBuilder | None = None,
    ) -> None:
        self.store = store
        self.builder = builder or CdrBuilder()
        self._client = client
        self._stream = stream
        self._lwm_key = f"{stream}:cdr:lwm"

    def handle(self, batch: Sequence[Delivery]) -> None:
        """A `Consumer` handler: fold, store, then record the low-water mark."""
        for delivery in batch:
            self.builder.add(delivery.event, delivery.entry_id)
        records = self.builder.drain()
        if len(records):
            self.store.insert_records(records)
        lwm = self.builder.low_water_mark()
        if lwm is None and batch:
            # Nothing open: everything up to and including this batch is stored.
            lwm = "(" + batch[-1].entry_id
        if lwm is not None:
            self._client.set(self._lwm_key, lwm)

    def recover(self, page: int = 5000) -> int:
        """Rebuild open state from the log; return the number of entries replayed."""
        raw = self._client.get(self._lwm_key)
        if raw is None:
            return 0
        start = raw.decode() if isinstance(raw, bytes) else str(raw)
        n = 0
        for delivery in replay(self._client, stream=self._stream, from_id=start, page=page):
            self.builder.add(delivery.event, delivery.entry_id)
            n += 1
        records = self.builder.drain()
        if len(records):
            self.store.insert_records(records)
        return n
