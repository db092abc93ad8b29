"""The embedded backend: chDB (the ClickHouse engine in-process) owning a data dir.

chDB facts that shape this class (docs/analytics.md, DESIGN.md):
- One process per data directory: a second process cannot lock it. So exactly one
  service (the CDR collector) owns the store; dashboards and other services ask
  that service, or read a ClickHouse server instead.
- One data directory per process: the embedded engine is initialised with the
  first path opened and refuses another path until every session is closed. Tests
  therefore open, use and close one store at a time.
- Each INSERT costs about 14 ms whatever its size, so callers batch; rows travel as
  one Arrow IPC stream per table per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
from chdb import session as chdb_session

from ._columns import TABLE_COLUMNS, arrow_stream_bytes, to_arrow
from ._dialect import MODERN
from ._migrations import apply_migrations, check_identifier
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
        return apply_migrations(
            self.execute, self._applied, self.database, self.dialect.schema_dir
        )

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
        sql = f"INSERT INTO {self.database}.{table} ({cols}) SETTINGS optimize_on_insert = 0"
        with self._lock:
            if self.insert_threads == 1 or arrow.num_rows < self.parallel_min_rows:
                _send(self._session, sql, arrow)
            else:
                while len(self._extra) < self.insert_threads - 1:
                    self._extra.append(chdb_session.Session(str(self.path)))  # type: ignore[no-untyped-call]
                sessions = [self._session, *self._extra]
                step = -(-arrow.num_rows // len(sessions))
                errors: list[BaseException] = []

                def work(sess: Any, part: Any) -> None:
                    try:
                        _send(sess, sql, part)
                    except BaseException as exc:  # re-raised below in the caller
                        errors.append(exc)

                workers = [
                    threading.Thread(target=work, args=(sess, arrow.slice(i * step, step)))
                    for i, sess in enumerate(sessions)
                ]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                if errors:
                    raise errors[0]
        # The engine's rows_written also counts rows written by materialized views.
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


def _send(session: Any, sql: str, arrow: Any) -> None:
    inserter = session.send_insert(sql, "ArrowStream")
    try:
        inserter.append(arrow_stream_bytes(arrow))
        inserter.finish()
    except BaseException:
        inserter.cancel()
        raise
