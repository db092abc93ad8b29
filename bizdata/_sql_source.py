"""A data source that is a SQL query: an operator's database (kind `sql`), and the base
of our own store's account lookup (kind `store`)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Executable, text
from sqlalchemy.exc import SQLAlchemyError

from ._deadline import call_with_deadline
from ._engine import display_url, driver_message
from ._errors import DataSourceError

__all__ = ["SqlSource", "plain_record"]

# How often (in SQLite virtual-machine instructions) a statement checks its deadline.
_SQLITE_CHECK_EVERY = 1_000


class SqlSource:
    """`statement` with a `:key` parameter on `engine`; the first row is the record.

    The deadline holds for the caller (call_with_deadline) and in the database: on
    PostgreSQL the engine's statement_timeout (open_engine), on SQLite a progress
    handler that interrupts the statement. Open the engine read-only: the query is
    the operator's, and a lookup has no business writing.
    """

    kind = "sql"

    def __init__(
        self, name: str, engine: Engine, statement: str | Executable, *, deadline_ms: int
    ) -> None:
        self.name = name
        self.engine = engine
        self.statement = text(statement) if isinstance(statement, str) else statement
        self.deadline_ms = deadline_ms
        self.describe = f"data source {name!r} ({self.kind} {display_url(engine.url)})"

    def lookup(self, key: str) -> Mapping[str, object] | None:
        return call_with_deadline(lambda: self._query(key), self.deadline_ms, self.describe)

    def close(self) -> None:
        self.engine.dispose()

    def _query(self, key: str) -> dict[str, object] | None:
        try:
            with (
                self.engine.connect() as connection,
                _sqlite_deadline(connection, self.deadline_ms),
            ):
                row = connection.execute(self.statement, {"key": key}).first()
                connection.rollback()
        except SQLAlchemyError as exc:
            raise DataSourceError(f"{self.describe}: {driver_message(exc)}") from None
        return None if row is None else plain_record(row._mapping)


def plain_record(row: Mapping[Any, Any]) -> dict[str, object]:
    """The record as the IVR gets it: field name -> value, amounts exact (a driver's
    float becomes the Decimal it prints as)."""
    return {
        str(field): Decimal(repr(value)) if isinstance(value, float) else value
        for field, value in row.items()
    }


@contextmanager
def _sqlite_deadline(connection: Connection, deadline_ms: int) -> Iterator[None]:
    """On SQLite, interrupt the connection's statements once `deadline_ms` has passed
    (PostgreSQL keeps the engine's statement_timeout itself)."""
    raw = connection.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        yield
        return
    until = time.monotonic() + deadline_ms / 1000
    raw.set_progress_handler(lambda: time.monotonic() > until, _SQLITE_CHECK_EVERY)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)
