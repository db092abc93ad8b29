"""Inbound calls end to end: Kamailio, the ACD, call controllers and rtpengine, 1,000 agents.

The whole stack runs as `callcenter up` starts it (testbed.running_stack), in a
temporary run directory: Redis, rtpengine (ports 7000-9999, see PORT_MIN), N
call-controller replicas (`--controllers`, dispatched round robin by Kamailio), the
ACD replica and Kamailio (4 workers), with the product's defaults
(SIP timers, ACD lease and workers, music on hold for queued callers). No CDR
service, no dashboards, no presence watcher; phone keepalive is off (sipp cannot
answer OPTIONS). The queue: longest idle, ring timeout `--ring-timeout-ms` (5 s),
wrap-up `--wrap-up-ms` (0), max_no_answers 0.

The parties:
- agents: `--agents` accounts (employee ID = SIP user = 10001...), argon2 hashes
  with cheap parameters so that logins are fast; the clear passwords exist only in
  this process, in the desks' process and, during registration, in a 0600 CSV in
  the temp directory that is deleted as soon as sipp has read it;
- their phones: one sipp registration run (sipp/bench_acd_register.xml, digest
  auth, one injection line per agent) registers every agent at Kamailio with its
  Contact on ONE answering sipp (sipp/bench_acd_agent.xml): it rings (180),
  answers after `--ring-ms` with SDP, takes the ACK and then the BYE;
- their desktops: benchmarks/_acd_desks.py logs every agent in at the ACD over gRPC
  and heartbeats each one every lease/3 (10 s), as simulators/acd_agent.py does in
  controller mode: the controllers report the calls (Answered, Hangup);
- the carrier: sipp/bench_acd_caller.xml at `--rate` calls/s for `--duration` s to
  Kamailio's trunk number 95598 (target controller, queue `bench`). The controller
  answers and parks the caller (rtpengine), enqueues the call at the ACD, rings the
  agent of the Offer through Kamailio, bridges on the agent's 200 (re-INVITE to the
  caller); the caller hangs up `--hold-ms` after the bridge.
Media: no party sends RTP. Every SDP names one UDP socket of this process, which
counts what reaches it: the controller's music on hold while a caller is parked
(rtpengine `play media`), which starts only once a caller has waited the queue's
`music_after_ms` (1 s), so hardly ever while agents are idle. Every offer/answer goes
through rtpengine.

A step passes with: every call successful at the caller (any non-2xx, a timeout of
10 s on any expected message, an unexpected message: failed) and at the agents'
sipp; in the call event log every call arrived, was answered, ended, and no ring
went unanswered; the calls reached the controllers at >= 97 % of the offered rate
(their call.arrived span, one second of slack); afterwards every agent is idle in
the ACD, no call or media session is left in any controller and no session in
rtpengine.

CPU: utime+stime from /proc per component over the step (caller start to caller
exit), divided by the successful calls: Kamailio (all processes), each controller,
the ACD, rtpengine, Redis, the sipp parties, the desks; plus the machine's total.
Each is also measured idle (5 s before the step, desks heartbeating): "net of idle"
takes that out. For each controller and the ACD: the main thread (a controller's
SIP loop) against all its other threads. rtpengine's own count of ng commands
gives the commands per call. Latency: sipp's response times, one by one
(-trace_rtt), from INVITE to the controller's 200 (parked) and from there to the
bridge's re-INVITE (the agent answered).

    .venv/bin/python -m benchmarks.acd_inbound                     # 100/s x 60 s, 1,000 agents
    .venv/bin/python -m benchmarks.acd_inbound --controllers 2
    .venv/bin/python -m benchmarks.acd_inbound --sweep             # 25, 50, 60 ... 150/s x 30 s
    .venv/bin/python -m benchmarks.acd_inbound --quick             # smoke run, ~30 s
    .venv/bin/python -m benchmarks.acd_inbound --cdr --controllers 2 --rate 50
        # also the CDR service: hang-up -> CDR visible in a dashboard query, per call
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
from argon2 import PasswordHasher

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from analytics import ServiceClient
from benchmarks._acd_desks import Desk, Desks
from benchmarks._freshness import FreshnessProbe
from benchmarks._harness import (
    CLK_TCK,
    CpuMeter,
    daemon_pid,
    machine_facts,
    print_facts,
    session_pids,
    sipp_stats,
    stat_args,
    stop_run,
    udp_rcvbuf_errors,
    wait_for,
)
from configuration import split_hostport
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_NO_ANSWER,
    DEFAULT_STREAM,
    replay,
)
from identity import sip_ha1
from simulators import SippRun, free_port, start_sipp
from testbed import REALM, Stack, base_config, controller_feed_subscribed, running_stack

TARGET_RATE = 100
TARGET_DURATION_S = 60
NUMBER = "95598"
QUEUE = "bench"
CALLER = "+8613912345678"
AGENT_BASE = 10000  # agent i is SIP user, account and employee ID 10000 + i, seat i
# rtpengine's media ports: below Linux's ephemeral range (32768-60999 here), where
# free_port() finds the SIP ports of Kamailio, the controllers and sipp (ours and
# other engineers' tests). Kamailio binds its socket with SO_REUSEADDR, and so does
# rtpengine: an rtpengine whose range covers that port can bind it again later and
# take its traffic (one run with 40000-49999 lost SIP for 10 s). Also clear of the
# tests' rtpengines (20000-31999), the controller benchmarks' (10000-29999) and of
# sipp's default SIP and media ports (5060, 6000-6003). 3,000 ports: at 70 calls/s
# rtpengine held about 1,000.
PORT_MIN, PORT_MAX = 7000, 9999
PACE = 0.97  # calls reaching the controllers / offered rate, at least
RECV_TIMEOUT_MS = 10_000
# tests/acdsvc/conftest.py's _FAST_HASHER: 1,000 logins in seconds, not minutes.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


# -- the stack --------------------------------------------------------------------------
def make_agents(count: int) -> dict[str, str]:
    """username -> a clear password generated for this run only (kept in memory).

    Hex, because sipp reads a password that starts with "0x" in its [authentication]
    keyword as hex-encoded: a URL-safe token would fail one registration in 4,096."""
    return {str(AGENT_BASE + i): secrets.token_hex(12) for i in range(1, count + 1)}


def inbound_config(
    workdir: Path,
    agents: dict[str, str],
    *,
    controllers: int,
    kamailio_workers: int,
    ring_timeout_ms: int,
    wrap_up_ms: int,
) -> tuple[dict[str, Any], dict[str, str]]:
    accounts = [
        {
            "username": user,
            "roles": ["agent"],
            "employee_id": user,
            "skills": {"billing": 1},
            "ha1": sip_ha1(user, REALM, password),
            "password_hash": FAST_HASHER.hash(password),
        }
        for user, password in agents.items()
    ]
    config, _ = base_config(
        workdir,
        agents=(),
        numbers=[{"number": NUMBER, "category": "bench", "target": "controller", "queue": QUEUE}],
        queues=[
            {
                "name": QUEUE,
                "skills": {"billing": 1},
                "strategy": "longest_idle",
                "ring_timeout_ms": ring_timeout_ms,
                "wrap_up_ms": wrap_up_ms,
                # a missed ring is a failure here; it must not also shrink the pool
                "max_no_answers": 0,
            }
        ],
        controllers=[
            {
                "sip": f"127.0.0.1:{free_port()}",
                "control": f"127.0.0.1:{free_port()}",
                "name": f"bench-ctl{i}",
            }
            for i in range(controllers)
        ],
        acd={"listen": f"127.0.0.1:{free_port()}", "seat_range": [1, len(agents)]},
        presence={"managed": False},
        accounts=accounts,
    )
    config["node"] = {**config["node"], "name": "bench"}
    config["sip"] = {**config["sip"], "workers": kamailio_workers, "shm_mb": 1024}
    config["rtpengine"]["nodes"][0].update(port_min=PORT_MIN, port_max=PORT_MAX)
    # The product's SIP timers (base_config shortens them for tests): Kamailio waits 5 s
    # for a replica's first reply before failing over to the next.
    del config["timers"]
    return config, dict(agents)


class MediaSink:
    """The one RTP address in every party's SDP: a socket this process holds (so the
    port cannot be handed to anyone else) and drains, counting what reaches it (the
    controller's music on hold while a caller is parked; nothing else is sent)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True, name="media-sink")
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self._sock.recv(2048)
            except OSError:  # timeout: look at the stop flag again
                continue
            with self._lock:
                self._count += 1

    def take(self) -> int:
        """Packets received since the last call."""
        with self._lock:
            count, self._count = self._count, 0
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@dataclass
class Rig:
    stack: Stack
    acd: AcdClient
    events: redis.Redis
    controllers: int
    agents: int
    uas_port: int
    workdir: Path
    sink: MediaSink
    live: list[SippRun] = field(default_factory=list)

    def pid(self, name: str) -> int:
        return daemon_pid(self.stack, name)

    def groups(self) -> dict[str, list[int]]:
        groups = {"kamailio": session_pids(self.pid("kamailio"))}
        for i in range(self.controllers):
            groups[f"controller{i}"] = session_pids(self.pid(f"controller{i}"))
        groups["acd"] = session_pids(self.pid("acd"))
        groups["rtpengine"] = session_pids(self.pid("rtpengine0"))
        groups["redis"] = session_pids(self.pid("redis"))
        return groups

    def log_path(self, name: str) -> Path:
        return self.stack.layout.log_file(name)


def register_phones(rig: Rig, passwords: dict[str, str], *, rate: int = 200) -> float:
    """Every agent registers (digest) with its Contact on the answering sipp's port.

    The injection file holds the clear passwords: 0600, in the temp directory, and
    deleted as soon as the registration run is over."""
    csv = rig.workdir / "phones.inf"
    fd = os.open(csv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("SEQUENTIAL\n")
        for user, password in passwords.items():
            out.write(f"{user};[authentication username={user} password={password}]\n")
    t0 = time.monotonic()
    try:
        run = start_sipp(
            "register",
            "bench_acd_register",
            rig.stack.sip,
            workdir=rig.workdir,
            port=free_port(),
            calls=len(passwords),
            rate=rate,
            rate_period_ms=1000,
            limit=100,
            timeout_s=60,
            keys={"realm": rig.stack.realm, "contact_port": rig.uas_port, "expires": 3600},
            extra=["-inf", str(csv), *stat_args(rig.workdir, "register")],
        )
        rig.live.append(run)
        code = stop_run(run, timeout=75)
    finally:
        csv.unlink(missing_ok=True)
    stats = sipp_stats(run)
    if code != 0 or stats["successful"] != len(passwords):
        raise RuntimeError(
            f"registration: {stats['successful']}/{len(passwords)} phones "
            f"registered (sipp exit {code}): {run.errors()[-1500:]}"
        )
    return time.monotonic() - t0


# -- measuring ------------------------------------------------------------------------------
def thread_ticks(pid: int) -> dict[int, tuple[str, int]]:
    """tid -> (comm, utime+stime ticks) of every thread of `pid`."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tids:
        try:
            raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(tid)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def busiest_threads(
    pid: int, before: dict[int, tuple[str, int]], wall: float, top: int = 3
) -> list[str]:
    """The main thread's CPU since `before`, all the others' together, and the busiest
    of them, as 'name pct%' (of one core). A Python process's main thread is the
    controller's SIP loop; its other threads carry gRPC, Redis and the workers."""
    after = thread_ticks(pid)
    main, others, deltas = 0, 0, []
    for tid, (comm, ticks) in after.items():
        used = ticks - before.get(tid, (comm, 0))[1]
        if tid == pid:
            main = used
        else:
            others += used
            deltas.append((used, f"{comm}/{tid}"))
    deltas.sort(reverse=True)

    def pct(ticks: int) -> str:
        return f"{ticks / CLK_TCK / wall * 100:.0f}%"

    return [
        f"main {pct(main)}",
        f"other threads {pct(others)}",
        *(f"{name} {pct(used)}" for used, name in deltas[:top] if used > 0),
    ]


OWN_NG_COMMANDS = {"ping", "stats", "list"}  # this benchmark's own probes


def ng_counts(stack: Stack) -> dict[str, int]:
    """rtpengine's count of each ng command so far (its "statistics" command)."""
    try:
        stats = stack.ng().request("statistics").get("statistics", {})
    except Exception:  # an older rtpengine: no figures, not a failure
        return {}
    control = stats.get("controlstatistics", {})
    return {
        key.removeprefix("total").removesuffix("count"): int(value)
        for key, value in control.items()
        if key.startswith("total") and key.endswith("count") and str(value).isdigit()
    }


def ng_ping_ms(stack: Stack) -> float:
    """Round trip of one ng ping to rtpengine (ms); its 1 s timeout when unanswered."""
    t0 = time.perf_counter()
    try:
        stack.ng().ping()
    except Exception:  # unanswered: counted as the timeout
        return 1000.0
    return (time.perf_counter() - t0) * 1000


def rtpengine_ports_used(stack: Stack) -> int:
    try:
        stats = stack.ng().request("statistics").get("statistics", {})
        return sum(int(i["ports"]["used"]) for i in stats.get("interfaces", []))
    except Exception:  # no figure; not a failure
        return 0


def log_mark(client: redis.Redis) -> str:
    newest: Any = client.xrevrange(DEFAULT_STREAM, count=1)
    if not newest:
        return "0"
    entry_id = newest[0][0]
    return "(" + (entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))


@dataclass
class LogCounts:
    kinds: dict[str, int]
    arrived_by_node: dict[str, int]
    ended_causes: dict[str, int]
    arrival_rate: float
    arrival_span_s: float


def event_counts(client: redis.Redis, since: str) -> LogCounts:
    kinds: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    arrivals = []
    for delivery in replay(client, from_id=since):
        event = delivery.event
        kinds[event.kind] += 1
        if event.kind == CALL_ARRIVED:
            nodes[event.node] += 1
            arrivals.append(event.ts)
        elif event.kind == CALL_ENDED:
            causes[str(event.data.get("cause", ""))] += 1
    span = max(arrivals) - min(arrivals) if len(arrivals) > 1 else 0.0
    return LogCounts(
        dict(kinds),
        dict(nodes),
        dict(causes),
        (len(arrivals) - 1) / span if span > 0 else 0.0,
        span,
    )


def percentiles(values: list[float]) -> dict[str, float]:
    ms = sorted(values)
    if not ms:
        return {"n": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "n": len(ms),
        "p50": statistics.median(ms),
        "p90": ms[int(len(ms) * 0.9) - 1] if len(ms) >= 10 else ms[-1],
        "p99": ms[int(len(ms) * 0.99) - 1] if len(ms) >= 100 else ms[-1],
        "max": ms[-1],
    }


def rtt_percentiles(run: SippRun) -> dict[str, dict[str, float]]:
    """p50/p90/p99/max (ms) of each response time of the caller's -trace_rtt file."""
    values: dict[str, list[float]] = {}
    for path in run.workdir.glob(f"*_{run.process.pid}_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.strip().split(";")
            if len(parts) >= 3 and parts[2]:
                values.setdefault(parts[2], []).append(float(parts[1]))
    return {name: percentiles(ms) for name, ms in values.items()}


def log_problems(path: Path, offset: int) -> tuple[int, str]:
    """ERROR/Traceback lines written after `offset`, and the first of them."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return 0, ""
    bad = [
        line
        for line in text.splitlines()
        if " ERROR" in line or "Traceback" in line or "CRITICAL" in line
    ]
    return len(bad), bad[0][:300] if bad else ""


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# -- one step ---------------------------------------------------------------------------------
@dataclass
class Leftovers:
    rtpengine_sessions: int
    controller_calls: int
    controller_media: int
    agent_states: dict[str, int]
    queue_waiting: int
    waited_s: float

    @property
    def clean(self) -> bool:
        return (
            self.rtpengine_sessions == 0
            and self.controller_calls == 0
            and self.controller_media == 0
            and self.queue_waiting == 0
            and set(self.agent_states) == {"IDLE"}
        )


def leftovers(rig: Rig, timeout: float) -> Leftovers:
    """Wait up to `timeout` for the stack to be idle; what is left then."""
    t0 = time.monotonic()
    controls = [rig.stack.replica_control(i) for i in range(rig.controllers)]
    try:
        while True:
            statuses = [c.cmd("status") for c in controls]
            snapshot = rig.acd.get_snapshot()
            states = Counter(
                pb.AgentState.Name(a.state).removeprefix("AGENT_STATE_") for a in snapshot.agents
            )
            states["LOGGED_OUT"] += rig.agents - len(snapshot.agents)
            if not states["LOGGED_OUT"]:
                del states["LOGGED_OUT"]
            result = Leftovers(
                rtpengine_sessions=len(rig.stack.rtpengine_calls()),
                controller_calls=sum(int(s["calls"]) for s in statuses),
                controller_media=sum(int(s["media_sessions"]) for s in statuses),
                agent_states=dict(states),
                queue_waiting=sum(q.waiting for q in snapshot.queues),
                waited_s=time.monotonic() - t0,
            )
            if result.clean or time.monotonic() - t0 > timeout:
                return result
            time.sleep(0.25)
    finally:
        for control in controls:
            control.close()


@dataclass
class StepResult:
    rate: int
    duration_s: int
    controllers: int
    agents: int
    attempted: int
    successful: int
    failed: int
    agent_successful: int
    agent_failed: int
    retransmissions: int
    caller_exit: int | None
    agent_exit: int | None
    wall_s: float
    arrival_rate: float  # calls/s reaching the controllers, first to last call.arrived
    arrival_span_s: float
    events: dict[str, int]
    arrived_by_node: dict[str, int]
    ended_causes: dict[str, int]
    latency_ms: dict[str, dict[str, float]]
    cpu_s: dict[str, float]
    us_per_call: dict[str, float]
    core_pct: dict[str, float]
    idle_core_pct: dict[str, float]  # with no call, measured just before the step
    net_us_per_call: dict[str, float]  # less that idle cost
    machine_busy_pct: float
    others_busy_pct: float
    load_at_start: float
    threads: dict[str, list[str]]
    udp_rcvbuf_drops: int
    left: Leftovers
    ng_per_call: dict[str, float]  # rtpengine ng commands per successful call
    rtpengine_ports_peak: int
    ng_ping_ms: dict[str, float]  # rtpengine's answer to an ng ping, sampled 5/s
    media_sink_packets: int  # RTP that reached the parties' SDP address (music on hold)
    log_errors: dict[str, int]
    first_errors: dict[str, str]

    def failures(self) -> list[str]:
        calls = self.rate * self.duration_s
        why = []
        if self.caller_exit != 0:
            why.append(f"caller sipp exit {self.caller_exit}")
        if self.failed or self.successful != calls:
            why.append(f"caller: {self.successful}/{calls} ok, {self.failed} failed")
        if self.agent_failed or self.agent_successful != self.successful:
            why.append(f"agents' phones: {self.agent_successful} ok, {self.agent_failed} failed")
        ev = self.events
        if not (
            ev.get(CALL_ARRIVED, 0) == ev.get(CALL_ANSWERED, 0) == ev.get(CALL_ENDED, 0) == calls
        ):
            why.append(
                f"event log: arrived {ev.get(CALL_ARRIVED, 0)}, answered "
                f"{ev.get(CALL_ANSWERED, 0)}, ended {ev.get(CALL_ENDED, 0)}"
            )
        if ev.get(CALL_NO_ANSWER, 0):
            why.append(f"{ev[CALL_NO_ANSWER]} rings not answered")
        # Kept pace: the arrivals spread over no more than the offered span / PACE, plus
        # a second for the jitter of the first and last call's setup.
        if self.arrival_span_s > (calls - 1) / self.rate / PACE + 1.0:
            why.append(
                f"calls reached the controllers at {self.arrival_rate:.1f}/s "
                f"(over {self.arrival_span_s:.1f} s)"
            )
        if not self.left.clean:
            why.append(f"left over: {self.left}")
        return why

    @property
    def passed(self) -> bool:
        return not self.failures()


def run_step(
    rig: Rig,
    index: int,
    *,
    rate: int,
    duration_s: int,
    hold_ms: int,
    ring_ms: int,
    settle_s: float,
    desks_pid: int,
    idle_s: float,
) -> StepResult:
    calls = rate * duration_s
    name = f"{index:02d}-{rate}cps"
    mark = log_mark(rig.events)
    logs = {
        n: rig.log_path(n)
        for n in ["kamailio", "acd", *[f"controller{i}" for i in range(rig.controllers)]]
    }
    offsets = {n: log_size(p) for n, p in logs.items()}
    load = os.getloadavg()[0]
    timeout_s = duration_s * 2 + 60

    agent = None
    for _ in range(5):  # the port is fixed (every Contact points at it); retry a slow unbind
        agent = start_sipp(
            f"{name}-agents",
            "bench_acd_agent",
            rig.stack.sip,
            workdir=rig.workdir,
            port=rig.uas_port,
            media_port=free_port(),
            calls=calls,
            pause_ms=ring_ms,
            timeout_s=timeout_s,
            keys={"rtp_port": rig.sink.port},
            extra=[
                *stat_args(rig.workdir, f"{name}-agents"),
                "-buff_size",
                "4194304",
                "-max_recv_loops",
                "10000",
                "-max_sched_loops",
                "10000",
            ],
        )
        rig.live.append(agent)
        time.sleep(0.3)
        if agent.process.poll() is None:
            break
        time.sleep(1)
    assert agent is not None
    if agent.process.poll() is not None:
        raise RuntimeError(f"the agents' sipp did not start: {agent.errors()[-1000:]}")

    groups = rig.groups()
    groups["sipp"] = [agent.process.pid]
    groups["desks"] = [desks_pid]
    groups["bench"] = [os.getpid()]
    # Idle first: what each component costs with no call (timers, probes, heartbeats).
    idle = CpuMeter({n: list(pids) for n, pids in groups.items()})
    idle.start()
    time.sleep(idle_s)
    idle.stop()
    idle_pct = {n: used / idle.wall * 100 for n, used in idle.used.items()}
    watched = {n: groups[n][0] for n in groups if n.startswith("controller")}
    watched["acd"] = rig.pid("acd")
    before = {n: thread_ticks(pid) for n, pid in watched.items()}
    meter = CpuMeter(groups)
    drops = udp_rcvbuf_errors()
    ng_before = ng_counts(rig.stack)
    rig.sink.take()
    meter.start()
    caller = start_sipp(
        f"{name}-callers",
        "bench_acd_caller",
        rig.stack.sip,
        workdir=rig.workdir,
        port=free_port(),
        media_port=free_port(),
        service=NUMBER,
        calls=calls,
        rate=rate,
        rate_period_ms=1000,
        limit=max(50, rate * 10),
        pause_ms=hold_ms,
        timeout_s=timeout_s,
        keys={"caller": CALLER, "rtp_port": rig.sink.port},
        extra=[
            *stat_args(rig.workdir, f"{name}-callers"),
            "-trace_rtt",
            "-rtt_freq",
            "1",
            "-recv_timeout",
            str(RECV_TIMEOUT_MS),
            "-buff_size",
            "4194304",
            "-max_recv_loops",
            "10000",
            "-max_sched_loops",
            "10000",
        ],
    )
    rig.live.append(caller)
    meter.groups["sipp"].append(caller.process.pid)
    # While the callers run: rtpengine's ports in use, once a second (its peak is
    # what the port range must hold), and how long it takes to answer an ng ping, five
    # times a second (the controllers wait for every ng reply on their SIP loop).
    ports_peak, pings = 0, []
    deadline = time.monotonic() + timeout_s + 15
    next_ports = 0.0
    while caller.process.poll() is None and time.monotonic() < deadline:
        if time.monotonic() >= next_ports:
            ports_peak = max(ports_peak, rtpengine_ports_used(rig.stack))
            next_ports = time.monotonic() + 1.0
        pings.append(ng_ping_ms(rig.stack))
        time.sleep(0.2)
    caller_exit = stop_run(caller, timeout=max(1.0, deadline - time.monotonic()))
    meter.stop()
    threads = {n: busiest_threads(pid, before[n], meter.wall) for n, pid in watched.items()}
    drops = udp_rcvbuf_errors() - drops
    ng_after = ng_counts(rig.stack)
    agent_exit = stop_run(agent, timeout=5)
    c, a = sipp_stats(caller), sipp_stats(agent)
    left = leftovers(rig, settle_s)
    counts = event_counts(rig.events, mark)
    problems = {n: log_problems(p, offsets[n]) for n, p in logs.items()}
    ok = max(c["successful"], 1)
    wall = meter.wall or 1.0
    return StepResult(
        rate=rate,
        duration_s=duration_s,
        controllers=rig.controllers,
        agents=rig.agents,
        attempted=c["outgoing"],
        successful=c["successful"],
        failed=c["failed"],
        agent_successful=a["successful"],
        agent_failed=a["failed"],
        retransmissions=c["retransmissions"] + a["retransmissions"],
        caller_exit=caller_exit,
        agent_exit=agent_exit,
        wall_s=meter.wall,
        arrival_rate=counts.arrival_rate,
        arrival_span_s=counts.arrival_span_s,
        events=counts.kinds,
        arrived_by_node=counts.arrived_by_node,
        ended_causes=counts.ended_causes,
        latency_ms=rtt_percentiles(caller),
        cpu_s=dict(meter.used),
        us_per_call={n: s * 1e6 / ok for n, s in meter.used.items()},
        core_pct={n: s / wall * 100 for n, s in meter.used.items()},
        idle_core_pct=idle_pct,
        net_us_per_call={
            n: max(0.0, s - idle_pct[n] / 100 * wall) * 1e6 / ok for n, s in meter.used.items()
        },
        machine_busy_pct=meter.machine_busy * 100,
        others_busy_pct=meter.others_busy * 100,
        load_at_start=load,
        threads=threads,
        udp_rcvbuf_drops=drops,
        left=left,
        ng_per_call={
            k: (v - ng_before.get(k, 0)) / ok
            for k, v in ng_after.items()
            if v - ng_before.get(k, 0) > 0 and k not in OWN_NG_COMMANDS
        },
        rtpengine_ports_peak=ports_peak,
        media_sink_packets=rig.sink.take(),
        ng_ping_ms=percentiles(pings),
        log_errors={n: count for n, (count, _) in problems.items()},
        first_errors={n: first for n, (_, first) in problems.items() if first},
    )


def report(result: StepResult) -> None:
    r = result
    calls = r.rate * r.duration_s
    verdict = "PASS" if r.passed else "FAIL"
    print(
        f"\n== {r.rate} calls/s x {r.duration_s} s, {r.agents} agents, "
        f"{r.controllers} controller(s): {verdict}"
    )
    print(
        f"calls: offered {calls}, attempted {r.attempted}, ok {r.successful}, failed "
        f"{r.failed}; agents' phones ok {r.agent_successful}, failed {r.agent_failed}; "
        f"retransmissions {r.retransmissions}; sipp exit {r.caller_exit}/{r.agent_exit}"
    )
    print(f"event log: {', '.join(f'{k} {v}' for k, v in sorted(r.events.items()))}")
    print(
        f"  arrived by controller: {r.arrived_by_node}; ended causes: {r.ended_causes}; "
        f"arrival rate at the controllers {r.arrival_rate:.1f}/s"
    )
    for rtd, p in sorted(r.latency_ms.items()):
        print(
            f"latency {rtd:9s} (n={p['n']:.0f}): p50 {p['p50']:.0f} ms, p90 {p['p90']:.0f} ms,"
            f" p99 {p['p99']:.0f} ms, max {p['max']:.0f} ms"
        )
    print(
        f"CPU over {r.wall_s:.1f} s (load average at start {r.load_at_start:.2f}; machine "
        f"busy {r.machine_busy_pct:.0f}% of {os.cpu_count()} cores, of which other "
        f"processes {r.others_busy_pct:.0f}%):"
    )
    print(
        f"  {'component':12s} {'us/call':>8s} {'net of idle':>11s} {'% of a core':>11s} "
        f"{'idle %':>7s}  busiest threads (% of a core)"
    )
    for name, us in r.us_per_call.items():
        extra = f"  {', '.join(r.threads[name])}" if r.threads.get(name) else ""
        print(
            f"  {name:12s} {us:8.0f} {r.net_us_per_call[name]:11.0f} "
            f"{r.core_pct[name]:11.1f} {r.idle_core_pct[name]:7.1f}{extra}"
        )
    print(
        f"  {'all measured':12s} {sum(r.us_per_call.values()):8.0f} "
        f"{sum(r.net_us_per_call.values()):11.0f} {sum(r.core_pct.values()):11.1f} "
        f"{sum(r.idle_core_pct.values()):7.1f}"
    )
    print(
        "rtpengine ng commands per call: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.ng_per_call.items(), key=lambda kv: -kv[1]))
    )
    p = r.ng_ping_ms
    print(
        f"rtpengine ng ping round trip during the step (n={p['n']:.0f}): p50 {p['p50']:.1f} ms,"
        f" p90 {p['p90']:.1f} ms, p99 {p['p99']:.1f} ms, max {p['max']:.1f} ms"
    )
    print(
        f"rtpengine ports in use at most {r.rtpengine_ports_peak}; RTP packets that reached "
        f"the parties' SDP address (music on hold while parked): {r.media_sink_packets}"
    )
    print(
        f"after the step (waited {r.left.waited_s:.1f} s): rtpengine sessions "
        f"{r.left.rtpengine_sessions}, controller calls {r.left.controller_calls}, media "
        f"sessions {r.left.controller_media}, queue waiting {r.left.queue_waiting}, "
        f"agents {r.left.agent_states}"
    )
    print(f"UDP receive-buffer drops {r.udp_rcvbuf_drops}; log ERROR lines {r.log_errors}")
    for name, line in r.first_errors.items():
        print(f"  first in {name}: {line}")
    for why in r.failures():
        print(f"  FAILED: {why}")


# -- main -------------------------------------------------------------------------------------
@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so every `finally` below stops what it started."""

    def handler(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="calls per second")
    parser.add_argument(
        "--duration",
        type=int,
        default=None,
        help=f"seconds per step (default {TARGET_DURATION_S}; 30 with --sweep)",
    )
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--controllers", type=int, default=1, help="controller replicas")
    parser.add_argument("--kamailio-workers", type=int, default=4)
    parser.add_argument("--hold-ms", type=int, default=1000, help="talk time after the bridge")
    parser.add_argument("--ring-ms", type=int, default=100, help="phones answer after this")
    parser.add_argument("--ring-timeout-ms", type=int, default=5000, help="the queue's")
    parser.add_argument("--wrap-up-ms", type=int, default=0, help="the queue's")
    parser.add_argument(
        "--sweep", action="store_true", help="step the rate up (--steps) until a step fails"
    )
    parser.add_argument(
        "--steps", default="25,50,60,70,80,90,100,125,150", help="rates for --sweep"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 200 agents, 20 calls/s for 8 s (~30 s in all)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--cdr",
        action="store_true",
        help="also run the CDR service (chDB) and measure hang-up -> CDR "
        "visible in a dashboard query for every call of each step",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (logs, sipp files) even on success",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.agents = min(args.agents, 200)
        args.rate = 20
        args.duration = args.duration or 8
        args.sweep = False
    if args.duration is None:
        args.duration = 30 if args.sweep else TARGET_DURATION_S
    busy_agents = args.rate * (args.hold_ms + args.ring_ms + args.wrap_up_ms + 500) / 1000
    if busy_agents > args.agents * 0.8:
        parser.error(
            f"{args.agents} agents are too few for {args.rate} calls/s "
            f"(about {busy_agents:.0f} would be busy at once)"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rates = [int(r) for r in args.steps.split(",")] if args.sweep else [args.rate]
    facts = machine_facts()
    print_facts(facts)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-acd-inbound-"))
    print(f"workdir: {workdir}")
    results: list[StepResult] = []
    ok = False
    with terminate_on_sigterm():
        try:
            results = run(args, rates, workdir)
            ok = bool(results) and all(r.passed for r in results)
        except KeyboardInterrupt:
            print("interrupted: everything started was stopped", file=sys.stderr)
        finally:
            (workdir / "phones.inf").unlink(missing_ok=True)
            if ok and not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                print(f"work directory kept (logs, sipp files; no clear password): {workdir}")
    if results:
        passing = [r.rate for r in results if r.passed]
        best = max(passing) if passing else None
        if args.sweep:
            print(
                f"\nhighest zero-failure rate: {best if best else 'none'} calls/s "
                f"({args.duration} s steps, {args.agents} agents, "
                f"{args.controllers} controller(s))"
            )
        else:
            r = results[0]
            met = r.passed and r.rate >= TARGET_RATE and r.duration_s >= TARGET_DURATION_S
            print(
                f"\ntarget {TARGET_RATE} calls/s for {TARGET_DURATION_S} s with zero failures: "
                f"{'MET' if met else 'not met'} (this run: {r.rate}/s x {r.duration_s} s, "
                f"{'PASS' if r.passed else 'FAIL'})"
            )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "facts": facts,
                        "load_at_start": load,
                        "args": vars(args) | {"json": None},
                        "steps": [asdict(r) for r in results],
                    },
                    indent=2,
                    default=str,
                )
            )
    if args.sweep:  # a sweep ends on its first failing step by design
        return 0 if results and results[0].passed else 1
    return 0 if ok else 1


def run(args: argparse.Namespace, rates: list[int], workdir: Path) -> list[StepResult]:
    agents = make_agents(args.agents)
    t0 = time.monotonic()
    config, passwords = inbound_config(
        workdir / "stack",
        agents,
        controllers=args.controllers,
        kamailio_workers=args.kamailio_workers,
        ring_timeout_ms=args.ring_timeout_ms,
        wrap_up_ms=args.wrap_up_ms,
    )
    if args.cdr:  # the CDR service as `callcenter up` runs it, on the embedded store
        config["analytics"] = {
            "data_dir": str(workdir / "chdb"),
            "listen": f"127.0.0.1:{free_port()}",
        }
    print(f"{args.agents} accounts hashed in {time.monotonic() - t0:.1f} s; starting the stack")
    results: list[StepResult] = []
    t0 = time.monotonic()
    with running_stack(workdir / "stack", config, passwords) as stack:
        assert stack.config.acd is not None
        print(
            f"stack up in {time.monotonic() - t0:.1f} s: kamailio {stack.sip} "
            f"({args.kamailio_workers} workers), {args.controllers} controller(s), ACD "
            f"{stack.config.acd.listen}, rtpengine ports {PORT_MIN}-{PORT_MAX}"
        )
        host, port = split_hostport(stack.config.redis.listen)
        events = redis.Redis(host=host, port=port)
        acd = AcdClient(stack.config.acd.listen, timeout=5.0, retry_for=10.0, token=stack.acd_token)
        rig = Rig(
            stack, acd, events, args.controllers, args.agents, free_port(), workdir, MediaSink()
        )
        desks = Desks(
            stack.config.acd.listen,
            [
                Desk(user, password, int(user), int(user) - AGENT_BASE)
                for user, password in agents.items()
            ],
        )
        try:
            for i in range(args.controllers):
                path = rig.log_path(f"controller{i}")
                log = path.read_text
                wait_for(
                    lambda: controller_feed_subscribed(log()),  # noqa: B023 (waited here)
                    15,
                    f"controller{i}'s ACD action feed",
                )
            took = register_phones(rig, passwords)
            print(
                f"{args.agents} phones registered at Kamailio in {took:.1f} s, every Contact "
                f"on one sipp at 127.0.0.1:{rig.uas_port}"
            )
            login = desks.start()
            if login["logged_in"] != args.agents:
                raise RuntimeError(f"logins: {login}")
            print(
                f"{args.agents} agents logged in at the ACD in {login['seconds']:.1f} s "
                f"(lease {login['lease_s']:.0f} s: {args.agents / (login['lease_s'] / 3):.0f}"
                f" heartbeats/s during the run)"
            )
            for index, rate in enumerate(rates):
                probe = None
                if stack.config.analytics is not None:
                    probe = FreshnessProbe(
                        events,
                        stack.config.analytics.stream,
                        ServiceClient(stack.config.analytics.url()),
                    ).start()
                result = run_step(
                    rig,
                    index,
                    rate=rate,
                    duration_s=args.duration,
                    hold_ms=args.hold_ms,
                    ring_ms=args.ring_ms,
                    settle_s=15 + args.wrap_up_ms / 1000,
                    desks_pid=desks.pid,
                    idle_s=3 if args.quick else 5,
                )
                results.append(result)
                report(result)
                if probe is not None:
                    print(f"  {probe.stop().line()}")
                if not result.passed:
                    break
            stats = desks.stop()
            print(f"desks: {stats}")
        finally:
            for run in rig.live:
                run.stop()
            desks.kill()
            rig.sink.close()
            acd.close()
            events.close()
    return results


if __name__ == "__main__":
    sys.exit(main())
