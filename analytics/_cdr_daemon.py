"""The CDR daemon: the collector on the event log, the store's only owner, and a
small loopback API for everybody else (_http_api.py). `python -m analytics.service`
(service.py) runs one.

Delivery: the collector writes each batch before the consumer ACKs it (see
_collector.py). If the store or Redis fails, the collector and consumer are
rebuilt: the new consumer re-reads its own pending entries and `recover()`
replays from the low-water mark, so nothing is lost; the store is idempotent, so
nothing is doubled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import redis

from configuration import split_hostport
from eventlog import Consumer, Delivery

from ._chdb_store import ChdbStore
from ._clickhouse_store import ClickHouseStore
from ._collector import CdrCollector
from ._config import ServiceSettings
from ._http_api import serve_api
from ._records import Records
from ._stats import Statistics
from ._store import CdrStore

log = logging.getLogger("analytics.service")

# Test-only fault injection: "exit_after_insert:N" makes the process die (os._exit)
# right after its Nth store insert, before the batch is acknowledged.
FAULT_ENV = "HUAAN_CDR_FAULT"


def open_store(settings: ServiceSettings) -> CdrStore:
    cfg = settings.analytics
    if cfg.store == "chdb":
        return ChdbStore(settings.data_dir(), database=cfg.database)
    dsn = cfg.dsn()
    return ClickHouseStore(
        dsn.host, dsn.port, database=dsn.database, user=dsn.user, password=dsn.password
    )


@dataclass
class ServiceState:
    """Counters shown by /healthz."""

    started_at: float = field(default_factory=time.time)
    events: int = 0
    batches: int = 0
    inserts: int = 0
    last_entry_id: str = ""
    last_batch_at: float = 0.0
    errors: int = 0
    last_error: str = ""
    ready: bool = False


class _FaultyStore:
    """Wraps the store to die after N inserts (FAULT_ENV); tests crash mid-batch."""

    def __init__(self, inner: CdrStore, exit_after: int, state: ServiceState) -> None:
        self._inner = inner
        self._left = exit_after
        self._state = state

    def insert_records(self, records: Records) -> int:
        written = self._inner.insert_records(records)
        self._left -= 1
        if self._left <= 0:
            log.error("fault injection: exiting after insert, before ack")
            os._exit(70)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CdrService:
    def __init__(self, settings: ServiceSettings, store: CdrStore | None = None) -> None:
        self.settings = settings
        cfg = settings.analytics
        self.store: CdrStore = store or open_store(settings)
        self.stats = Statistics(self.store)
        self.state = ServiceState()
        host, port = split_hostport(settings.redis)
        self.redis = redis.Redis(host=host, port=port, socket_timeout=max(5.0, cfg.block_ms / 500))
        fault = os.environ.get(FAULT_ENV, "")
        self._write_store: CdrStore = self.store
        if fault.startswith("exit_after_insert:"):
            self._write_store = _FaultyStore(self.store, int(fault.split(":", 1)[1]), self.state)
        self.stop_event = threading.Event()
        self._http: ThreadingHTTPServer | None = None

    # -- collector ---------------------------------------------------------------

    def _fresh_pipeline(self) -> tuple[CdrCollector, Consumer]:
        cfg = self.settings.analytics
        collector = CdrCollector(self._write_store, self.redis, stream=cfg.stream)
        replayed = collector.recover()
        log.info("recovered %d entries from the low-water mark", replayed)
        consumer = Consumer(
            self.redis,
            group=cfg.group,
            name=cfg.consumer,
            stream=cfg.stream,
            batch_size=cfg.batch_size,
            block_ms=cfg.block_ms,
        )
        return collector, consumer

    def run_collector(self) -> None:
        """Poll until stopped; on any failure rebuild from the log and carry on."""
        backoff = 0.1
        while not self.stop_event.is_set():
            try:
                collector, consumer = self._fresh_pipeline()

                def handle(batch: Sequence[Delivery], c: CdrCollector = collector) -> None:
                    c.handle(batch)
                    self.state.events += len(batch)
                    self.state.batches += 1
                    self.state.last_batch_at = time.time()
                    if batch:
                        self.state.last_entry_id = batch[-1].entry_id

                self.state.ready = True
                while not self.stop_event.is_set():
                    consumer.poll(handle)
                    backoff = 0.1
            except Exception as exc:  # any failure: rebuild from the log (nothing acked)
                self.state.errors += 1
                self.state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("collector failed; rebuilding from the log")
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- API -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        s = self.state
        return {
            "ok": s.ready,
            "store": self.settings.analytics.store,
            "dialect": self.store.dialect.name,
            "database": self.store.database,
            "events": s.events,
            "batches": s.batches,
            "last_entry_id": s.last_entry_id,
            "last_batch_at": s.last_batch_at,
            "errors": s.errors,
            "last_error": s.last_error,
            "uptime_s": time.time() - s.started_at,
            "pid": os.getpid(),
        }

    def report(self, method: str, params: dict[str, Any]) -> pd.DataFrame:
        return self.stats.run(method, **params)

    def start_http(self) -> tuple[str, int]:
        """Serve the API on `analytics.listen` in a thread; the bound (host, port)."""
        self._http = serve_api(self.settings.analytics.listen, self)
        addr = self._http.server_address
        return str(addr[0]), int(addr[1])

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.store.close()
        self.redis.close()
