"""Real processes for analytics and dashboard tests: the CDR service (and Redis for it).

Each runs as a subprocess on free loopback ports in a tmp dir; readiness is waited
for with deadlines (PING, GET /healthz), never with fixed sleeps. `cdr_row` and
`leg_rows` read a call's records back through any CDR service's API.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from analytics import ServiceClient, write_service_settings
from configuration import AnalyticsConfig
from simulators import free_port
from testbed._paths import ROOT
from testbed._waiting import wait_until


@dataclass
class CdrServiceProcess:
    proc: subprocess.Popen[bytes]
    client: ServiceClient
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 60.0) -> None:
        def ok() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"CDR service exited {self.proc.returncode}:\n{self.log()}")
            return self.client.healthy()

        wait_until(ok, timeout=timeout, what="CDR service /healthz", interval=0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def start_cdr_service(
    workdir: Path,
    redis_port: int,
    *,
    api_port: int | None = None,
    fault: str | None = None,
    batch_size: int = 2000,
    block_ms: int = 200,
    tag: str = "cdr",
) -> CdrServiceProcess:
    """Start `python -m analytics.service` on a chDB dir under workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = api_port or free_port()
    config = AnalyticsConfig(
        data_dir=str(workdir / "chdb"),
        listen=f"127.0.0.1:{port}",
        batch_size=batch_size,
        block_ms=block_ms,
    )
    settings = write_service_settings(
        workdir / "cdr.json", config, redis=f"127.0.0.1:{redis_port}", run_dir=workdir
    )
    env = {k: v for k, v in os.environ.items() if k != "HUAAN_CDR_FAULT"}
    env["PYTHONPATH"] = str(ROOT)
    if fault:
        env["HUAAN_CDR_FAULT"] = fault
    log_path = workdir / f"{tag}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "analytics.service", "--config", str(settings)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    return CdrServiceProcess(proc, ServiceClient(config.url(), timeout=10), log_path)


def cdr_row(
    client: ServiceClient,
    cid: str,
    *,
    until: Callable[[dict[str, Any]], bool] = lambda row: True,
    timeout: float = 10.0,
    what: str = "",
) -> dict[str, Any]:
    """The call's CDR from the CDR service (`cdr_list`), once it is there and `until`
    holds for it: a CDR is re-emitted when later events (the wrap-up) arrive."""
    found: list[dict[str, Any]] = []

    def there() -> bool:
        rows = client.report("cdr_list", correlation_ids=[cid]).to_dict("records")
        found[:] = [dict(row) for row in rows]
        return len(found) == 1 and until(found[0])

    wait_until(
        there, timeout=timeout, what=f"the CDR of {cid} from the CDR service {what}(now {found})"
    )
    return found[0]


def leg_rows(client: ServiceClient, cid: str) -> list[dict[str, Any]]:
    """The call's leg rows (`leg_list`) in `seq` order."""
    rows = client.report("leg_list", correlation_ids=[cid]).to_dict("records")
    return sorted((dict(row) for row in rows), key=lambda row: int(row["seq"]))


def is_null(value: Any) -> bool:
    """A NULL column as it comes back in a DataFrame (None, NaT or NaN)."""
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
