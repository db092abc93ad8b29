"""Engines for the store and for operators' databases: the URL a config means, its
password from the environment, and the per-dialect settings every connection needs."""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from configuration import BizdataSection, RunLayout

from ._errors import StoreError

__all__ = ["display_url", "driver_message", "open_engine", "parse_url", "resolve_url", "store_url"]

# How long a SQLite writer waits for another one's lock (seconds) when no deadline is
# given: a migration or the demo seed while controllers read.
SQLITE_BUSY_S = 10.0


def store_url(section: BizdataSection | None, run_dir: Path) -> str:
    """The store's URL: `section.url` (resolve_url), or without one the SQLite file in
    the run directory's data/ (RunLayout.bizdata_db)."""
    if section is None or section.url is None:
        return f"sqlite:///{RunLayout(run_dir).bizdata_db}"
    return resolve_url(section.url, run_dir)


def resolve_url(url: str, base_dir: Path) -> str:
    """`url`, a relative SQLite path in it taken from `base_dir` (the run directory)."""
    parsed = parse_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        path = Path(database)
        if not database.startswith("file:") and not path.is_absolute():
            parsed = parsed.set(database=str(base_dir / path))
    return parsed.render_as_string(hide_password=False)


def display_url(url: str | URL) -> str:
    """The URL with any password masked, for messages and logs."""
    parsed = url if isinstance(url, URL) else parse_url(url)
    return parsed.render_as_string(hide_password=True)


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r} ({exc})") from None


def open_engine(
    url: str,
    *,
    password_env: str | None = None,
    deadline_ms: int | None = None,
    read_only: bool = False,
    pool_size: int | None = None,
) -> Engine:
    """An engine for `url`, its password read from the environment variable
    `password_env` (StoreError when it is not set).

    With `deadline_ms`, waiting for a lock or a connection gives up after about that
    long, and so does a statement on PostgreSQL (statement_timeout; on SQLite the
    caller interrupts its own, see _sql_lookup). `read_only`: the connections refuse
    writes (an operator's database, and lookups in ours). `pool_size`: at most that
    many connections, and a thread wanting one more waits its turn (SQLAlchemy's
    default: 5, and 10 more while busy). A server with many worker threads keeps it
    near the cores: more statements at once only queue for the CPU (and, in this
    process, for the GIL) in a less orderly way.

    SQLite: foreign keys on, WAL unless read-only (readers never wait for the
    writer), the parent directory created. Parameters are hidden from error messages
    and logs: a key may be digits a caller typed in a sensitive node.
    """
    parsed = parse_url(url)
    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise StoreError(
                f"{display_url(parsed)}: environment variable {password_env} "
                "(password_env) is not set"
            )
        parsed = parsed.set(password=password)
    wait_s = SQLITE_BUSY_S if deadline_ms is None else deadline_ms / 1000
    options: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": True}
    if pool_size is not None:
        options["pool_size"] = pool_size
        options["max_overflow"] = 0
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": wait_s}
    elif backend == "postgresql":
        server_options = []
        if deadline_ms is not None:
            server_options += [f"-c statement_timeout={deadline_ms}"]
            server_options += [f"-c lock_timeout={deadline_ms}"]
        if read_only:
            server_options += ["-c default_transaction_read_only=on"]
        # libpq counts whole seconds, and takes anything below 2 as 2.
        options["connect_args"] = {
            "connect_timeout": max(2, math.ceil(wait_s)),
            **({"options": " ".join(server_options)} if server_options else {}),
        }
        options["pool_timeout"] = wait_s
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, ImportError) as exc:  # an unknown dialect, a missing driver
        raise StoreError(f"{display_url(parsed)}: {exc}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(read_only=read_only))
    return engine


def _sqlite_pragmas(*, read_only: bool) -> Callable[[sqlite3.Connection, object], None]:
    def on_connect(connection: sqlite3.Connection, _record: object) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
            else:
                # Persistent in the file: the store is WAL from its first migration on.
                # Read-only engines leave a file's mode alone (an operator's database).
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    return on_connect


def driver_message(exc: Exception) -> str:
    """The first line of the driver's own words: SQLAlchemy's text adds the SQL and a
    link, and a driver's extra lines (DETAIL) may quote values."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
