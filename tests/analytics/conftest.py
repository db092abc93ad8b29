"""chDB stores for the analytics tests.

chDB allows one data directory per process (and one process per directory), so
the whole session shares one tmp directory and each test gets its own database in
it, with its own ChdbStore (session object) that is closed after the test. Closing
every session lets other test packages open a different directory afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics import ChdbStore


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def store(chdb_dir: Path) -> Iterator[ChdbStore]:
    db = f"t_{uuid.uuid4().hex[:12]}"
    s = ChdbStore(chdb_dir, database=db)
    try:
        yield s
    finally:
        s.execute(f"DROP DATABASE IF EXISTS {db}")
        s.close()
