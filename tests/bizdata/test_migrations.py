"""The one migration history on SQLite: from empty to head, again (nothing to do), and
the result is what the models say (PostgreSQL: test_postgres.py)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import bizdata
from bizdata._migrate import MIGRATIONS
from testbed import ROOT

from .drift import schema_drift, table_names


def test_upgrade_from_empty_then_again(sqlite_url: str) -> None:
    assert bizdata.current_revision(sqlite_url) is None
    head = bizdata.head_revision()
    assert bizdata.migrate(sqlite_url) == head
    assert {"customers", "accounts", "alembic_version"} <= table_names(sqlite_url)
    assert bizdata.migrate(sqlite_url) == head  # idempotent
    assert bizdata.current_revision(sqlite_url) == head


def test_the_models_and_the_migrations_agree(sqlite_url: str) -> None:
    bizdata.migrate(sqlite_url)
    assert schema_drift(sqlite_url) == []


def test_the_constraints_hold_after_migration(sqlite_url: str) -> None:
    """CHECK and foreign keys are enforced (SQLite: PRAGMA foreign_keys on every connection)."""
    bizdata.migrate(sqlite_url)
    engine = bizdata.open_engine(sqlite_url)
    try:
        with pytest.raises(Exception, match=r"ck_customers_language|CHECK"), engine.begin() as c:
            c.execute(text("INSERT INTO customers (name, phone, language) VALUES ('x', '1', 'fr')"))
        with pytest.raises(Exception, match="FOREIGN KEY"), engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO accounts (account_number, customer_id, service_address,"
                    " balance, status) VALUES ('12345674', 999, 'x', 0, 'active')"
                )
            )
    finally:
        engine.dispose()


def test_a_missing_directory_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'run' / 'data' / 'bizdata.sqlite'}"
    assert bizdata.migrate(url) == bizdata.head_revision()


def test_a_database_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_text("hello, I am not SQLite" * 100)
    with pytest.raises(bizdata.StoreError, match=r"not-a-db: migration failed: .*database"):
        bizdata.migrate(f"sqlite:///{tmp_path / 'not-a-db'}")


def test_a_bad_url_is_a_store_error() -> None:
    with pytest.raises(bizdata.StoreError, match="not a database URL"):
        bizdata.migrate("no url at all")
    with pytest.raises(bizdata.StoreError, match="nosuchdialect"):
        bizdata.migrate("nosuchdialect://host/db")


def test_the_password_comes_from_the_environment_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BIZDATA_TEST_PW", raising=False)
    with pytest.raises(bizdata.StoreError, match=r"BIZDATA_TEST_PW .*is not set"):
        bizdata.migrate("postgresql+psycopg://cc@127.0.0.1:1/cc", password_env="BIZDATA_TEST_PW")
    monkeypatch.setenv("BIZDATA_TEST_PW", "s3cret-pw")
    with pytest.raises(bizdata.StoreError) as failed:
        bizdata.migrate("postgresql+psycopg://cc@127.0.0.1:1/cc", password_env="BIZDATA_TEST_PW")
    assert "s3cret-pw" not in str(failed.value)
    assert "cc@127.0.0.1:1/cc: migration failed: connection failed" in str(failed.value)


def test_every_migration_file_ships_in_the_package() -> None:
    """pyproject's package-data lists the migration files: an installed (non-editable)
    package migrates too."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["bizdata"]
    package = MIGRATIONS.parent
    files = [
        p.relative_to(package).as_posix()
        for p in MIGRATIONS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert "migrations/env.py" in files
    assert any(f.startswith("migrations/versions/0001_") for f in files)
    missing = [f for f in files if not any(fnmatch(f, g) for g in globs)]
    assert missing == []


def test_revisions_are_numbered_in_one_line() -> None:
    """One history: each revision's id is its file's number, and each follows the last."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1
    revisions = list(reversed(list(script.walk_revisions())))
    for number, revision in enumerate(revisions, start=1):
        assert revision.revision == f"{number:04d}"
        assert revision.down_revision == (None if number == 1 else f"{number - 1:04d}")
        assert Path(revision.path).name.startswith(f"{number:04d}_")


def test_in_memory_stores_are_not_shared_files() -> None:
    # `sqlite://` (memory) is a valid store for a throwaway check; each engine its own.
    engine = create_engine("sqlite://")
    engine.dispose()
    assert bizdata.migrate("sqlite://") == bizdata.head_revision()
