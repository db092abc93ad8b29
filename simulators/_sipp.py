"""Running sipp as a simulated party: a carrier, an agent's phone, a load generator.

Scenarios live in sipp/ at the project root. Each run writes its log lines
(<log message=...> actions), errors and screen into its own work directory, so
tests can read what each party saw.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"


def scenario_path(name: str) -> Path:
    path = SCENARIOS / (name if name.endswith(".xml") else f"{name}.xml")
    if not path.exists():
        raise FileNotFoundError(f"no sipp scenario {path}")
    return path


@dataclass
class SippRun:
    name: str
    workdir: Path
    argv: list[str]
    process: subprocess.Popen[bytes]
    _log_offset: int = field(default=0, repr=False)

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def error_file(self) -> Path:
        return self.workdir / f"{self.name}.err"

    def log_lines(self) -> list[str]:
        try:
            return self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def errors(self) -> str:
        try:
            return self.error_file.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, prefix: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """Wait until `count` log lines start with `prefix`; return them."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log_lines() if line.startswith(prefix)]
            if len(lines) >= count:
                return lines
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"sipp {self.name}: {len(lines)}/{count} {prefix!r} lines after {timeout}s;"
                    f" exit={self.process.poll()} errors:\n{self.errors()[-2000:]}"
                )
            if self.process.poll() is not None and len(lines) < count:
                # It ended; read once more in case the last line raced the exit.
                lines = [line for line in self.log_lines() if line.startswith(prefix)]
                if len(lines) >= count:
                    return lines
                raise AssertionError(
                    f"sipp {self.name} exited {self.process.returncode} with {len(lines)}/"
                    f"{count} {prefix!r} lines; errors:\n{self.errors()[-2000:]}"
                )
            time.sleep(0.02)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_sipp(
    name: str,
    scenario: str,
    target: str,
    *,
    workdir: Path,
    local_ip: str = "127.0.0.1",
    port: int = 0,
    media_port: int = 0,
    keys: Mapping[str, str | int] | None = None,
    service: str | None = None,
    calls: int = 1,
    rate: float | None = None,
    rate_period_ms: int | None = None,
    limit: int | None = None,
    pause_ms: int | None = None,
    auth: tuple[str, str] | None = None,
    timeout_s: int = 60,
    extra: Sequence[str] = (),
) -> SippRun:
    """Start one sipp process in the background (no -bg: we keep its exit code)."""
    binary = shutil.which("sipp")
    if binary is None:
        raise FileNotFoundError("sipp is not installed; run scripts/install")
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        target,
        "-sf",
        str(scenario_path(scenario)),
        "-i",
        local_ip,
        "-m",
        str(calls),
        "-nostdin",
        "-timeout",
        f"{timeout_s}s",
        "-timeout_error",
        "-trace_logs",
        "-log_file",
        str(workdir / f"{name}.log"),
        "-trace_err",
        "-error_file",
        str(workdir / f"{name}.err"),
    ]
    if port:
        argv += ["-p", str(port)]
    if media_port:
        argv += ["-mp", str(media_port)]
    if service is not None:
        argv += ["-s", service]
    if rate is not None:
        argv += ["-r", str(rate)]
    if rate_period_ms is not None:
        argv += ["-rp", str(rate_period_ms)]
    if limit is not None:
        argv += ["-l", str(limit)]
    if pause_ms is not None:
        argv += ["-d", str(pause_ms)]
    if auth is not None:
        argv += ["-au", auth[0], "-ap", auth[1]]
    for key, value in (keys or {}).items():
        argv += ["-key", key, str(value)]
    argv += list(extra)
    with open(workdir / f"{name}.screen", "wb") as screen:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=screen,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    return SippRun(name, workdir, argv, process)
