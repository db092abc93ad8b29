"""A throwaway redis-server on a free loopback port, for tests that need real Redis."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from simulators import free_port
from testbed._waiting import wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@contextmanager
def redis_server(workdir: Path, port: int | None = None) -> Iterator[int]:
    """Start redis-server (no persistence) in `workdir` on `port` (default: a free one);
    yield its port once it PINGs. Leaving the block kills it (SIGKILL), so a test can
    start another on the same port: a Redis restart, as the clients see it."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    log = (workdir / "redis.log").open("a")
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.5)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"redis-server exited: {(workdir / 'redis.log').read_text()}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(up, timeout=10, what="redis-server PING")
        yield port
    finally:
        client.close()
        proc.kill()
        proc.wait(timeout=10)
        log.close()
