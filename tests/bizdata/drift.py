"""What separates a migrated database from the models: Alembic's autogenerate compare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bizdata import Base
from bizdata._models import is_search_object


def schema_drift(url: str) -> list[Any]:
    """The operations autogenerate would write to bring the database to the models
    (empty: they agree), types and server defaults included."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    # The search structures are the migration's alone (dialect-specific).
                    "include_name": lambda name, type_, _parent: (
                        not (type_ in ("table", "index") and is_search_object(name))
                    ),
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
