"""Migration 0002 (the desk's tables and the search structures) on SQLite and on
PostgreSQL: over a store that already holds customers, down again, and up again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

import bizdata
from bizdata._migrate import _config
from testbed import create_database

from .drift import schema_drift, table_names

DESK_TABLES = {"complaints", "tickets", "ticket_events", "call_wrap_ups"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A function giving the URL of a new, empty store."""

    def make(name: str) -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite"
        return create_database(request.getfixturevalue("postgres_url"), name)

    return make


def alembic(url: str, action: Callable[..., None], revision: str) -> None:
    engine = bizdata.open_engine(url)
    try:
        with engine.begin() as connection:
            action(_config(connection), revision)
    finally:
        engine.dispose()


def search_objects(url: str) -> set[str]:
    engine = bizdata.open_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                rows = connection.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger', 'index')"
                    )
                )
            else:
                rows = connection.execute(text("SELECT indexname FROM pg_indexes"))
            return {name for (name,) in rows if bizdata._models.is_search_object(name)}
    finally:
        engine.dispose()


def test_0002_over_a_store_with_customers_then_down_and_up(fresh_url: Callable[[str], str]) -> None:
    url = fresh_url("over_data")
    alembic(url, command.upgrade, "0001")
    engine = bizdata.open_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO customers (name, phone, language)"
                    " VALUES ('诸葛亮', '13500000001', 'zh')"
                )
            )
        assert bizdata.migrate(url) == bizdata.head_revision()
        assert table_names(url) >= DESK_TABLES
        assert schema_drift(url) == []
        (found,) = bizdata.search_customers(engine, "诸葛亮")  # indexed when the search was built
        assert (found["customer_type"], found["address"]) == ("resident", None)
        record = bizdata.get_customer(engine, found["id"])
        assert (record["version"], record["created_at"]) == (1, None)
        updated = bizdata.update_customer(
            engine, found["id"], {"notes": "老客户"}, version=1, by="a"
        )
        assert updated["version"] == 2 and updated["updated_at"] is not None
        assert search_objects(url)
        bizdata.seed_demo(url)  # accounts referring to customers, while those are copied

        alembic(url, command.downgrade, "0001")
        assert not DESK_TABLES & table_names(url)
        assert search_objects(url) == set()
        columns = {c["name"] for c in inspect(engine).get_columns("customers")}
        assert columns == {"id", "name", "phone", "language"}

        assert bizdata.migrate(url) == bizdata.head_revision()
        assert schema_drift(url) == []
        assert [c["name"] for c in bizdata.search_customers(engine, "诸葛亮")] == ["诸葛亮"]
        assert bizdata.find_customer_for_call(engine, account="12345674", phone=None)
    finally:
        engine.dispose()


def test_the_search_structures_are_made_for_the_dialect(fresh_url: Callable[[str], str]) -> None:
    url = fresh_url("search_objects")
    bizdata.migrate(url)
    if url.startswith("sqlite"):
        expected = {
            *(f"{t}_search" for t in ("customers", "accounts", "complaints")),
            *(
                f"{t}_search_{trigger}"
                for t in ("customers", "accounts", "complaints")
                for trigger in ("insert", "delete", "update")
            ),
            "ix_customers_name_prefix",
        }
    else:
        expected = {
            "ix_customers_name_trgm",
            "ix_customers_phone_trgm",
            "ix_accounts_account_number_trgm",
            "ix_complaints_description_trgm",
            "ix_customers_name_prefix",
            "ix_customers_phone_prefix",
            "ix_accounts_account_number_prefix",
        }
    assert expected <= search_objects(url)
