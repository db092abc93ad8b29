"""The storage interface every backend implements."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import pandas as pd  # type: ignore[import-untyped]

from ._columns import rows_to_columns
from ._dialect import Dialect
from ._records import Records


@runtime_checkable
class CdrStore(Protocol):
    """Where CDRs, legs and agent intervals live, and where reports run.

    Writes are idempotent: inserting the same records twice leaves the same data
    (ReplacingMergeTree keyed per call / leg / interval, version from the builder).
    """

    database: str
    # The SQL generation the store speaks (MODERN, or LEGACY for servers < 21).
    dialect: Dialect

    def migrate(self) -> list[int]:
        """Apply pending schema migrations; return the versions applied."""
        ...

    def schema_version(self) -> int:
        """The highest applied migration (0 for an empty store)."""
        ...

    def insert_records(self, records: Records) -> int:
        """Insert everything in `records` (batched per table); return rows written."""
        ...

    def insert_columns(self, table: str, columns: Mapping[str, Any]) -> int:
        """Bulk insert one table from column arrays; return rows written."""
        ...

    def execute(self, sql: str) -> None:
        """Run one statement that returns nothing."""
        ...

    def query_df(self, sql: str) -> pd.DataFrame:
        """Run one SELECT and return its result as a DataFrame."""
        ...

    def close(self) -> None: ...


def insert_records_by_table(
    insert_columns: Callable[[str, Mapping[str, Any]], int], records: Records
) -> int:
    """Insert each table's rows as one columnar batch; every backend writes the same way."""
    written = 0
    for table, rows in (
        ("cdr", records.cdrs),
        ("cdr_leg", records.legs),
        ("agent_state_interval", records.intervals),
        ("monitor_sessions", records.sessions),
    ):
        if rows:
            written += insert_columns(table, rows_to_columns(table, rows))
    return written
