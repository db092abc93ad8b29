"""Numbered, idempotent schema migrations with a recorded version.

Files are `schema/NNN_name.sql`; each statement is idempotent (IF NOT EXISTS), so
re-running a half-applied migration is safe. `{db}` is replaced by the database
name. Applied versions are recorded in `{db}.schema_migrations`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from configuration import check_identifier

SCHEMA_DIR: Final = Path(__file__).with_name("schema")
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

VERSION_TABLE_SQL: Final = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(sql: str) -> list[str]:
    """Split a migration file into statements. Comments are whole `--` lines and
    statements end with `;` at the end of a line (no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines)
    return [stmt.strip() for stmt in re.split(r";\s*$", text, flags=re.M) if stmt.strip()]


def load_migrations(directory: Path = SCHEMA_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise ValueError(f"migration file name must be NNN_name.sql: {path.name}")
        found.append(
            Migration(int(match[1]), match[2], tuple(split_statements(path.read_text())))
        )
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 001, 002, ... without gaps: {versions}")
    return found


def apply_migrations(
    execute: Callable[[str], None],
    applied_versions: Callable[[], set[int]],
    database: str,
    directory: Path = SCHEMA_DIR,
    record: Callable[[int, str], None] | None = None,
) -> list[int]:
    """Create the database and apply every migration not yet recorded.

    Returns the versions applied by this call (empty when up to date). A migration is
    recorded only after all its statements ran, so a crash re-runs it (idempotent).
    `record(version, name)` replaces the default INSERT text (clickhouse-driver
    against 18.16 hangs on an INSERT with inline VALUES; it sends the row as data).
    """
    db = check_identifier(database)
    execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    execute(VERSION_TABLE_SQL.replace("{db}", db))
    done = applied_versions()
    applied: list[int] = []
    for migration in load_migrations(directory):
        if migration.version in done:
            continue
        for statement in migration.statements:
            execute(statement.replace("{db}", db))
        if record is not None:
            record(migration.version, migration.name)
        else:
            execute(
                f"INSERT INTO {db}.schema_migrations (version, name) "  # noqa: S608  (checked)
                f"VALUES ({migration.version}, '{migration.name}')"
            )
        applied.append(migration.version)
    return applied
