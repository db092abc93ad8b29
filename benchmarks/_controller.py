"""Shared pieces of the call-controller benchmarks: the rig and the ACD stand-in.

The rig is the local stack of benchmarks/_harness.py (its rtpengine and Redis; its
Kamailio idles, since callers reach the controller directly) plus one controller
process started as the tests start it (testbed.running_controller), with the event
log on and production timers: `--dead-linger 32` and the default dead-leg check
(`--rtp-timeout 30`, `--media-check-interval 5`).

`ConnectDriver` does what the ACD will do: it reads `call.arrived` from the event
log (a consumer group, eventlog.Consumer) and sends `connect` for each call over
the controller's control socket (JSON lines, pipelined; calls dealt round-robin
over `connections` connections, since the server runs one command per connection
at a time). It runs in its own process so that its CPU is measured apart from the
benchmark's.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import secrets
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis

from benchmarks._harness import bench_stack, daemon_pid, session_pids, stat_args
from eventlog import CALL_ARRIVED, Consumer, Delivery
from simulators import SippRun, start_sipp
from testbed import Controller, Stack, running_controller, wait_until

AGENT = "1001"
SERVICE = "95598"
NODE = "bench-ctl"


@dataclass
class Rig:
    stack: Stack
    controller: Controller
    redis_port: int
    stream: str

    @property
    def controller_pid(self) -> int:
        return self.controller.process.pid

    def rtpengine_pids(self) -> list[int]:
        return session_pids(daemon_pid(self.stack, "rtpengine0"))

    def redis_pids(self) -> list[int]:
        return session_pids(daemon_pid(self.stack, "redis"))

    def agent_port(self) -> int:
        return self.controller.agents[AGENT]


@contextmanager
def controller_rig(
    workdir: Path,
    *,
    port_min: int = 20000,
    port_max: int = 29999,
    controller_args: Sequence[str] = (),
) -> Iterator[Rig]:
    """rtpengine, Redis (and an idle Kamailio) from the stack, and one controller."""
    with bench_stack(
        workdir / "stack", workers=1, port_min=port_min, port_max=port_max, rtp_timeout_s=60
    ) as stack:
        redis_port = int(stack.config.redis.listen.rpartition(":")[2])
        stream = f"cc:events:bench:{secrets.token_hex(3)}"
        ng = stack.config.rtpengine.nodes[0].ng
        # The harness's test flags come first; these override them (argparse: last wins).
        args = [
            "--redis",
            f"127.0.0.1:{redis_port}",
            "--node",
            NODE,
            "--event-stream",
            stream,
            "--log-level",
            "WARNING",
            "--dead-linger",
            "32",
            *controller_args,
        ]
        with running_controller(workdir, ng, (AGENT,), *args) as controller:
            yield Rig(stack, controller, redis_port, stream)


def controller_idle(rig: Rig, timeout: float = 15.0) -> dict[str, int]:
    """Wait until the controller holds no call and rtpengine no session; the last status."""

    def idle() -> bool:
        status = rig.controller.cmd("status")
        return bool(status["calls"] == 0 and status["media_sessions"] == 0)

    with contextlib.suppress(AssertionError):  # the caller reports the status below
        wait_until(idle, timeout=timeout, what="the controller and rtpengine are idle")
    status: dict[str, int] = rig.controller.cmd("status")
    return status


# -- sipp parties ---------------------------------------------------------------------------
def start_agent(
    rig: Rig, workdir: Path, name: str, *, calls: int, inf: Path, timeout_s: int
) -> SippRun:
    """The agent's phone: a sipp UAS on the port the controller has for agent 1001."""
    run = start_sipp(
        name,
        "bench_ctl_agent",
        rig.controller.sip,
        workdir=workdir,
        port=rig.agent_port(),
        calls=calls,
        timeout_s=timeout_s,
        extra=["-inf", str(inf), *stat_args(workdir, name), "-buff_size", "4194304"],
    )
    # sipp has no "ready" signal; a UAS that fails to bind exits at once.
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline and run.process.poll() is None:
        time.sleep(0.02)
    if run.process.poll() is not None:
        raise RuntimeError(f"agent sipp exited at once: {run.errors()}")
    return run


def start_caller(
    rig: Rig,
    workdir: Path,
    name: str,
    *,
    calls: int,
    rate: float,
    hold_ms: int,
    inf: Path,
    timeout_s: int,
    limit: int,
) -> SippRun:
    """Callers at `rate`/s straight to the controller; each hangs up `hold_ms` after bridge."""
    return start_sipp(
        name,
        "bench_ctl_caller",
        rig.controller.sip,
        workdir=workdir,
        service=SERVICE,
        calls=calls,
        rate=rate,
        rate_period_ms=1000,
        limit=limit,
        pause_ms=hold_ms,
        timeout_s=timeout_s,
        extra=[
            "-inf",
            str(inf),
            *stat_args(workdir, name),
            "-recv_timeout",
            "10000",
            "-buff_size",
            "4194304",
            "-max_recv_loops",
            "10000",
            "-max_sched_loops",
            "10000",
        ],
    )


# -- the ACD stand-in ----------------------------------------------------------------------
@dataclass(frozen=True)
class _DriverSpec:
    redis_port: int
    stream: str
    group: str
    control: tuple[str, int]
    agents: list[str]
    connections: int


class _Tally:
    """The driver's counters; replies come in on one thread per connection."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {"arrived": 0, "sent": 0, "ok": 0, "failed": 0}
        self.errors: list[str] = []
        self.latencies: list[float] = []

    def reply(self, reply: dict[str, Any], arrived_at: float) -> None:
        with self.lock:
            if reply.get("ok"):
                self.counts["ok"] += 1
                self.latencies.append(time.time() - arrived_at)
            else:
                self.counts["failed"] += 1
                if len(self.errors) < 5:
                    self.errors.append(str(reply.get("error")))

    def answered(self) -> int:
        with self.lock:
            return self.counts["ok"] + self.counts["failed"]


class _Link:
    """One control-socket connection: commands written in a batch, replies read in order
    (the server answers a connection's lines one by one, each on the SIP loop)."""

    def __init__(self, address: tuple[str, int], tally: _Tally) -> None:
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.writer, self.reader = self.sock.makefile("wb"), self.sock.makefile("rb")
        self.pending: deque[float] = deque()  # arrival ts of each command sent, in order
        self.tally = tally
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.reader:
            self.tally.reply(json.loads(line), self.pending.popleft())

    def send(self, lines: list[bytes], arrived: list[float]) -> None:
        self.pending.extend(arrived)
        self.writer.write(b"".join(lines))
        self.writer.flush()

    def close(self) -> None:
        self.sock.close()


def _driver_main(conn: Connection, spec: _DriverSpec) -> None:
    client = redis.Redis(port=spec.redis_port, socket_timeout=5)
    consumer = Consumer(
        client,
        group=spec.group,
        name="driver",
        stream=spec.stream,
        batch_size=500,
        block_ms=20,
        start_id="$",
    )
    consumer.ensure_group()  # from now on: calls that arrive after this point
    tally = _Tally()
    links = [_Link(spec.control, tally) for _ in range(spec.connections)]
    arrivals: list[float] = []  # the controller's call.arrived ts: when it took each INVITE
    turn = 0

    def handle(batch: Sequence[Delivery]) -> None:
        nonlocal turn
        per_link: list[tuple[list[bytes], list[float]]] = [([], []) for _ in links]
        for delivery in batch:
            event = delivery.event
            if event.kind != CALL_ARRIVED:
                continue
            arrivals.append(event.ts)
            lines, arrived = per_link[turn % len(links)]
            turn += 1
            arrived.append(event.ts)
            lines.append(
                json.dumps(
                    {"cmd": "connect", "cid": event.correlation_id, "agents": spec.agents}
                ).encode()
                + b"\n"
            )
        for link, (lines, arrived) in zip(links, per_link, strict=True):
            if lines:
                link.send(lines, arrived)
                with tally.lock:
                    tally.counts["sent"] += len(lines)
                    tally.counts["arrived"] += len(lines)

    conn.send("ready")
    while not conn.poll():
        consumer.poll(handle)
    conn.recv()
    deadline = time.monotonic() + 10
    while tally.answered() < tally.counts["sent"] and time.monotonic() < deadline:
        time.sleep(0.01)
    with tally.lock:
        latencies = sorted(tally.latencies)
        counts, errors = dict(tally.counts), list(tally.errors)
    span = max(arrivals) - min(arrivals) if len(arrivals) > 1 else 0.0
    conn.send(
        {
            **counts,
            "errors": errors,
            "arrival_rate": (len(arrivals) - 1) / span if span > 0 else 0.0,
            "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0.0,
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
            "mean_ms": 1000 * statistics.fmean(latencies) if latencies else 0.0,
        }
    )
    for link in links:
        link.close()
    client.close()


class ConnectDriver:
    """The ACD stand-in, in a child process: `call.arrived` in, `connect` out."""

    def __init__(self, rig: Rig, agents: Sequence[str] = (AGENT,), *, connections: int = 1) -> None:
        ctx = mp.get_context("fork")
        self._pipe, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_driver_main,
            daemon=True,
            args=(
                child,
                _DriverSpec(
                    rig.redis_port,
                    rig.stream,
                    f"acd-{secrets.token_hex(3)}",
                    rig.controller.control,
                    list(agents),
                    connections,
                ),
            ),
        )
        self._proc.start()
        if not self._pipe.poll(10) or self._pipe.recv() != "ready":
            self._proc.kill()
            raise RuntimeError("the connect driver did not start")

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def stop(self) -> dict[str, Any]:
        """Stop reading; wait for the replies to what was sent; its counters."""
        self._pipe.send("stop")
        stats: dict[str, Any] = self._pipe.recv() if self._pipe.poll(20) else {"lost": True}
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
        return stats
