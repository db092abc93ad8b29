"""A real redis-server and real ACD replicas (in this process or as subprocesses) on
free loopback ports. Accounts use cheap argon2 parameters so logins are fast."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from argon2 import PasswordHasher

import acd_client
import acdsvc
from configuration import load_config
from simulators import free_port
from testbed import redis_server as start_redis
from testbed import wait_until

ROOT = Path(__file__).resolve().parents[2]
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SUPERVISOR = 900  # employee ID of the supervisor account
ADMIN = "root"


def password_of(username: str) -> str:
    return f"pw-{username}-secret"


@dataclass
class RedisServer:
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as port:
        yield RedisServer(port)


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


def agent_accounts(
    count: int, *, first: int = 1001, skills: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "username": f"a{eid}",
            "roles": ["agent"],
            "employee_id": str(eid),
            "skills": skills or {"billing": 3},
            "ha1": "0" * 32,
            "password_hash": _FAST_HASHER.hash(password_of(f"a{eid}")),
        }
        for eid in range(first, first + count)
    ]


def write_config(
    path: Path,
    redis_address: str,
    *,
    agents: int = 10,
    queues: list[dict[str, Any]] | None = None,
    **acd: Any,
) -> Path:
    accounts = agent_accounts(agents)
    accounts.append(
        {
            "username": "sup",
            "roles": ["agent", "supervisor"],
            "employee_id": str(SUPERVISOR),
            "skills": {"billing": 5},
            "ha1": "0" * 32,
            "password_hash": _FAST_HASHER.hash(password_of("sup")),
        }
    )
    accounts.append(
        {
            "username": ADMIN,
            "roles": ["admin"],
            "ha1": "0" * 32,
            "password_hash": _FAST_HASHER.hash(password_of(ADMIN)),
        }
    )
    config = {
        "version": 1,
        "node": {"name": "test"},
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223", "managed": False}]},
        "redis": {"listen": redis_address, "managed": False},
        "queues": queues
        if queues is not None
        else [
            {
                "name": "billing",
                "skills": {"billing": 1},
                "ring_timeout_ms": 2000,
                "max_no_answers": 0,
            },
        ],
        # call_events acd: no call controller here; the simulated agents report the calls
        # and the ACD writes every call event (a test passes call_events="controller").
        "acd": {
            "leader_lease_ms": 1000,
            "lease_ms": 30_000,
            "seat_range": [1, 2000],
            "employee_id_range": [1, 99_999],
            "call_events": "acd",
            **acd,
        },
        "accounts": accounts,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def config_path(tmp_path: Path, redis_server: RedisServer, r: redis.Redis) -> Path:
    return write_config(tmp_path / "callcenter.yaml", redis_server.address)


ReplicaFactory = Callable[..., acdsvc.Replica]


@pytest.fixture
def make_replica(config_path: Path) -> Iterator[ReplicaFactory]:
    """In-process replicas on free ports, every commit verified against Redis."""
    started: list[acdsvc.Replica] = []

    def make(path: Path = config_path, *, node: str | None = None) -> acdsvc.Replica:
        settings = acdsvc.settings_from_config(
            load_config(path), listen="127.0.0.1:0", node=node or f"r{len(started) + 1}"
        )
        replica = acdsvc.Replica(settings, verify_commits=True).start()
        started.append(replica)
        return replica

    yield make
    for replica in started:
        replica.stop(grace=0.2)


@dataclass
class ReplicaProcess:
    address: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def spawn_replica(
    config_path: Path, keep_on_failure: Path
) -> Iterator[Callable[..., ReplicaProcess]]:
    """Replicas as `python -m acdsvc` subprocesses, healthy before they are returned."""
    started: list[ReplicaProcess] = []

    def spawn(name: str, path: Path = config_path) -> ReplicaProcess:
        port = free_port()
        log = keep_on_failure / f"{name}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "acdsvc",
                    "--config",
                    str(path),
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--node",
                    name,
                    "--verify-commits",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        replica = ReplicaProcess(f"127.0.0.1:{port}", process, log)
        started.append(replica)
        wait_until(
            lambda: process.poll() is not None or acd_client.health_ping(replica.address),
            timeout=20,
            what=f"{name} healthy",
        )
        assert process.poll() is None, log.read_text()
        return replica

    yield spawn
    for replica in started:
        replica.stop()
