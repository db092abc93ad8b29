"""The store on PostgreSQL, Debian's server (one cluster for this module): the same
migration history, the demo seed, lookups and their deadlines."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

import bizdata
from bizdata import DataSourceError
from configuration import BizdataSection
from testbed import create_database, wait_until

from .drift import schema_drift, table_names


def test_upgrade_from_empty_then_again(postgres_url: str) -> None:
    url = create_database(postgres_url, "migrate_twice")
    assert bizdata.current_revision(url) is None
    assert bizdata.migrate(url) == bizdata.head_revision()
    assert {"customers", "accounts", "alembic_version"} <= table_names(url)
    assert bizdata.migrate(url) == bizdata.head_revision()


def test_the_models_and_the_migrations_agree(postgres_url: str) -> None:
    url = create_database(postgres_url, "drift")
    bizdata.migrate(url)
    assert schema_drift(url) == []


def test_nodes_that_start_together_migrate_one_after_the_other(postgres_url: str) -> None:
    url = create_database(postgres_url, "together")
    results: list[object] = []

    def node() -> None:
        try:
            results.append(bizdata.migrate(url))
        except Exception as exc:  # collected: the test says which
            results.append(exc)

    threads = [threading.Thread(target=node) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [bizdata.head_revision()] * 3


def test_seed_and_look_up(postgres_url: str, tmp_path: Path) -> None:
    url = create_database(postgres_url, "seeded")
    assert bizdata.seed_demo(url) == len(bizdata.demo_accounts())
    assert bizdata.seed_demo(url) == 0
    section = BizdataSection(url=url)
    sources = bizdata.open_sources(section, tmp_path)
    try:
        record = sources["accounts"].lookup("12345674")
        assert record is not None
        assert (record["balance"], record["due_date"], record["customer_name"]) == (
            Decimal("123.45"),
            date(2026, 12, 31),
            "张伟",
        )
        large = sources["accounts"].lookup("88888888")
        assert large is not None
        assert large["balance"] == Decimal("1234567.80")
        assert sources["accounts"].lookup("12345675") is None
    finally:
        bizdata.close_sources(sources)


def test_a_slow_operator_query_is_cancelled_at_its_deadline(
    postgres_url: str, tmp_path: Path
) -> None:
    section = BizdataSection.model_validate(
        {
            "sources": {
                "slow": {
                    "kind": "sql",
                    "url": postgres_url,
                    "query": "SELECT pg_sleep(30) AS slept WHERE :key IS NOT NULL",
                    "deadline_ms": 200,
                }
            }
        }
    )
    sources = bizdata.open_sources(section, tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(DataSourceError, match=r"'slow' \(sql postgresql\+psycopg://"):
            sources["slow"].lookup("1")
        assert time.monotonic() - started < 1.5
    finally:
        bizdata.close_sources(sources)
    # statement_timeout ended it in the server too: nothing is left sleeping there.
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")

    def nobody_sleeps() -> bool:
        with psycopg.connect(conninfo) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'"
            ).fetchone()
        return row is not None and row[0] == 0

    wait_until(nobody_sleeps, timeout=5, what="the slow statement to end in the server")


def test_an_operator_query_cannot_write(postgres_url: str, tmp_path: Path) -> None:
    url = create_database(postgres_url, "operator")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute("CREATE TABLE bills (acct text PRIMARY KEY, owed numeric(12, 2))")
        connection.execute("INSERT INTO bills VALUES ('5550001', 42.10)")
    section = BizdataSection.model_validate(
        {
            "sources": {
                "bills": {
                    "kind": "sql",
                    "url": url,
                    "query": "SELECT acct, owed AS balance FROM bills WHERE acct = :key",
                },
                "sneaky": {
                    "kind": "sql",
                    "url": url,
                    "query": "WITH gone AS (DELETE FROM bills RETURNING acct) "
                    "SELECT * FROM gone WHERE acct = :key",
                },
            }
        }
    )
    sources = bizdata.open_sources(section, tmp_path)
    try:
        assert sources["bills"].lookup("5550001") == {
            "acct": "5550001",
            "balance": Decimal("42.10"),
        }
        with pytest.raises(DataSourceError, match="read-only transaction"):
            sources["sneaky"].lookup("5550001")
        assert sources["bills"].lookup("5550001") is not None
    finally:
        bizdata.close_sources(sources)
