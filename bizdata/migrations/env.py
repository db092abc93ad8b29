"""Alembic's environment for the store's one migration history.

`bizdata.migrate(url)` runs it with a connection of its own in
`config.attributes["connection"]` (no alembic.ini at run time). A developer writing a
new revision runs Alembic's CLI against a scratch database instead:

    alembic -c bizdata/migrations/alembic.ini -x url=sqlite:////tmp/draft.sqlite upgrade head
    alembic -c bizdata/migrations/alembic.ini -x url=sqlite:////tmp/draft.sqlite \
        revision --autogenerate -m "what it adds"
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from bizdata._engine import open_engine
from bizdata._models import Base, is_search_object


def _compared(name: str | None, type_: str, _parent: Any) -> bool:
    """Whether autogenerate compares this object: not the dialect-specific search
    structures, which only the migration knows (docs/bizdata.md, "Search")."""
    return not (type_ in ("table", "index") and is_search_object(name))


def configure(**where: Any) -> None:
    """Alembic's context for `where` (a connection, or a URL for offline SQL)."""
    context.configure(
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead, and
        # the naming convention gives every constraint a name to find it by.
        render_as_batch=True,
        compare_type=True,
        compare_server_default=True,
        include_name=_compared,
        **where,
    )


def run(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if context.is_offline_mode():
    configure(url=context.get_x_argument(as_dictionary=True)["url"])
    with context.begin_transaction():
        context.run_migrations()
elif given is not None:
    run(given)
else:
    engine = open_engine(context.get_x_argument(as_dictionary=True)["url"])
    try:
        with engine.connect() as connection:
            run(connection)
            connection.commit()
    finally:
        engine.dispose()
