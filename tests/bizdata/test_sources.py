"""The data sources lookups go to (R-INT-1): our store, an operator's SQL database and an
operator's HTTP API (the example one, as a process), with their errors and deadlines.
PostgreSQL's side is in test_postgres.py."""

from __future__ import annotations

import http.server
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

import bizdata
from bizdata import DataSource, DataSourceError
from configuration import BizdataSection

from .conftest import BillingApi


def _section(data: dict[str, object]) -> BizdataSection:
    return BizdataSection.model_validate(data)


@pytest.fixture
def seeded(sqlite_url: str) -> str:
    bizdata.seed_demo(sqlite_url)
    return sqlite_url


@pytest.fixture
def sources(seeded: str, tmp_path: Path) -> Iterator[dict[str, DataSource]]:
    opened = bizdata.open_sources(_section({"url": seeded}), tmp_path)
    yield opened
    bizdata.close_sources(opened)


def test_the_store_finds_an_account_by_number(sources: dict[str, DataSource]) -> None:
    accounts = sources["accounts"]
    assert isinstance(accounts, DataSource)
    record = accounts.lookup("12345674")
    assert record is not None
    assert dict(record) == {
        "account_number": "12345674",
        "customer_name": "张伟",
        "customer_phone": "13912345678",
        "language": "zh",
        "service_address": "北京市朝阳区建国路88号3单元502室",
        "balance": Decimal("123.45"),
        "due_date": date(2026, 12, 31),
        "status": "active",
        "last_payment_date": date(2026, 11, 30),
        "last_payment_amount": Decimal("200.00"),
    }
    assert tuple(record) == bizdata.ACCOUNT_FIELDS
    large = accounts.lookup("88888888")
    assert large is not None
    assert (large["balance"], large["language"]) == (Decimal("1234567.80"), "en")
    closed = accounts.lookup("99999997")
    assert closed is not None
    assert (closed["status"], closed["due_date"]) == ("closed", None)


@pytest.mark.parametrize("key", ["12345675", "", "1' OR '1'='1", "%", "１２３４５６７４"])
def test_the_store_says_not_found(sources: dict[str, DataSource], key: str) -> None:
    assert sources["accounts"].lookup(key) is None


def test_the_default_store_is_in_the_run_directory(tmp_path: Path) -> None:
    bizdata.seed_demo(bizdata.store_url(None, tmp_path))
    assert (tmp_path / "data" / "bizdata.sqlite").exists()
    opened = bizdata.open_sources(None, tmp_path)
    try:
        assert list(opened) == ["accounts"]
        record = opened["accounts"].lookup("10000008")
        assert record is not None
        assert record["balance"] == 0
    finally:
        bizdata.close_sources(opened)


def test_a_relative_sqlite_path_starts_in_the_run_directory(tmp_path: Path) -> None:
    section = _section({"url": "sqlite:///store/b.sqlite"})
    assert bizdata.store_url(section, tmp_path) == f"sqlite:///{tmp_path}/store/b.sqlite"


def test_an_unmigrated_store_is_an_error_without_the_key(tmp_path: Path) -> None:
    opened = bizdata.open_sources(None, tmp_path)
    try:
        with pytest.raises(DataSourceError) as failed:
            opened["accounts"].lookup("12345674")
    finally:
        bizdata.close_sources(opened)
    message = str(failed.value)
    assert message.startswith("data source 'accounts' (store sqlite:///")
    assert "no such table" in message or "unable to open" in message
    assert "12345674" not in message


def test_lookups_cannot_write(seeded: str, tmp_path: Path) -> None:
    opened = bizdata.open_sources(
        _section(
            {
                "url": seeded,
                "sources": {
                    "sneaky": {
                        "kind": "sql",
                        "url": seeded,
                        "query": "WITH x AS (SELECT :key AS k) DELETE FROM accounts",
                    }
                },
            }
        ),
        tmp_path,
    )
    try:
        with pytest.raises(DataSourceError, match=r"readonly|read-only|attempt to write"):
            opened["sneaky"].lookup("1")
        assert opened["accounts"].lookup("12345674") is not None
    finally:
        bizdata.close_sources(opened)


# An operator's own database: their schema, their column names, their query.
BILLS = """
CREATE TABLE bills (acct TEXT PRIMARY KEY, holder TEXT, owed REAL, due TEXT, lang TEXT);
INSERT INTO bills VALUES ('5550001', 'Operator Customer', 42.1, '2027-01-31', 'en');
"""
BILL_QUERY = (
    "SELECT acct AS account_number, holder AS customer_name, owed AS balance,"
    " due AS due_date, lang AS language FROM bills WHERE acct = :key"
)


@pytest.fixture
def operator_db(tmp_path: Path) -> str:
    path = tmp_path / "operator.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(BILLS)
    connection.close()
    return f"sqlite:///{path}"


def test_an_operator_sql_database(operator_db: str, tmp_path: Path) -> None:
    section = _section(
        {"sources": {"accounts": {"kind": "sql", "url": operator_db, "query": BILL_QUERY}}}
    )
    opened = bizdata.open_sources(section, tmp_path)
    try:
        record = opened["accounts"].lookup("5550001")
        assert record == {
            "account_number": "5550001",
            "customer_name": "Operator Customer",
            "balance": Decimal("42.1"),  # a REAL: exact as printed, not 42.100000000000001
            "due_date": "2027-01-31",
            "language": "en",
        }
        assert opened["accounts"].lookup("5550002") is None
    finally:
        bizdata.close_sources(opened)


def test_an_operator_query_that_fails(operator_db: str, tmp_path: Path) -> None:
    section = _section(
        {
            "sources": {
                "crm": {
                    "kind": "sql",
                    "url": operator_db,
                    "query": "SELECT * FROM no_such_table WHERE id = :key",
                }
            }
        }
    )
    opened = bizdata.open_sources(section, tmp_path)
    try:
        with pytest.raises(DataSourceError) as failed:
            opened["crm"].lookup("5550001")
    finally:
        bizdata.close_sources(opened)
    assert str(failed.value) == (
        f"data source 'crm' (sql {operator_db}): no such table: no_such_table"
    )


def test_a_slow_sqlite_query_is_interrupted_at_its_deadline(
    operator_db: str, tmp_path: Path
) -> None:
    # Counting to a billion takes SQLite minutes; the deadline stops it in the database.
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000)"
        " SELECT count(*) AS c FROM n WHERE :key IS NOT NULL"
    )
    section = _section(
        {
            "sources": {
                "slow": {"kind": "sql", "url": operator_db, "query": slow, "deadline_ms": 150}
            }
        }
    )
    opened = bizdata.open_sources(section, tmp_path)
    slow_source = opened["slow"]
    assert isinstance(slow_source, bizdata.SqlSource)
    try:
        started = time.monotonic()
        with pytest.raises(DataSourceError, match=r"'slow'.*(within 150 ms|interrupted)"):
            slow_source.lookup("1")
        assert time.monotonic() - started < 1.0
        # The statement itself stopped: the pool has its connection back, idle.
        pool = slow_source.engine.pool
        assert _wait(lambda: pool.checkedout() == 0), "the SQLite statement kept running"
    finally:
        bizdata.close_sources(opened)


def _wait(condition: object, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_missing_password_variable_names_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_TEST_PASSWORD", raising=False)
    section = _section(
        {
            "sources": {
                "crm": {
                    "kind": "sql",
                    "url": "postgresql+psycopg://reader@crm.example/crm",
                    "password_env": "CRM_TEST_PASSWORD",
                    "query": BILL_QUERY,
                }
            }
        }
    )
    with pytest.raises(
        DataSourceError,
        match=r"data source 'crm': .*environment variable CRM_TEST_PASSWORD .*is not set",
    ):
        bizdata.open_sources(section, tmp_path)


# --- an operator's HTTP API -------------------------------------------------------------


def _http(api: BillingApi, *, deadline_ms: int = 2000, token_env: str = "BILLING_TOKEN") -> dict:
    return {
        "sources": {
            "billing": {
                "kind": "http",
                "url": api.base + "{key}",
                "headers_env": {"Authorization": token_env},
                "deadline_ms": deadline_ms,
            }
        }
    }


@pytest.fixture
def token(billing_api: BillingApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_TOKEN", f"Bearer {billing_api.token}")


@pytest.mark.usefixtures("token")
def test_an_operator_http_api(billing_api: BillingApi, tmp_path: Path) -> None:
    opened = bizdata.open_sources(_section(_http(billing_api)), tmp_path)
    try:
        record = opened["billing"].lookup("12345674")
        assert record == {
            "account_number": "12345674",
            "customer_name": "张伟",
            "language": "zh",
            "balance": Decimal("123.45"),
            "due_date": "2026-12-31",
            "status": "active",
        }
        large = opened["billing"].lookup("88888888")
        assert large is not None
        assert large["balance"] == Decimal("1234567.8")
        assert opened["billing"].lookup("12345675") is None  # 404
        # Quoted into the path: a key cannot walk elsewhere on the server.
        assert opened["billing"].lookup("../accounts/12345674") is None
    finally:
        bizdata.close_sources(opened)


def test_a_refused_credential(
    billing_api: BillingApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_TOKEN", "Bearer wrong")
    opened = bizdata.open_sources(_section(_http(billing_api)), tmp_path)
    with pytest.raises(DataSourceError) as failed:
        opened["billing"].lookup("12345674")
    assert str(failed.value) == (
        f"data source 'billing' (http GET {billing_api.base}{{key}}): HTTP 401 Unauthorized"
    )


def test_a_missing_header_variable(billing_api: BillingApi, tmp_path: Path) -> None:
    with pytest.raises(
        DataSourceError,
        match=r"'billing': environment variable NO_SUCH_VAR_BIZ \(headers_env for Authorization\)",
    ):
        bizdata.open_sources(_section(_http(billing_api, token_env="NO_SUCH_VAR_BIZ")), tmp_path)


@pytest.mark.usefixtures("token")
def test_an_api_that_hangs_misses_its_deadline(billing_api: BillingApi, tmp_path: Path) -> None:
    opened = bizdata.open_sources(_section(_http(billing_api, deadline_ms=200)), tmp_path)
    assert opened["billing"].lookup("12345674") is not None
    billing_api.stop()  # SIGSTOP: connections are accepted, nothing is answered
    started = time.monotonic()
    with pytest.raises(DataSourceError, match=r"'billing' .*: no answer within 200 ms"):
        opened["billing"].lookup("12345674")
    assert time.monotonic() - started < 1.0


@pytest.mark.usefixtures("token")
def test_an_api_that_is_gone(billing_api: BillingApi, tmp_path: Path) -> None:
    opened = bizdata.open_sources(_section(_http(billing_api, deadline_ms=500)), tmp_path)
    billing_api.kill()
    with pytest.raises(DataSourceError, match=r"'billing' .*: Connection refused"):
        opened["billing"].lookup("12345674")


# Answers no real API should give, from a server in this process (a thread, no process).
class _Odd(http.server.BaseHTTPRequestHandler):
    answers: ClassVar = {
        "/list": (200, b"[1, 2]"),
        "/text": (200, b"<html>hello</html>"),
        "/broken": (500, b"{}"),
        "/moved": (302, b""),
    }

    def do_GET(self) -> None:
        status, body = self.answers[self.path.rpartition("/")[0]]
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://192.0.2.1/elsewhere")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def odd_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/list", "the answer is JSON but not an object (list)"),
        ("/text", "the answer is not JSON"),
        ("/broken", "HTTP 500 Internal Server Error"),
        ("/moved", "HTTP 302 Found"),  # not followed: it would carry the credentials
    ],
)
def test_answers_that_are_no_record(odd_server: str, path: str, expected: str) -> None:
    source = bizdata.HttpSource("odd", f"{odd_server}{path}/{{key}}", deadline_ms=2000)
    with pytest.raises(DataSourceError) as failed:
        source.lookup("secret-digits-1234")
    assert expected in str(failed.value)
    assert "secret-digits-1234" not in str(failed.value)
