"""Agent selection over gRPC: 500 decisions/s with 1,000 logged-in agents; target p99 <= 5 ms.

Starts a redis-server and one ACD replica (`python -m acdsvc`, its own process)
on free loopback ports, logs 1,000 agents in over gRPC, then sends Enqueue at a
fixed rate (open loop, gRPC futures). Each Enqueue is one selection decision:
the reply carries the Offer for the chosen agent, committed to Redis with its
events. A Hangup `--hold` seconds later frees the agent, so the server also
carries that second stream of commands. Prints p50/p99/max and the achieved rate.

    .venv/bin/python benchmarks/acd_grpc_select.py              # 20 s at 500/s
    .venv/bin/python benchmarks/acd_grpc_select.py --seconds 5   # quick look

Accounts use cheap argon2 parameters so 1,000 logins take seconds, not minutes.
Exits 1 if the p99 target is missed or any decision fails.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import redis  # noqa: E402
import yaml  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402

from acd_api.v1 import acd_pb2 as pb  # noqa: E402
from acd_api.v1 import acd_pb2_grpc  # noqa: E402
from acd_client import health_ping  # noqa: E402
from simulators import free_port  # noqa: E402

RUN_LIMIT_S = 110  # the whole run, setup included, stays under 2 minutes


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def write_config(path: Path, redis_port: int, agents: int) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    digest = hasher.hash("bench-password")  # one hash, shared: only the parameters matter
    config = {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223", "managed": False}]},
        "redis": {"listen": f"127.0.0.1:{redis_port}", "managed": False},
        "queues": [
            {
                "name": "billing",
                "skills": {"billing": 1},
                "ring_timeout_ms": 60_000,
                "max_no_answers": 0,
            }
        ],
        "acd": {
            "seat_range": [1, agents],
            "employee_id_range": [1, 100_000],
            "lease_ms": 600_000,
            "workers": 8,
        },
        "accounts": [
            {
                "username": f"b{i}",
                "roles": ["agent"],
                "employee_id": str(i),
                "skills": {"billing": 1},
                "ha1": "0" * 32,
                "password_hash": digest,
            }
            for i in range(1, agents + 1)
        ],
    }
    path.write_text(yaml.safe_dump(config))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0, help="decisions per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hold", type=float, default=0.5, help="seconds before Hangup")
    parser.add_argument("--target-p99-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.seconds > RUN_LIMIT_S - 30:
        raise SystemExit(f"--seconds must leave time for setup (max {RUN_LIMIT_S - 30})")
    if args.rate * args.hold >= args.agents:
        raise SystemExit("rate x hold must stay below the agent count (agents run out)")

    workdir = Path(tempfile.mkdtemp(prefix="acd-bench-"))
    redis_port, acd_port = free_port(), free_port()
    address = f"127.0.0.1:{acd_port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    shutil.which("redis-server") or "/usr/bin/redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        r = redis.Redis(port=redis_port)
        wait(lambda: _ping(r), 10, "redis")
        config = workdir / "bench.yaml"
        write_config(config, redis_port, args.agents)
        log = (workdir / "acd.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "acdsvc",
                    "--config",
                    str(config),
                    "--listen",
                    address,
                    "--log-level",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        )
        wait(lambda: health_ping(address, 0.3), 20, "the ACD replica")
        channel = grpc.insecure_channel(address)
        stub = acd_pb2_grpc.AcdServiceStub(channel)

        t0 = time.monotonic()

        def login(i: int) -> int:
            reply = stub.Login(
                pb.LoginRequest(
                    username=f"b{i}",
                    password="bench-password",
                    seat=i,
                    employee_id=i,
                    role=pb.ROLE_AGENT,
                ),
                timeout=10,
            )
            return int(reply.error.code)

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(login, range(1, args.agents + 1)))
        bad = collections.Counter(c for c in codes if c)
        if bad:
            raise SystemExit(f"logins refused: {bad}")
        print(f"logged in {args.agents} agents in {time.monotonic() - t0:.1f} s")

        latencies: list[float] = []
        errors: collections.Counter[str] = collections.Counter()
        hangups: collections.deque[tuple[float, str]] = collections.deque()
        # A gRPC future that is garbage-collected cancels its call: keep each until done.
        pending: set[Any] = set()
        lock = threading.Lock()

        def keep(future: Any) -> None:
            with lock:
                pending.add(future)
            future.add_done_callback(lambda f: _discard(pending, lock, f))

        done = threading.Event()

        def on_enqueue(sent: float, call_id: str, future: Any) -> None:
            now = time.perf_counter()
            try:
                reply = future.result()
            except grpc.RpcError as exc:
                with lock:
                    errors[f"rpc:{exc.code().name}"] += 1
                return
            offers = [a.offer for a in reply.actions if a.WhichOneof("kind") == "offer"]
            with lock:
                if reply.error.code or len(offers) != 1:
                    errors[
                        pb.ErrorCode.Name(reply.error.code) if reply.error.code else "no_offer"
                    ] += 1
                    return
                latencies.append(now - sent)
                hangups.append((time.monotonic() + args.hold, call_id))

        def hangup_loop() -> None:
            while not (done.is_set() and not hangups):
                with lock:
                    item = hangups[0] if hangups else None
                if item is None or item[0] > time.monotonic():
                    time.sleep(0.005)
                    continue
                with lock:
                    hangups.popleft()
                keep(stub.Hangup.future(pb.HangupRequest(call_id=item[1]), timeout=5))

        hanger = threading.Thread(target=hangup_loop, daemon=True)
        hanger.start()
        server_pid = procs[1].pid
        cpu_before = cpu_seconds(server_pid)
        own_before = time.process_time()
        total = int(args.rate * args.seconds)
        interval = 1.0 / args.rate
        begin = time.perf_counter()
        for n in range(total):
            due = begin + n * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # open-loop pacing of the offered load
            call_id = f"bench-{n}"
            sent = time.perf_counter()
            future = stub.Enqueue.future(
                pb.EnqueueRequest(call_id=call_id, queue="billing"), timeout=5
            )
            future.add_done_callback(lambda f, s=sent, c=call_id: on_enqueue(s, c, f))
            keep(future)
        wait(lambda: len(latencies) + sum(errors.values()) >= total, 30, "the last replies")
        elapsed = time.perf_counter() - begin
        done.set()
        hanger.join(timeout=30)
        cpu = cpu_seconds(server_pid) - cpu_before
        own = time.process_time() - own_before

        ms = sorted(x * 1000 for x in latencies)
        p50 = statistics.median(ms)
        p99 = ms[int(len(ms) * 0.99) - 1]
        print(
            f"agents {args.agents}, offered {args.rate:.0f}/s for {args.seconds:.0f} s, "
            f"hold {args.hold} s"
        )
        print(f"decisions {len(ms)}  rate {len(ms) / elapsed:.0f}/s  errors {dict(errors)}")
        print(
            f"Enqueue->Offer latency ms: p50 {p50:.2f}  p90 {ms[int(len(ms) * 0.9) - 1]:.2f}"
            f"  p99 {p99:.2f}  max {ms[-1]:.2f}"
        )
        print(
            f"server CPU {cpu / elapsed * 100:.0f}% of one core "
            f"(Enqueue + Hangup, {2 * len(ms) / elapsed:.0f} RPC/s); "
            f"load generator {own / elapsed * 100:.0f}%"
        )
        print(f"total run {time.monotonic() - started:.0f} s")
        ok = not errors and p99 <= args.target_p99_ms
        print(f"target p99 <= {args.target_p99_ms} ms: {'met' if ok else 'MISSED'}")
        channel.close()
        return 0 if ok else 1
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _discard(pending: set[Any], lock: threading.Lock, future: Any) -> None:
    with lock:
        pending.discard(future)


def _ping(r: redis.Redis) -> bool:
    try:
        return bool(r.ping())
    except redis.RedisError:
        return False


if __name__ == "__main__":
    sys.exit(main())
