"""Bring a database to the newest schema: Alembic's `upgrade head`, run from code.

The migration history ships inside the package (bizdata/migrations/, package data),
and the Alembic configuration is built here, so nothing needs an alembic.ini or a
working directory at run time.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from ._engine import display_url, driver_message, open_engine
from ._errors import StoreError

__all__ = ["MIGRATIONS", "current_revision", "head_revision", "migrate"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock's key: nodes that start together migrate one after another.
_MIGRATION_LOCK = 0x62697A64  # "bizd"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # ConfigParser would read a % in the path as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in the package's history."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS}"
    return head


def migrate(url: str, *, password_env: str | None = None) -> str:
    """Upgrade the database at `url` to the newest revision and return it. Idempotent:
    an up-to-date database is left alone. On PostgreSQL the whole upgrade is one
    transaction, under a lock, so several nodes may start at once."""
    engine = open_engine(url, password_env=password_env)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            command.upgrade(_config(connection), "head")
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"{display_url(url)}: migration failed: {driver_message(exc)}") from exc
    finally:
        engine.dispose()
    assert revision is not None
    return revision


def current_revision(url: str, *, password_env: str | None = None) -> str | None:
    """The revision the database at `url` is at (None: never migrated)."""
    engine = open_engine(url, password_env=password_env)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"{display_url(url)}: {driver_message(exc)}") from exc
    finally:
        engine.dispose()
