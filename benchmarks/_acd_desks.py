"""Agents' desktops for the ACD benchmarks: log in over gRPC, heartbeat, log out.

This is what simulators/acd_agent.py does in controller mode (`--controller`:
the call controller rings the agents' SIP phones and reports the calls to the
ACD, so the desktop only logs in and heartbeats), without its thread per agent,
which at 1,000 agents would wake 5,000 times a second in the load generator.
It runs in its own process (multiprocessing, spawn: no gRPC state is forked),
so its CPU is measured apart from the benchmark's and from the stack's.

The credentials reach the child over the pipe, never through a file or argv.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient  # channels are made in the child (spawned: nothing forked)

OK = pb.ERROR_CODE_UNSPECIFIED


@dataclass(frozen=True)
class Desk:
    username: str
    password: str
    employee_id: int
    seat: int


def _desks_main(conn: Connection, address: str, desks: list[Desk], threads: int) -> None:
    client = AcdClient(address, timeout=5.0, retry_for=10.0)
    sessions: dict[int, str] = {}
    refused: Counter[str] = Counter()
    lease = 30.0

    def login(desk: Desk) -> tuple[Desk, pb.LoginResponse]:
        return desk, client.login(
            pb.LoginRequest(
                username=desk.username,
                password=desk.password,
                seat=desk.seat,
                employee_id=desk.employee_id,
                role=pb.ROLE_AGENT,
            )
        )

    t0 = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for desk, reply in pool.map(login, desks):
            if reply.error.code == OK:
                sessions[desk.employee_id] = reply.session_id
                lease = reply.lease_seconds or lease
            else:
                refused[pb.ErrorCode.Name(reply.error.code)] += 1
    conn.send(
        {
            "logged_in": len(sessions),
            "refused": dict(refused),
            "seconds": time.monotonic() - t0,
            "lease_s": lease,
        }
    )

    stop = threading.Event()
    counts: Counter[str] = Counter()

    def heartbeats() -> None:
        """Each desk every lease/3 (the simulator's period), spread evenly over it."""
        period = lease / 3
        gap = period / max(1, len(sessions))
        due = time.monotonic()
        while not stop.is_set():
            for eid, session in list(sessions.items()):
                due += gap
                delay = due - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return
                try:
                    reply = client.heartbeat(
                        pb.HeartbeatRequest(employee_id=eid, session_id=session)
                    )
                except Exception:  # counted; the benchmark reports it
                    counts["heartbeat_error"] += 1
                    continue
                counts["heartbeat" if reply.error.code == OK else "heartbeat_refused"] += 1

    beater = threading.Thread(target=heartbeats, daemon=True)
    beater.start()
    conn.recv()  # "stop"
    stop.set()
    beater.join(timeout=10)

    def logout(item: tuple[int, str]) -> bool:
        reply = client.logout(pb.LogoutRequest(employee_id=item[0], session_id=item[1]))
        return bool(reply.error.code == OK)

    with ThreadPoolExecutor(threads) as pool:
        out = list(pool.map(logout, sessions.items()))
    counts["logged_out"] = sum(out)
    counts["logout_refused"] = len(out) - sum(out)
    client.close()
    conn.send(dict(counts))


class Desks:
    """The desks' process: `start()` logs every agent in, `stop()` logs them out."""

    def __init__(self, address: str, desks: list[Desk], *, threads: int = 8) -> None:
        ctx = mp.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_desks_main, args=(child, address, desks, threads), daemon=True, name="acd-desks"
        )
        self.login: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def start(self, timeout: float = 120.0) -> dict[str, Any]:
        self._proc.start()
        if not self._pipe.poll(timeout):
            self.kill()
            raise RuntimeError(f"the desks did not log in within {timeout:.0f} s")
        self.login = self._pipe.recv()
        return self.login

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        """Log out; the heartbeat and logout counters (empty if the child is gone)."""
        stats: dict[str, Any] = {}
        if self._proc.is_alive():
            try:
                self._pipe.send("stop")
                if self._pipe.poll(timeout):
                    stats = self._pipe.recv()
            except (OSError, EOFError):
                pass
        self.kill()
        return stats

    def kill(self) -> None:
        if self._proc.pid is None:
            return
        self._proc.join(timeout=2)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)
