"""One source of migrations for both engines (analytics/_migrations.py).

Every migration is written once in `analytics/schema/` for the full schema; old
servers (Debian 12's ClickHouse 18.16) get it rewritten by `legacy_ddl`, or replaced
by an override in `schema/legacy/` where the rewrite cannot say it. These tests fail
when the engines drift: a number or name that only one engine has, an override
written for an older version of its source, a construct 18.16 lacks slipping through
the rewrite, or tables that end up with different columns. The real 18.16 server
applies the legacy migrations in test_analytics_clickhouse.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analytics import LEGACY, MODERN, load_migrations
from analytics._dialect import legacy_ddl
from analytics._migrations import (
    LEGACY_OVERRIDES,
    OVERRIDE_MARK,
    SCHEMA_DIR,
    legacy_override,
    split_statements,
    statements_digest,
)

# What 18.16 rejects or ignores, and the full schema uses (see _dialect.py).
NOT_ON_18_16 = (
    "LowCardinality",
    "DateTime64",
    "SimpleAggregateFunction",
    "CREATE OR REPLACE",
    "min_age_to_force_merge",
    "TTL ",
    "CODEC(",
    "toStartOfInterval",
    "ADD COLUMN IF NOT EXISTS",
)


def sources() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.sql"))


def test_both_engines_have_every_migration_under_the_same_number_and_name() -> None:
    modern = [(m.version, m.name) for m in load_migrations(dialect=MODERN)]
    legacy = [(m.version, m.name) for m in load_migrations(dialect=LEGACY)]
    # The names are what existing stores recorded in schema_migrations: never renamed.
    assert modern == legacy
    assert modern == [
        (1, "cdr"),
        (2, "cdr_leg"),
        (3, "agent_state_interval"),
        (4, "queue_interval_15m"),
        (5, "daily_parts_no_rollup"),
        (6, "cdr_ivr_result"),
        (7, "cdr_wrap_up_code"),
        (8, "recording_voicemail"),
        (9, "monitor_sessions"),
    ]


def test_legacy_is_the_rewrite_of_the_source_unless_an_override_is_declared() -> None:
    legacy = load_migrations(dialect=LEGACY)
    modern = load_migrations(dialect=MODERN)
    overridden = []
    for path, old, new in zip(sources(), legacy, modern, strict=True):
        assert new.statements == tuple(split_statements(path.read_text()))
        override = legacy_override(path)
        if override is None:
            assert old.statements == tuple(split_statements(legacy_ddl(path.read_text())))
        else:
            overridden.append(path.name)
            assert old.statements == tuple(split_statements(override.read_text()))
    assert overridden == ["005_daily_parts_no_rollup.sql", "009_monitor_sessions.sql"]


@pytest.mark.parametrize(
    "override", sorted((SCHEMA_DIR / LEGACY_OVERRIDES).glob("*.sql")), ids=lambda p: p.name
)
def test_an_override_is_written_for_its_source_as_it_is_now(override: Path) -> None:
    source = SCHEMA_DIR / override.name
    assert source.is_file(), f"{override} overrides a migration that does not exist"
    declared = re.findall(rf"^{re.escape(OVERRIDE_MARK)}\s*(\w+)\s*$", override.read_text(), re.M)
    now = statements_digest(source.read_text())
    assert declared == [now], (
        f"{source.name} changed since {override} was written for it: make the override "
        f"do the same on old servers, then set its line to `{OVERRIDE_MARK} {now}`"
    )


def test_legacy_migrations_use_nothing_an_18_16_server_lacks() -> None:
    for migration in load_migrations(dialect=LEGACY):
        for statement in migration.statements:
            found = [word for word in NOT_ON_18_16 if word in statement]
            assert not found, (
                f"migration {migration.version:03d}_{migration.name} uses {found} on old "
                "servers: teach _dialect.legacy_ddl to rewrite it, or add an override in "
                f"schema/{LEGACY_OVERRIDES}/"
            )


def _top_level_split(body: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    return [*parts, body[start:]]


_CREATE = re.compile(
    r"^CREATE (?:OR REPLACE )?(TABLE|MATERIALIZED VIEW) (?:IF NOT EXISTS )?\{db\}\.(\w+)"
    r"\s*(?:\((.*?)\)\s*ENGINE)?",
    re.S,
)
_DROP = re.compile(r"^DROP (?:TABLE|VIEW) IF EXISTS \{db\}\.(\w+)$")
# One column per ALTER (see schema/006_cdr_ivr_result.sql); AFTER places it.
_ADD_COLUMN = re.compile(
    r"^ALTER TABLE \{db\}\.(\w+) ADD COLUMN (?:IF NOT EXISTS )?(\w+)\s.*?(?:\sAFTER (\w+))?$",
    re.S,
)


def final_tables(dialect_migrations: list[list[str]]) -> dict[str, list[str]]:
    """Table -> column names in order once every migration ran (views: no columns)."""
    tables: dict[str, list[str]] = {}
    for statements in dialect_migrations:
        for statement in statements:
            if created := _CREATE.match(statement):
                body = created[3] or ""
                columns = [part.split()[0] for part in _top_level_split(body) if part.strip()]
                if created[1] == "TABLE" and "IF NOT EXISTS" in statement:
                    tables.setdefault(created[2], columns)
                else:
                    tables[created[2]] = columns
            elif dropped := _DROP.match(statement):
                tables.pop(dropped[1], None)
            elif added := _ADD_COLUMN.match(statement):
                columns = tables[added[1]]
                if added[2] not in columns:
                    at = columns.index(added[3]) + 1 if added[3] else len(columns)
                    columns.insert(at, added[2])
            else:
                pytest.fail(f"a statement this check does not read: {statement[:60]}")
    return tables


def test_both_engines_end_with_the_same_tables_and_columns() -> None:
    modern = final_tables([list(m.statements) for m in load_migrations(dialect=MODERN)])
    legacy = final_tables([list(m.statements) for m in load_migrations(dialect=LEGACY)])
    assert sorted(modern) == ["agent_state_interval", "cdr", "cdr_leg", "monitor_sessions"]
    assert modern == legacy
    # And at every step, not only at the end (a store may stop at any version).
    for n in range(1, len(sources())):
        steps = [list(m.statements) for m in load_migrations(dialect=MODERN)[:n]]
        old_steps = [list(m.statements) for m in load_migrations(dialect=LEGACY)[:n]]
        assert final_tables(steps) == final_tables(old_steps), n


def test_legacy_ddl_rewrites_types_and_simple_aggregate_states() -> None:
    sql = (
        "CREATE TABLE IF NOT EXISTS {db}.t\n(\n    q LowCardinality(String),\n"
        "    n LowCardinality(Nullable(String)),\n    at DateTime64(3, 'UTC'),\n"
        "    local DateTime64(3),\n    top SimpleAggregateFunction(max, Float64)\n)\n"
        "ENGINE = AggregatingMergeTree ORDER BY q;\n"
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v TO {db}.t AS\n"
        "SELECT q, n, at, local, max(toFloat64(w)) AS top, max(w) AS other FROM {db}.s;\n"
    )
    assert legacy_ddl(sql) == (
        "CREATE TABLE IF NOT EXISTS {db}.t\n(\n    q String,\n"
        "    n Nullable(String),\n    at DateTime('UTC'),\n"
        "    local DateTime,\n    top AggregateFunction(max, Float64)\n)\n"
        "ENGINE = AggregatingMergeTree ORDER BY q;\n"
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v TO {db}.t AS\n"
        "SELECT q, n, at, local, maxState(toFloat64(w)) AS top, max(w) AS other FROM {db}.s;\n"
    )
    assert MODERN.migration_sql(sql) == sql
    # 18.16 has no IF NOT EXISTS in ALTER; its store counts an existing column as added.
    alter = "ALTER TABLE {db}.t ADD COLUMN IF NOT EXISTS r LowCardinality(String) AFTER q"
    assert legacy_ddl(alter) == "ALTER TABLE {db}.t ADD COLUMN r String AFTER q"


def test_an_override_without_a_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("CREATE TABLE IF NOT EXISTS {db}.a (x UInt8);\n")
    (tmp_path / LEGACY_OVERRIDES).mkdir()
    (tmp_path / LEGACY_OVERRIDES / "001_a.sql").write_text("SELECT 1;\n")
    assert load_migrations(tmp_path, LEGACY)[0].statements == ("SELECT 1",)
    assert load_migrations(tmp_path, MODERN)[0].statements == (
        "CREATE TABLE IF NOT EXISTS {db}.a (x UInt8)",
    )
    (tmp_path / LEGACY_OVERRIDES / "002_b.sql").write_text("SELECT 2;\n")
    with pytest.raises(ValueError, match=r"overrides migrations that do not exist: \['002_b"):
        load_migrations(tmp_path, LEGACY)
