"""A mixer (supervisor monitoring's RTP bridge, `python -m mixer`) for tests and
benchmarks: on its own (`running_mixer`), or in a whole stack (`mixer_config`)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rtpengine import NgClient
from simulators import free_port
from testbed._paths import ROOT
from testbed._stack import base_config
from testbed._waiting import wait_until


def _port_base(ports: int) -> int:
    # Above Linux's ephemeral range (32768-60999), where free_port() picks, and away
    # from rtpengine's test ranges (10000-31999).
    return 61000 + secrets.randbelow(max(1, (65535 - 61000 - ports) // 100)) * 100


def mixer_config(config: dict[str, Any], *, ports: int = 99, **node: Any) -> dict[str, Any]:
    """Add a mixer node on free ports to a config dict (`base_config`'s), so that
    `running_stack` (`callcenter up`) starts it; return the node."""
    base = _port_base(ports)
    entry: dict[str, Any] = {
        "ng": f"127.0.0.1:{free_port()}",
        "port_min": base,
        "port_max": base + ports,
        **node,
    }
    config.setdefault("monitoring", {}).setdefault("mixers", []).append(entry)
    return entry


@dataclass
class Mixer:
    ng: tuple[str, int]
    process: subprocess.Popen[bytes]
    log: Path
    config: Path
    port_min: int
    port_max: int

    def client(self, timeout: float = 1.0) -> NgClient:
        return NgClient(*self.ng, timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_mixer(
    workdir: Path,
    *,
    jitter_frames: int = 2,
    idle_timeout_ms: float | None = None,
    ports: int = 99,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Mixer]:
    """`python -m mixer` on loopback (its own config in `workdir`); stopped with SIGTERM
    at the end, and its exit checked (a clean stop is part of what it must do)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config, _ = base_config(workdir)
    node = mixer_config(config, ports=ports)
    config["monitoring"]["jitter_frames"] = jitter_frames
    path = workdir / "mixer.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = workdir / "mixer.log"
    argv = [sys.executable, "-m", "mixer", "--config", str(path), "--node", "0", *extra_args]
    if idle_timeout_ms is not None:
        argv += ["--idle-timeout-ms", str(idle_timeout_ms)]
    host, _, port = node["ng"].rpartition(":")
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    mixer = Mixer((host, int(port)), process, log, path, node["port_min"], node["port_max"])
    client = mixer.client(timeout=0.3)
    try:
        wait_until(
            lambda: process.poll() is not None or client.ping(),
            timeout=15,
            what="the mixer answers an ng ping",
        )
        assert process.poll() is None, mixer.log_text()[-2000:]
        yield mixer
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
