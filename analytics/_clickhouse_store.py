"""The server backend: a ClickHouse server through clickhouse-driver (native TCP).

Inserts go as `INSERT ... VALUES` with columnar data in batches of `batch_rows`;
`insert_dataframe` is deliberately not used (it breaks with pandas 3). Query
results are built into DataFrames here for the same reason.

The full schema uses DateTime64, LowCardinality and SimpleAggregateFunction, which
need a server >= 21. The server's version is read at connect (`SELECT version()`)
and an older server (Debian 12's 18.16) gets the reduced schema (the migrations
rewritten for it, see _migrations.py) and the matching report SQL
(`analytics._dialect.LEGACY`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException

from configuration import check_identifier

from ._columns import TABLE_COLUMNS, to_driver_columns
from ._dialect import Dialect, dialect_for_version, parse_version
from ._migrations import apply_migrations
from ._records import Records
from ._store import insert_records_by_table

# The server's error code for adding a column that is there (among others).
_ILLEGAL_COLUMN = 44


class ClickHouseStore:
    """CdrStore on a ClickHouse server. Many processes may share one server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        *,
        database: str = "callcenter",
        user: str = "default",
        password: str = "",
        batch_rows: int = 100_000,
        migrate: bool = True,
        connect_timeout: float = 5.0,
        send_receive_timeout: float = 60.0,
        dialect: Dialect | None = None,
    ) -> None:
        self.database = check_identifier(database)
        self.batch_rows = batch_rows
        self._client: Any = Client(
            host=host,
            port=port,
            user=user,
            password=password,
            connect_timeout=connect_timeout,
            send_receive_timeout=send_receive_timeout,
        )
        self.server_version = parse_version(str(self._client.execute("SELECT version()")[0][0]))
        self.dialect = dialect or dialect_for_version(self.server_version)
        if migrate:
            self.migrate()

    def migrate(self) -> list[int]:
        return apply_migrations(
            self._migration_step,
            self._applied,
            self.database,
            record=self._record,
            dialect=self.dialect,
        )

    def _migration_step(self, sql: str) -> None:
        """One migration statement. Old servers have no ADD COLUMN IF NOT EXISTS, so the
        rewrite drops the IF NOT EXISTS (_dialect.legacy_ddl) and this counts the
        server's "column already exists" as the statement done: a migration re-run after
        a crash between its ALTER and its record goes on instead of failing."""
        try:
            self._client.execute(sql)
        except ServerException as exc:
            if not (
                self.dialect.legacy
                and exc.code == _ILLEGAL_COLUMN
                and " ADD COLUMN " in f" {' '.join(sql.split())} "
                and "already exists" in str(exc)
            ):
                raise

    def _record(self, version: int, name: str) -> None:
        self._client.execute(
            f"INSERT INTO {self.database}.schema_migrations (version, name) VALUES",
            [(version, name)],
        )

    def schema_version(self) -> int:
        applied = self._applied()
        return max(applied) if applied else 0

    def execute(self, sql: str) -> None:
        self._client.execute(sql)

    def query_df(self, sql: str) -> pd.DataFrame:
        rows, types = self._client.execute(sql, with_column_types=True, columnar=True)
        names = [name for name, _ in types]
        if not rows:
            return pd.DataFrame({name: [] for name in names})
        return pd.DataFrame(
            {name: _numeric_nulls(col, typ) for (name, typ), col in zip(types, rows, strict=True)}
        )

    def insert_columns(self, table: str, columns: Mapping[str, Any]) -> int:
        if table not in TABLE_COLUMNS:
            raise ValueError(f"unknown table {table!r}")
        data = to_driver_columns(table, {k: list(v) for k, v in columns.items()})
        total = len(data[0]) if data else 0
        cols = ", ".join(TABLE_COLUMNS[table])
        sql = f"INSERT INTO {self.database}.{table} ({cols}) VALUES"
        for start in range(0, total, self.batch_rows):
            chunk = [col[start : start + self.batch_rows] for col in data]
            self._client.execute(sql, chunk, columnar=True, types_check=True)
        return total

    def insert_records(self, records: Records) -> int:
        return insert_records_by_table(self.insert_columns, records)

    def close(self) -> None:
        self._client.disconnect()

    def _applied(self) -> set[int]:
        exists = self._client.execute(
            "SELECT count() FROM system.tables WHERE database = %(db)s "
            "AND name = 'schema_migrations'",
            {"db": self.database},
        )
        if not exists[0][0]:
            return set()
        rows = self._client.execute(
            f"SELECT DISTINCT version FROM {self.database}.schema_migrations"  # noqa: S608
        )
        return {int(r[0]) for r in rows}


def _numeric_nulls(column: Any, type_name: str) -> Any:
    """A Nullable number column arrives as Python objects with None; give pandas floats
    with NaN, as chDB's DataFrames have, so both backends compare the same way."""
    values = list(column)
    inner = type_name.removeprefix("Nullable(")
    if inner == type_name or not inner.startswith(("Float", "Int", "UInt", "Decimal")):
        return values
    return [float("nan") if v is None else float(v) for v in values]
