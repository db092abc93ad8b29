"""The clickhouse-driver backend against a real clickhouse-server, when installed.

The server is started as a subprocess on free loopback ports with its data in a
tmp dir. The schema needs DateTime64 and LowCardinality (ClickHouse >= 21), so an
older server (Debian's 18.16) is skipped with that reason.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import eventlog as ev
from analytics import ClickHouseStore, Statistics, build_records
from tests.unit.analytics.analytics_scenarios import T0, Script

SERVER = shutil.which("clickhouse-server") or shutil.which("clickhouse")

pytestmark = pytest.mark.skipif(
    SERVER is None,
    reason="clickhouse-server binary not installed; the ClickHouseStore path is untested here",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"(\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(match[1]), int(match[2])) if match else (0, 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    assert SERVER is not None
    if _version(SERVER) < (21, 1):
        pytest.skip(f"{SERVER} is {_version(SERVER)}: the schema needs ClickHouse >= 21 "
                    "(DateTime64, LowCardinality)")
    work: Path = tmp_path_factory.mktemp("clickhouse")
    tcp = _free_port()
    cmd = [SERVER] if SERVER.endswith("clickhouse-server") else [SERVER, "server"]
    proc = subprocess.Popen(
        [*cmd, "--", f"--tcp_port={tcp}", "--http_port=0", f"--path={work}/",
         "--listen_host=127.0.0.1", f"--logger.log={work}/server.log", "--logger.console=0"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"clickhouse-server did not start; see {work}/server.log")
                time.sleep(0.05)
        yield tcp
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_clickhouse_store_round_trip_and_idempotency(server: int) -> None:
    store = ClickHouseStore(port=server, database="cc_test", batch_rows=2)
    try:
        assert store.migrate() == []
        events = (Script("X")(0, ev.CALL_QUEUED)(4, ev.CALL_ANSWERED)(64, ev.CALL_ENDED).events
                  + Script("Y")(1, ev.CALL_QUEUED)(31, ev.CALL_ENDED).events)
        records = build_records(events)
        store.insert_records(records)
        store.insert_records(records)
        summary = Statistics(store).queue_summary(threshold_s=20)
        row = summary.to_dict("records")[0]
        assert (row["offered"], row["answered"], row["abandoned"]) == (2, 1, 1)
        assert row["asa_s"] == pytest.approx(4.0)
        assert Statistics(store).queue_volume()["offered"].tolist() == [2]
        assert T0 > 0
    finally:
        store.execute("DROP DATABASE IF EXISTS cc_test")
        store.close()
