"""Fixtures for the business data store: SQLite stores in the test's directory, one
PostgreSQL cluster per module, and the example billing API as an operator would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed import ROOT, running_postgres

BILLING_API = ROOT / "docs" / "examples" / "billing_http_api.py"
BILLING_TOKEN_ENV = "BIZDATA_TEST_BILLING_TOKEN"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL cluster for the module (about 3 s to start); tests create their own
    databases in it (testbed.create_database)."""
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@dataclass
class BillingApi:
    """The example operator API (docs/examples/billing_http_api.py), a process of its own."""

    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:PORT/accounts/
    token: str

    def stop(self) -> None:
        """Stopped, not gone: it accepts connections (the kernel does) but never answers."""
        self.process.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def billing_api() -> Iterator[BillingApi]:
    token = "test-token-not-a-secret"
    process = subprocess.Popen(
        [sys.executable, str(BILLING_API), "--listen", "127.0.0.1:0", "--token-env", "TOKEN"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TOKEN": token},
    )
    try:
        assert process.stdout is not None
        # Its first line says where it listens, once it does: no polling needed.
        base = process.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:"), base
        yield BillingApi(process, base, token)
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
