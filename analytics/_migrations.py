"""Numbered, idempotent schema migrations with a recorded version.

Files are `schema/NNN_name.sql`, one per migration for every engine: each is
written for the full schema, and old servers (`Dialect.legacy`) get it rewritten by
`_dialect.legacy_ddl`. Where the rewrite cannot express a migration, a file of the
same name in `schema/legacy/` replaces it whole on old servers; its
`-- legacy override of: <digest>` line names the digest (`statements_digest`) of the
`schema/` statements it was written for, so tests fail when the two drift.

Each statement is idempotent (IF NOT EXISTS), so re-running a half-applied
migration is safe. `{db}` is replaced by the database name. Applied versions are
recorded in `{db}.schema_migrations` by number and name, the same on every engine.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from configuration import check_identifier

from ._dialect import MODERN, Dialect

SCHEMA_DIR: Final = Path(__file__).with_name("schema")
# Under a migrations directory: whole-file replacements for old servers.
LEGACY_OVERRIDES: Final = "legacy"
OVERRIDE_MARK: Final = "-- legacy override of:"
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


def statements_digest(sql: str) -> str:
    """A short digest of a migration's statements (comments and layout left out)."""
    text = ";\n".join(" ".join(stmt.split()) for stmt in split_statements(sql))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def legacy_override(path: Path) -> Path | None:
    """The old servers' replacement of migration `path`, if it has one."""
    override = path.parent / LEGACY_OVERRIDES / path.name
    return override if override.is_file() else None


def migration_sql(path: Path, dialect: Dialect = MODERN) -> str:
    """The text of migration `path` for a server of `dialect`."""
    if dialect.legacy:
        override = legacy_override(path)
        if override is not None:
            return override.read_text()
    return dialect.migration_sql(path.read_text())


def load_migrations(directory: Path = SCHEMA_DIR, dialect: Dialect = MODERN) -> list[Migration]:
    found: list[Migration] = []
    paths = sorted(directory.glob("*.sql"))
    for path in paths:
        match = _FILE.match(path.name)
        if match is None:
            raise ValueError(f"migration file name must be NNN_name.sql: {path.name}")
        found.append(
            Migration(
                int(match[1]), match[2], tuple(split_statements(migration_sql(path, dialect)))
            )
        )
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations must be numbered 001, 002, ... without gaps: {versions}")
    names = {path.name for path in paths}
    orphans = sorted(
        p.name for p in (directory / LEGACY_OVERRIDES).glob("*.sql") if p.name not in names
    )
    if orphans:
        raise ValueError(
            f"{directory / LEGACY_OVERRIDES} overrides migrations that do not exist: {orphans}"
        )
    return found


def apply_migrations(
    execute: Callable[[str], None],
    applied_versions: Callable[[], set[int]],
    database: str,
    directory: Path = SCHEMA_DIR,
    record: Callable[[int, str], None] | None = None,
    *,
    dialect: Dialect = MODERN,
) -> list[int]:
    """Create the database and apply every migration not yet recorded.

    Returns the versions applied by this call (empty when up to date). A migration is
    recorded only after all its statements ran, so a crash re-runs it (idempotent).
    `record(version, name)` replaces the default INSERT text (clickhouse-driver
    against 18.16 hangs on an INSERT with inline VALUES; it sends the row as data).
    `dialect` picks each migration's text for the server (see the module doc).
    """
    db = check_identifier(database)
    execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    execute(VERSION_TABLE_SQL.replace("{db}", db))
    done = applied_versions()
    applied: list[int] = []
    for migration in load_migrations(directory, dialect):
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
