"""The embedded backend: chDB (the ClickHouse engine in-process) owning a data dir.

chDB facts that shape this class (docs/analytics.md, DESIGN.md):
- One process per data directory: a second process cannot lock it. So exactly one
  service (the CDR collector) owns the store; dashboards and other services ask
  that service, or read a ClickHouse server instead.
- One data directory per process: the embedded engine is initialised with the
  first path opened and refuses another path until every session is closed. Tests
  therefore open, use and close one store at a time.
- Each INSERT costs about 14 ms whatever its size, so callers batch; each batch goes
  in as one `INSERT ... SELECT * FROM Python(arrow)` per table: chDB reads the Arrow
  table in place, which took about half the CPU of sending the same table as an
  Arrow IPC stream (BENCHMARKS.md, statistics pipeline).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from chdb import session as chdb_session

from configuration import check_identifier

from ._columns import TABLE_COLUMNS, to_arrow
from ._dialect import MODERN
from ._migrations import apply_migrations
from ._records import Records
from ._store import insert_records_by_table


class ChdbStore:
    """CdrStore on an embedded chDB data directory (created if missing)."""

    def __init__(
        self,
        path: str | Path,
        *,
        database: str = "callcenter",
        migrate: bool = True,
        insert_threads: int = 1,
        parallel_min_rows: int = 200_000,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.database = check_identifier(database)
        self.dialect = MODERN
        self._session: Any = chdb_session.Session(str(self.path))  # type: ignore[no-untyped-call]
        # A streaming insert blocks every other statement on the connection; one lock
        # keeps concurrent callers (collector thread, report thread) in line.
        self._lock = threading.Lock()
        # Large bulk loads are split over extra sessions on the same directory (allowed
        # within one process): parsing and sorting one insert uses one core.
        self.insert_threads = max(1, insert_threads)
        self.parallel_min_rows = parallel_min_rows
        self._extra: list[Any] = []
        if migrate:
            self.migrate()

    # -- CdrStore ------------------------------------------------------------------

    def migrate(self) -> list[int]:
        return apply_migrations(self.execute, self._applied, self.database, dialect=self.dialect)

    def schema_version(self) -> int:
        applied = self._applied()
        return max(applied) if applied else 0

    def execute(self, sql: str) -> None:
        with self._lock:
            self._session.query(sql)

    def query_df(self, sql: str) -> pd.DataFrame:
        with self._lock:
            return self._session.query(sql, "DataFrame")

    def insert_columns(self, table: str, columns: Mapping[str, Any]) -> int:
        if table not in TABLE_COLUMNS:
            raise ValueError(f"unknown table {table!r}")
        arrow = to_arrow(table, dict(columns))
        if arrow.num_rows == 0:
            return 0
        cols = ", ".join(TABLE_COLUMNS[table])
        # optimize_on_insert=0: do not deduplicate inside each new part. It halves the
        # insert cost; merges and FINAL deduplicate anyway.
        sql = (
            f"INSERT INTO {self.database}.{table} ({cols}) "  # noqa: S608  (checked names)
            "SETTINGS optimize_on_insert = 0 SELECT * FROM Python(arrow)"
        )
        pieces = _split_by_day(arrow, PARTITION_TIME[table])
        with self._lock:
            if self.insert_threads == 1 or arrow.num_rows < self.parallel_min_rows:
                for piece in pieces:
                    _send(self._session, sql, piece)
            else:
                while len(self._extra) < self.insert_threads - 1:
                    self._extra.append(chdb_session.Session(str(self.path)))  # type: ignore[no-untyped-call]
                sessions = [self._session, *self._extra]
                # Each session takes the next piece until none is left; a day larger
                # than an even share is cut further so both cores stay busy.
                step = -(-arrow.num_rows // len(sessions))
                queue = [p.slice(i, step) for p in pieces for i in range(0, p.num_rows, step)]
                queue.reverse()
                errors: list[BaseException] = []

                def work(sess: Any) -> None:
                    while not errors:
                        try:
                            part = queue.pop()  # list.pop is atomic under the GIL
                        except IndexError:
                            return
                        try:
                            _send(sess, sql, part)
                        except BaseException as exc:  # re-raised below in the caller
                            errors.append(exc)

                workers = [threading.Thread(target=work, args=(sess,)) for sess in sessions]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                if errors:
                    # Some pieces may be stored already: the caller does not ACK, and the
                    # replayed batch collapses onto them (writes are idempotent).
                    raise errors[0]
        return int(arrow.num_rows)

    def insert_records(self, records: Records) -> int:
        return insert_records_by_table(self.insert_columns, records)

    def close(self) -> None:
        with self._lock:
            for extra in self._extra:
                extra.close()
            self._extra = []
            if self._session is not None:
                self._session.close()
                self._session = None

    def __enter__(self) -> ChdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------

    def _applied(self) -> set[int]:
        exists = self.query_df(
            "SELECT count() AS n FROM system.tables "  # noqa: S608  (checked identifier)
            f"WHERE database = '{self.database}' AND name = 'schema_migrations'"
        )
        if int(exists["n"].iloc[0]) == 0:
            return set()
        # database passed check_identifier() in __init__.
        df = self.query_df(f"SELECT DISTINCT version FROM {self.database}.schema_migrations")  # noqa: S608
        return {int(v) for v in df["version"]}


# The time column each table is partitioned by day on (schema/005, 009).
PARTITION_TIME: Final[dict[str, str]] = {
    "cdr": "arrived_at",
    "cdr_leg": "started_at",
    "agent_state_interval": "start",
    "monitor_sessions": "started_at",
}
_DAY_MS: Final = 86_400_000


def _split_by_day(arrow: Any, column: str) -> list[Any]:
    """The rows of `arrow` cut into one table per UTC day of `column`.

    An INSERT whose rows span several partitions makes the engine scatter every
    column into per-partition blocks; on chDB 4.4 that doubled the CPU of a 1 M-row
    insert into the daily tables (1.5 s against 0.7 s), while one INSERT per day cost
    the same as into one partition. A collector batch usually lies in one day and
    goes in whole.
    """
    millis = pc.cast(arrow[column], pa.int64())
    days = pc.floor(pc.divide(pc.cast(millis, pa.float64()), float(_DAY_MS)))
    bounds = pc.min_max(days)
    if bounds["min"] == bounds["max"]:
        return [arrow]
    if not pc.all(pc.greater_equal(days[1:], days[:-1])).as_py():
        order = pc.sort_indices(days)
        arrow = arrow.take(order)
        days = days.take(order)
    values = days.to_numpy()
    starts = ((values[1:] != values[:-1]).nonzero()[0] + 1).tolist()
    edges = [0, *starts, arrow.num_rows]
    return [arrow.slice(lo, hi - lo) for lo, hi in itertools.pairwise(edges)]


def _send(session: Any, sql: str, arrow: Any) -> None:
    # chDB's Python() table function resolves `arrow` by name in the calling frame,
    # so the table must be a local called exactly `arrow` here (one per thread).
    session.query(sql)
