"""Queueing through the real stack, time-compressed, against Erlang C.

`benchmarks/acd_vs_erlang.py` checks the ACD core alone under a simulated clock.
This runs the same M/M/N experiment through every real process: Kamailio, one
call-controller replica, the ACD replica, rtpengine and Redis (as `callcenter up`
starts them, in a temporary run directory; no CDR service, dashboards or presence
watcher; phone keepalive off), sipp callers and sipp agent phones. Time is
compressed by `--compress` (default 30): AHT 180 s becomes 6 s and the service
level threshold 20 s becomes 0.667 s, so Erlang C gives the same SL and P(wait),
and an ASA 30 times smaller.

The experiment (the defaults are the DESIGN.md vector: A = 10 Erlang, N = 14):
- Agents: N accounts (1001...), logged in at the ACD over gRPC by the agent
  simulator in controller mode (heartbeats only; the controller reports the
  calls), in order, through testbed.AcdPath. Their phones are ONE
  sipp UAS (sipp/bench_queue_agent.xml) on which every agent registers its Contact
  with digest auth; it answers at once (180 then 200, no ring time).
- Queue: longest idle, FIFO (one priority), ring timeout 30 s (never reached),
  wrap-up 0, no overflow, max_no_answers 0.
- Callers: ONE sipp process (sipp/bench_queue_caller.xml) places every call at its
  own instant: the benchmark draws Poisson arrivals (exponential inter-arrival
  times, rate A / AHT) and exponential talk times (mean AHT) with a seeded RNG
  and hands them to sipp in an injection file; each sipp call sleeps until its
  arrival instant, dials, waits in the queue for as long as it takes (infinite
  patience), talks its drawn time after the bridge and hangs up. sipp's own
  `-rate` would space the calls uniformly. No process is started per call, so
  there is no launch overhead to correct for; the timing that is left (sipp's
  timer, the SIP path to the controller) is measured and printed, and all the
  figures use the arrival instants the controller itself logged.
- Media: no party sends RTP. rtpengine anchors every call (offer/answer, music on
  hold while queued); its no-RTP timeout is raised to an hour, and the
  controller's dead-leg check (`--rtp-timeout`, 30 s by default, a check of RTP
  that these parties never send) is off. It is the only change to what
  `callcenter up` starts. Kept on, it would end the ~0.7 % of calls whose wait
  plus talk exceeds 30 s and cut the exponential tail. The price: a caller that
  sipp gives up on (a retransmission timeout) sends no BYE and its agent stays
  talking for good, so the run stops at the first failed call.

Measurement, from the call event log (one Redis stream, every process on one host
clock), per call (same correlation ID):
- wait W = call.answered (controller: agent answered, caller re-INVITEd to the
  bridge) - call.arrived (controller: the INVITE reached it). SL = share of W <=
  T, ASA = mean W.
- its parts: arrived -> call.queued (ACD) is the path in; queued -> agent.state
  reserved (ACD) is the queue wait proper, the M/M/N wait; reserved -> answered is
  the path out to the phone and back. Offset = W - queue wait: the latency the
  real path adds to every call, queued or not. P(wait) = share of calls whose
  reservation came after their queueing.
- agent occupancy = reserved -> idle (the ACD): the service time Erlang C sees;
  it exceeds the drawn talk time by the ring path and the hang-up path.
Confidence intervals: batch means. After the warm-up (the first `--warmup` calls
by arrival, 10 holding times of traffic by default), the calls in arrival order
are cut into `--batches` equal consecutive batches (10 by default: ~140 calls,
~14 holding times each) whose means are treated as independent; 95 % half-width
= t(0.975, batches - 1) x stdev / sqrt(batches). The lag-1 autocorrelation of
the batch means is printed as a check of that independence.

Paired replay: the same arrival instants (the controller's) and the same drawn
talk times are fed through an exact FIFO M/M/N recursion (Kiefer-Wolfowitz).
It gives the SL an ideal ACD with a zero-latency path would have had on THIS
sample; real - replay, batch-meaned per call, isolates what the stack adds from
the sampling noise, which at 1,500 calls dominates the comparison with Erlang C.
It is split, per call and paired the same way, into the agents' longer occupancy
(the recursion rerun with each call's measured occupancy), the wait offset (those
waits plus each call's offset) and a remainder.

Calibration: 1,000 simulated runs of the ideal M/M/N of the same size (seeds after
`--seed`) show how often this CI method covers Erlang C at this run length; at
1,500 calls the batch means are still a little correlated and the waits skewed,
so the nominal 95 % covers less (printed).

    .venv/bin/python -m benchmarks.acd_queueing_real            # 1,500 calls, ~16 min
    .venv/bin/python -m benchmarks.acd_queueing_real --quick    # 150 calls, ~2 min
    .venv/bin/python -m benchmarks.acd_queueing_real --compress 30 --agents 14 \\
        --erlangs 10 --calls 1500

Exit status 1 if any call failed (sipp, a missed ring, a wrong end) or something
was left in the stack, or (not with --quick) if the real SL differs from Erlang C
by more than three half-widths.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import heapq
import itertools
import math
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from acd_client import AcdClient
from benchmarks._harness import (
    CpuMeter,
    daemon_pid,
    machine_facts,
    print_facts,
    session_pids,
    sipp_stats,
    stat_args,
    stop_run,
    wait_for,
)
from configuration import split_hostport
from eventlog import (
    AGENT_STATE,
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_NO_ANSWER,
    CALL_QUEUED,
    CALL_RINGING,
    replay,
)
from simulators import SippRun, free_port, register, start_sipp
from teletraffic import average_speed_of_answer, erlang_c, service_level
from testbed import AcdPath, Stack, acd_path_config, controller_feed_subscribed, running_stack

AHT_S = 180.0  # uncompressed: the DESIGN.md vector
TARGET_S = 20.0
NUMBER = "95598"
QUEUE = "queueing"
SKILLS = {"billing": 1}
CONTROLLER = "qbench-ctl0"
AGENT_BASE = 1000  # agent i (1..N) is account, SIP user and employee ID 1000 + i
PORT_MIN, PORT_MAX = 50000, 59999  # rtpengine; others use 20000-31999 and 40000-49999
RING_TIMEOUT_MS = 30_000  # the queue's: generous, never reached (phones answer at once)
LAUNCH_RATE = 1000  # calls/s at which sipp creates the (sleeping) calls
# Student t, 97.5 % quantile, by degrees of freedom (batches - 1).
T_975 = [
    math.nan,
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]
# Stephens (1974): Kolmogorov-Smirnov for an exponential with an estimated mean; the
# modified statistic (D - 0.2/n)(sqrt(n) + 0.26 + 0.5/sqrt(n)) exceeds 1.094 with 5 %.
KS_EXP_CRITICAL_5PCT = 1.094


# -- the plan: Poisson arrivals, exponential talk times -----------------------------------
@dataclass(frozen=True)
class Plan:
    arrivals_s: list[float]  # since the first instant, increasing
    talks_s: list[float]
    rate: float  # calls/s
    aht_s: float
    lead_s: float  # sipp's clock_tick of arrival 0 is lead + arrivals_s[0]

    def caller(self, index: int) -> str:
        """The calling number of call `index`, as sipp sends it (+86 139 + 8 digits);
        the edge normalises it to 139xxxxxxxx, which names the call in call.arrived."""
        return f"+86139{index:08d}"


def draw_plan(calls: int, rate: float, aht_s: float, seed: int) -> Plan:
    rng = random.Random(seed)  # a reproducible experiment, not secrets
    now, arrivals, talks = 0.0, [], []
    for _ in range(calls):
        now += rng.expovariate(rate)
        arrivals.append(now)
        talks.append(rng.expovariate(1.0 / aht_s))
    return Plan(arrivals, talks, rate, aht_s, lead_s=3.0 + calls / LAUNCH_RATE * 2)


def index_of(normalised_caller: str) -> int | None:
    if len(normalised_caller) == 11 and normalised_caller.startswith("139"):
        return int(normalised_caller[3:])
    return None


# -- the stack --------------------------------------------------------------------------
def agent_names(count: int) -> tuple[str, ...]:
    return tuple(str(AGENT_BASE + i) for i in range(1, count + 1))


def queueing_config(
    workdir: Path, agents: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, str]]:
    config, passwords = acd_path_config(
        workdir,
        agents,
        numbers=[{"number": NUMBER, "category": "bench", "target": "controller", "queue": QUEUE}],
        queues=[
            {
                "name": QUEUE,
                "skills": dict(SKILLS),
                "strategy": "longest_idle",
                "ring_timeout_ms": RING_TIMEOUT_MS,
                "wrap_up_ms": 0,
                "max_no_answers": 0,
            }
        ],
        skills=dict(SKILLS),
        controller_name=CONTROLLER,
    )
    config["node"] = {**config["node"], "name": "qbench"}
    config["rtpengine"]["nodes"][0].update(port_min=PORT_MIN, port_max=PORT_MAX)
    config["rtpengine"]["rtp_timeout_s"] = 3600  # nobody sends RTP; keep the sessions
    # dead_leg_timeout_ms 0: the controllers' `--rtp-timeout 0` (module docstring).
    config["timers"] = {
        "ring_timeout_ms": RING_TIMEOUT_MS,
        "transaction_timeout_ms": 2000,
        "invite_timeout_ms": 60_000,
        "dead_leg_timeout_ms": 0,
    }
    return config, passwords


def start_phones(
    stack: Stack,
    agents: tuple[str, ...],
    workdir: Path,
    *,
    calls: int,
    timeout_s: int,
    live: list[SippRun],
) -> tuple[SippRun, int]:
    """The one answering sipp, then every agent's REGISTER (digest) with its Contact on
    it; returns the run and its port."""
    port = free_port()
    phones = start_sipp(
        "phones",
        "bench_queue_agent",
        stack.sip,
        workdir=workdir,
        port=port,
        calls=calls,
        timeout_s=timeout_s,
        keys={"rtp_port": free_port()},
        extra=stat_args(workdir, "phones"),
    )
    live.append(phones)
    time.sleep(0.3)
    if phones.process.poll() is not None:
        raise RuntimeError(f"the phones' sipp exited at once: {phones.errors()[-1500:]}")
    for name in agents:
        register(
            stack.sip, name, stack.passwords[name], stack.realm, port, workdir=workdir, expires=3600
        )
    return phones, port


def write_injection(plan: Plan, path: Path) -> None:
    lead_ms = plan.lead_s * 1000
    with path.open("w") as out:
        out.write("SEQUENTIAL\n")
        for i, (arrival, talk) in enumerate(zip(plan.arrivals_s, plan.talks_s, strict=True)):
            out.write(f"{lead_ms + arrival * 1000:.0f};{talk * 1000:.0f};{plan.caller(i)}\n")


# -- what happened to each call -------------------------------------------------------------
@dataclass
class CallTimes:
    cid: str
    index: int | None = None
    arrived: float = math.nan
    queued: float = math.nan
    reserved: float = math.nan
    ringing: float = math.nan
    answered: float = math.nan
    freed: float = math.nan  # the agent left talking (idle: wrap-up is 0)
    ended: float = math.nan
    reservations: int = 0
    rings: int = 0
    no_answers: int = 0
    answers: int = 0
    end: str = ""
    agent: str = ""

    @property
    def wait(self) -> float:
        return self.answered - self.arrived

    @property
    def queue_wait(self) -> float:
        return self.reserved - self.queued

    @property
    def offset(self) -> float:
        return self.wait - self.queue_wait

    @property
    def occupancy(self) -> float:
        return self.freed - self.reserved

    def problem(self) -> str:
        if self.index is None:
            return "unknown caller"
        if self.answers != 1 or self.reservations != 1 or self.rings != 1:
            return f"{self.reservations} reservations, {self.rings} rings, {self.answers} answers"
        if self.no_answers:
            return f"{self.no_answers} unanswered rings"
        if self.end != "caller":
            return f"ended by {self.end or 'nobody'}"
        times = (
            self.arrived,
            self.queued,
            self.reserved,
            self.ringing,
            self.answered,
            self.freed,
            self.ended,
        )
        if any(math.isnan(t) for t in times):
            return "an event is missing"
        return ""


def call_times(client: redis.Redis, since: str) -> dict[str, CallTimes]:
    calls: dict[str, CallTimes] = {}

    def of(cid: str) -> CallTimes:
        return calls.setdefault(cid, CallTimes(cid))

    for delivery in replay(client, from_id=since):
        e = delivery.event
        cid = e.correlation_id
        if e.kind == AGENT_STATE:
            if not cid:
                continue
            if e["state"] == "reserved":
                of(cid).reservations += 1
                if math.isnan(of(cid).reserved):
                    of(cid).reserved = e.ts
            elif e["previous"] == "talking":
                of(cid).freed = e.ts
        elif e.kind == CALL_ARRIVED:
            of(cid).arrived = e.ts
            of(cid).index = index_of(e["caller"])
        elif e.kind == CALL_QUEUED:
            if math.isnan(of(cid).queued):
                of(cid).queued = e.ts
        elif e.kind == CALL_RINGING:
            of(cid).rings += 1
            if math.isnan(of(cid).ringing):
                of(cid).ringing = e.ts
        elif e.kind == CALL_NO_ANSWER:
            of(cid).no_answers += 1
        elif e.kind == CALL_ANSWERED:
            of(cid).answers += 1
            of(cid).answered = e.ts
            of(cid).agent = e["agent"]
        elif e.kind == CALL_ENDED:
            of(cid).ended = e.ts
            of(cid).end = e["side"]
    return calls


def sends(run: SippRun) -> dict[int, tuple[float, float]]:
    """Call index -> (epoch when sipp sent the INVITE, the ms it slept before)."""
    out = {}
    for line in run.log_lines():
        if not line.startswith("SEND "):
            continue
        fields = dict(part.split("=", 1) for part in line.split()[1:3])
        index = index_of(fields["caller"].removeprefix("+86"))
        if index is not None:
            out[index] = (float(line.split()[-1]), float(fields["sleep_ms"]))
    return out


# -- statistics -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    mean: float
    half_width: float
    lag1: float  # autocorrelation of consecutive batch means

    def fmt(self, digits: int = 4, scale: float = 1.0) -> str:
        return f"{self.mean * scale:.{digits}f} ± {self.half_width * scale:.{digits}f}"


def batch_means(values: Sequence[float], batches: int) -> Estimate:
    size = len(values) // batches
    if size < 1 or batches < 2:
        raise ValueError(f"{len(values)} values cannot make {batches} batches")
    means = [statistics.fmean(values[i * size : (i + 1) * size]) for i in range(batches)]
    centre = statistics.fmean(means)
    spread = statistics.stdev(means)
    dev = [m - centre for m in means]
    var = sum(d * d for d in dev)
    lag1 = sum(a * b for a, b in itertools.pairwise(dev)) / var if var > 0 else 0.0
    return Estimate(
        statistics.fmean(values[: size * batches]),
        T_975[batches - 1] * spread / math.sqrt(batches),
        lag1,
    )


def fifo_waits(arrivals: Sequence[float], services: Sequence[float], servers: int) -> list[float]:
    """Exact waits of a FIFO multi-server queue, empty at the start (Kiefer-Wolfowitz)."""
    free = [arrivals[0]] * servers if arrivals else []
    waits = []
    for arrival, service in zip(arrivals, services, strict=True):
        start = max(arrival, heapq.heappop(free))
        waits.append(start - arrival)
        heapq.heappush(free, start + service)
    return waits


@dataclass(frozen=True)
class Calibration:
    sl_coverage: float
    asa_coverage: float
    sl_sd: float  # the true standard deviation of one run's SL estimate
    runs: int


def calibrate(
    a: float,
    n: int,
    aht: float,
    target: float,
    *,
    calls: int,
    warmup: int,
    batches: int,
    seed: int,
    runs: int = 1000,
) -> Calibration:
    """How often this run's CI method covers Erlang C at this run size: `runs`
    independent runs of the ideal FIFO M/M/N, the same size, warm-up and batches."""
    sl_true, asa_true = service_level(a, n, aht, target), average_speed_of_answer(a, n, aht)
    sl_hits = asa_hits = 0
    means = []
    for r in range(runs):
        plan = draw_plan(calls, a / aht, aht, seed + 1 + r)
        waits = fifo_waits(plan.arrivals_s, plan.talks_s, n)[warmup:]
        sl = batch_means([1.0 if w <= target else 0.0 for w in waits], batches)
        asa = batch_means(waits, batches)
        sl_hits += abs(sl.mean - sl_true) <= sl.half_width
        asa_hits += abs(asa.mean - asa_true) <= asa.half_width
        means.append(sl.mean)
    return Calibration(sl_hits / runs, asa_hits / runs, statistics.stdev(means), runs)


def ks_exponential(samples: Sequence[float]) -> float:
    """Stephens' modified KS statistic against an exponential with the sample's mean."""
    n = len(samples)
    mean = statistics.fmean(samples)
    ordered = sorted(samples)
    d = 0.0
    for i, x in enumerate(ordered):
        cdf = 1.0 - math.exp(-x / mean)
        d = max(d, (i + 1) / n - cdf, cdf - i / n)
    return (d - 0.2 / n) * (math.sqrt(n) + 0.26 + 0.5 / math.sqrt(n))


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def dist_ms(values: Sequence[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"mean {statistics.fmean(ms):6.1f}  p50 {pct(ms, 0.5):6.1f}  p90 {pct(ms, 0.9):6.1f}"
        f"  p99 {pct(ms, 0.99):6.1f}  max {max(ms):6.1f} ms"
    )


# -- the run ------------------------------------------------------------------------------
@dataclass
class Run:
    args: argparse.Namespace
    plan: Plan
    workdir: Path
    load_at_start: tuple[float, float, float]
    caller_exit: int | None = None
    caller_stats: dict[str, int] = field(default_factory=dict)
    phone_stats: dict[str, int] = field(default_factory=dict)
    sent: dict[int, tuple[float, float]] = field(default_factory=dict)
    calls: dict[str, CallTimes] = field(default_factory=dict)
    wall_s: float = 0.0
    others_busy: float = 0.0
    machine_busy: float = 0.0
    left: str = ""


def run_calls(run: Run, stack: Stack, path: AcdPath, live: list[SippRun]) -> None:
    args, plan = run.args, run.plan
    last = plan.lead_s + plan.arrivals_s[-1]
    timeout_s = int(last + max(plan.talks_s) + 300)
    phones, _ = start_phones(
        stack,
        agent_names(args.agents),
        run.workdir,
        calls=len(plan.arrivals_s) + 10,
        timeout_s=timeout_s + 60,
        live=live,
    )
    path.log_in(*agent_names(args.agents))
    wait_for(
        lambda: all(path.state_of(n) == "IDLE" for n in agent_names(args.agents)),
        10,
        "every agent idle in the ACD",
    )
    mark = path.log_mark()
    inf = run.workdir / "calls.inf"
    write_injection(plan, inf)

    groups = {
        name: session_pids(daemon_pid(stack, name))
        for name in ("kamailio", "controller0", "acd", "rtpengine0", "redis")
    }
    groups["sipp"] = [phones.process.pid]
    groups["bench"] = [os.getpid()]
    meter = CpuMeter(groups)
    meter.start()
    calls = len(plan.arrivals_s)
    caller = start_sipp(
        "callers",
        "bench_queue_caller",
        stack.sip,
        workdir=run.workdir,
        port=free_port(),
        service=NUMBER,
        calls=calls,
        rate=LAUNCH_RATE,
        rate_period_ms=1000,
        limit=calls,
        timeout_s=timeout_s,
        keys={"rtp_port": free_port()},
        extra=["-inf", str(inf), *stat_args(run.workdir, "callers")],
    )
    live.append(caller)
    meter.groups["sipp"].append(caller.process.pid)
    started = time.monotonic()
    print(
        f"calls placed by one sipp over ~{last / 60:.1f} min (arrivals end at "
        f"{last:.0f} s, then the last calls talk out)",
        flush=True,
    )
    next_report, next_check = started + 60, started + 5
    while caller.process.poll() is None:
        time.sleep(0.5)
        now = time.monotonic()
        if now >= next_report:
            next_report += 60
            sent = sum(1 for line in caller.log_lines() if line.startswith("SEND "))
            print(
                f"  {now - started:4.0f} s: {sent}/{calls} calls placed, "
                f"load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        if now >= next_check:
            # A failed call spoils the run, and worse: a caller that sipp gave up on
            # sends no BYE, and with the dead-leg check off its agent stays talking for
            # good, so the queue overflows. Stop at the first one.
            next_check += 5
            failed = sipp_stats(caller)["failed"]
            if failed:
                print(
                    f"  {now - started:4.0f} s: {failed} call(s) failed at the caller "
                    f"(see callers.err); stopping the run",
                    flush=True,
                )
                caller.stop()
        if now - started > timeout_s + 30:
            caller.stop()
    run.caller_exit = caller.process.returncode
    meter.stop()
    run.wall_s, run.others_busy, run.machine_busy = (
        meter.wall,
        meter.others_busy,
        meter.machine_busy,
    )
    run.caller_stats = sipp_stats(caller)
    run.sent = sends(caller)

    def settled() -> bool:
        status = path.control.cmd("status")
        idle = all(path.state_of(n) == "IDLE" for n in agent_names(args.agents))
        return (
            status["calls"] == 0
            and status["media_sessions"] == 0
            and idle
            and not stack.rtpengine_calls()
        )

    try:
        wait_for(settled, 20, "no call left and every agent idle", interval=0.5)
    except RuntimeError:
        status = path.control.cmd("status")
        run.left = (
            f"controller calls {status['calls']}, media sessions "
            f"{status['media_sessions']}, rtpengine sessions "
            f"{len(stack.rtpengine_calls())}, agents "
            f"{[path.state_of(n) for n in agent_names(args.agents)]}"
        )
    stop_run(phones, timeout=1)
    run.phone_stats = sipp_stats(phones)
    run.calls = call_times(path.events_redis, mark)


def write_calls_csv(run: Run, path: Path) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "index",
                "cid",
                "agent",
                "talk_drawn_s",
                "sent",
                "arrived",
                "queued",
                "reserved",
                "ringing",
                "answered",
                "freed",
                "ended",
                "problem",
            ]
        )
        for c in sorted(run.calls.values(), key=lambda c: c.arrived):
            talk = run.plan.talks_s[c.index] if c.index is not None else math.nan
            sent = run.sent.get(c.index, (math.nan, 0.0))[0] if c.index is not None else math.nan
            out.writerow(
                [
                    c.index,
                    c.cid,
                    c.agent,
                    f"{talk:.3f}",
                    f"{sent:.6f}",
                    *(
                        f"{t:.6f}"
                        for t in (
                            c.arrived,
                            c.queued,
                            c.reserved,
                            c.ringing,
                            c.answered,
                            c.freed,
                            c.ended,
                        )
                    ),
                    c.problem(),
                ]
            )


# -- the report -----------------------------------------------------------------------------
def report(run: Run) -> bool:
    """Print the figures; True when the run was clean and agrees with Erlang C."""
    args, plan = run.args, run.plan
    a, n, c = args.erlangs, args.agents, args.compress
    aht, target = AHT_S / c, TARGET_S / c
    calls = len(plan.arrivals_s)
    cs, ps = run.caller_stats, run.phone_stats
    good = sorted((x for x in run.calls.values() if not x.problem()), key=lambda x: x.arrived)
    bad = [x for x in run.calls.values() if x.problem()]
    print(
        f"\n== A = {a:g} Erl, N = {n}, compressed {c:g}x: AHT {aht:.3f} s "
        f"({AHT_S:.0f} s), SL threshold T = {target:.3f} s ({TARGET_S:.0f} s)"
    )
    print(
        f"wall {run.wall_s:.0f} s; load average at start {run.load_at_start[0]:.2f} "
        f"{run.load_at_start[1]:.2f} {run.load_at_start[2]:.2f}; during the run the machine "
        f"was {run.machine_busy * 100:.0f} % busy ({os.cpu_count()} cores), other processes "
        f"{run.others_busy * 100:.0f} %"
    )
    print(
        f"sipp callers: {cs.get('successful', 0)} ok / {cs.get('failed', 0)} failed of "
        f"{calls}, exit {run.caller_exit}, retransmissions {cs.get('retransmissions', 0)}; "
        f"phones: {ps.get('successful', 0)} ok / {ps.get('failed', 0)} failed"
    )
    print(
        f"event log: {len(run.calls)} calls, {len(good)} clean (arrived, queued, reserved "
        f"once, rung once, answered, ended by the caller)"
    )
    clean = (
        not bad
        and len(good) == calls
        and cs.get("failed", 1) == 0
        and cs.get("successful", 0) == calls
        and run.caller_exit == 0
        and not run.left
    )
    for x in bad[:5]:
        print(f"  PROBLEM {x.cid} (call {x.index}): {x.problem()}")
    if run.left:
        print(f"  LEFT after the run: {run.left}")
    if len(good) < args.warmup + args.batches * 2:
        print("too few clean calls to estimate anything")
        return False

    # Arrivals as the controller saw them.
    arrivals = [x.arrived for x in good]
    gaps = [b - a_ for a_, b in itertools.pairwise(arrivals)]
    rate = len(gaps) / (arrivals[-1] - arrivals[0])
    cv = statistics.stdev(gaps) / statistics.fmean(gaps)
    ks = ks_exponential(gaps)
    print(
        f"\narrivals at the controller: {rate:.4f}/s (offered {plan.rate:.4f}/s, this "
        f"sample's draw {(calls - 1) / (plan.arrivals_s[-1] - plan.arrivals_s[0]):.4f}/s); "
        f"inter-arrival CV {cv:.3f}; KS vs exponential (Stephens) {ks:.3f} "
        f"({'<' if ks < KS_EXP_CRITICAL_5PCT else '>='} {KS_EXP_CRITICAL_5PCT} at 5 %)"
    )
    # (sent epoch, sipp's sleep in ms, the instant the plan scheduled, controller arrival)
    timing = [
        (*run.sent[x.index], plan.lead_s + plan.arrivals_s[x.index], x.arrived)
        for x in good
        if x.index is not None and x.index in run.sent
    ]
    if timing:
        # sipp's clock_tick origin, as an epoch: the median of sent - scheduled.
        origin = statistics.median(sent - scheduled for sent, _, scheduled, _ in timing)
        jitter = [abs(sent - scheduled - origin) for sent, _, scheduled, _ in timing]
        path_in = [arrived - sent for sent, _, _, arrived in timing]
        slept = min(sleep for _, sleep, _, _ in timing)
        print(
            f"  sipp's timing: INVITE sent vs its scheduled instant |error| {dist_ms(jitter)}"
            f" (shortest sleep {slept:.0f} ms, > 0: no call late at launch)"
        )
        print(
            f"  INVITE sent -> call.arrived (caller -> Kamailio -> controller): {dist_ms(path_in)}"
        )

    talks = [plan.talks_s[x.index] for x in good if x.index is not None]
    occupancy = [x.occupancy for x in good]
    overhead = [o - t for o, t in zip(occupancy, talks, strict=True)]
    eff_aht = statistics.fmean(occupancy)
    eff_a = rate * eff_aht
    print(
        f"holding: drawn talk mean {statistics.fmean(talks):.3f} s (CV "
        f"{statistics.stdev(talks) / statistics.fmean(talks):.3f}); agent occupancy "
        f"(reserved -> idle) mean {statistics.fmean(occupancy):.3f} s, i.e. the talk + "
        f"{statistics.fmean(overhead) * 1000:.1f} ms per call "
        f"({statistics.fmean(overhead) / aht * 100:.2f} % of the AHT); effective traffic "
        f"= measured rate x occupancy = {eff_a:.3f} Erl"
    )

    # Steady state: drop the warm-up, batch-mean the rest in arrival order.
    measured = good[args.warmup :]
    b = args.batches
    waits = [x.wait for x in measured]
    qwaits = [x.queue_wait for x in measured]
    sl = batch_means([1.0 if w <= target else 0.0 for w in waits], b)
    asa = batch_means(waits, b)
    asa_queue = batch_means(qwaits, b)
    p_wait = batch_means([1.0 if q > 0 else 0.0 for q in qwaits], b)
    # The same sample through an ideal FIFO M/M/N (controller's arrivals, drawn talks).
    ideal = fifo_waits(arrivals, talks, n)[args.warmup :]
    sl_ideal = batch_means([1.0 if w <= target else 0.0 for w in ideal], b)
    asa_ideal = batch_means(ideal, b)
    sl_diff = batch_means(
        [(w <= target) - (i <= target) for w, i in zip(waits, ideal, strict=True)], b
    )
    asa_diff = batch_means([w - i for w, i in zip(waits, ideal, strict=True)], b)
    # Where real - ideal comes from, per call and paired like it: (1) the agents' longer
    # occupancy (the same recursion with each call's measured occupancy as its service
    # time), (2) the wait offset (that recursion's waits plus each call's offset), (3)
    # what is left (ordering, anything else).
    by_occupancy = fifo_waits(arrivals, occupancy, n)[args.warmup :]
    with_offset = [w + x.offset for w, x in zip(by_occupancy, measured, strict=True)]

    def sl_gap(upper: Sequence[float], lower: Sequence[float]) -> Estimate:
        return batch_means(
            [(u <= target) - (w <= target) for u, w in zip(upper, lower, strict=True)], b
        )

    parts = [
        ("longer occupancy", sl_gap(by_occupancy, ideal)),
        ("wait offset", sl_gap(with_offset, by_occupancy)),
        ("remainder", sl_gap(waits, with_offset)),
    ]

    ec_sl, ec_asa, ec_pw = (
        service_level(a, n, aht, target),
        average_speed_of_answer(a, n, aht),
        erlang_c(a, n),
    )
    # Erlang C for what this run actually offered: its measured arrival rate and the
    # agents' measured occupancy as the service time.
    ef_sl, ef_asa, ef_pw = (
        service_level(eff_a, n, eff_aht, target),
        average_speed_of_answer(eff_a, n, eff_aht),
        erlang_c(eff_a, n),
    )
    pw_ideal = batch_means([1.0 if w > 0 else 0.0 for w in ideal], b)
    size = len(measured) // b
    print(
        f"\n{len(measured)} calls measured after {args.warmup} warm-up calls; 95 % CI from "
        f"{b} batch means of {size} calls (t = {T_975[b - 1]}); lag-1 autocorrelation of "
        f"the batch means: SL {sl.lag1:+.2f}, ASA {asa.lag1:+.2f}"
    )
    print(f"{'':38s} {'SL (W <= T)':>17s} {'ASA (s)':>17s} {'P(wait)':>17s}")
    print(f"{'real stack':38s} {sl.fmt():>17s} {asa.fmt():>17s} {p_wait.fmt():>17s}")
    print(f"{f'Erlang C (A = {a:g}, N = {n})':38s} {ec_sl:17.4f} {ec_asa:17.4f} {ec_pw:17.4f}")
    print(
        f"{'  real - Erlang C':38s} {(sl.mean - ec_sl) * 100:+14.2f} pt "
        f"{asa.mean - ec_asa:+17.4f} {(p_wait.mean - ec_pw) * 100:+14.2f} pt"
    )
    # ... and for the traffic this sample drew (its own rate and mean talk time).
    draw_rate = (calls - 1) / (plan.arrivals_s[-1] - plan.arrivals_s[0])
    draw_aht = statistics.fmean(plan.talks_s)
    draw_a = draw_rate * draw_aht
    print(
        f"{'Erlang C, this sample (drawn rate x talk)':38s} "
        f"{service_level(draw_a, n, draw_aht, target):17.4f} "
        f"{average_speed_of_answer(draw_a, n, draw_aht):17.4f} {erlang_c(draw_a, n):17.4f}"
    )
    print(f"  (A = {draw_a:.3f}, AHT = {draw_aht:.3f} s)")
    print(f"{'Erlang C, measured rate x occupancy':38s} {ef_sl:17.4f} {ef_asa:17.4f} {ef_pw:17.4f}")
    print(f"  (A = {eff_a:.3f}, AHT = {eff_aht:.3f} s)")
    print(
        f"{'ideal FIFO M/M/N on this very sample':38s} {sl_ideal.fmt():>17s} "
        f"{asa_ideal.fmt():>17s} {pw_ideal.fmt():>17s}"
    )
    print(
        f"{'  real - ideal, paired per call':38s} {sl_diff.fmt(2, 100):>14s} pt "
        f"{asa_diff.fmt():>17s}"
    )
    print("    of which " + "; ".join(f"{name} {est.fmt(2, 100)} pt" for name, est in parts))
    print(f"{'ASA of the queue wait alone':38s} {'':17s} {asa_queue.fmt():>17s}")

    cal = calibrate(a, n, aht, target, calls=calls, warmup=args.warmup, batches=b, seed=args.seed)
    print(
        f"this CI method at this run size, over {cal.runs} simulated runs of the ideal "
        f"M/M/N: covered Erlang C's SL {cal.sl_coverage * 100:.1f} % and ASA "
        f"{cal.asa_coverage * 100:.1f} % of the time (nominal 95 %); one run's SL has a "
        f"standard deviation of {cal.sl_sd * 100:.1f} points"
    )

    offsets = [x.offset for x in measured]
    mean_offset = statistics.fmean(offsets)
    print(f"\noffset the real path adds to every wait (W - queue wait), {len(measured)} calls:")
    print(
        f"  arrived -> queued (answer+park, Enqueue)      "
        f"{dist_ms([x.queued - x.arrived for x in measured])}"
    )
    print(
        f"  reserved -> INVITE sent (Offer -> controller) "
        f"{dist_ms([x.ringing - x.reserved for x in measured])}"
    )
    print(
        f"  INVITE sent -> answered (phone, bridge)       "
        f"{dist_ms([x.answered - x.ringing for x in measured])}"
    )
    print(f"  total offset                                  {dist_ms(offsets)}")
    print(
        f"  = {mean_offset / target * 100:.1f} % of T (mean), "
        f"{pct(offsets, 0.99) / target * 100:.1f} % (p99), "
        f"{mean_offset / ec_asa * 100:.0f} % of Erlang C's ASA; uncompressed the same "
        f"{mean_offset * 1000:.0f} ms would be {mean_offset / TARGET_S * 100:.2f} % of T"
    )
    # A call within T of queueing misses T once the offset is added: to first order the
    # SL the offset costs is Erlang C's SL at T minus at T - offset.
    cost = ec_sl - service_level(a, n, aht, max(0.0, target - mean_offset))
    print(
        f"  its expected cost on SL (Erlang C at T vs at T - mean offset): "
        f"{cost * 100:.2f} points; on ASA: +{mean_offset:.4f} s"
    )

    diff = sl.mean - ec_sl
    if sl.half_width > 0:
        within, agree = abs(diff) <= sl.half_width, abs(diff) <= 3 * sl.half_width
        verdict = (
            "inside the CI"
            if within
            else "inside 3 half-widths"
            if agree
            else "DISAGREES (outside 3 half-widths)"
        )
    else:  # every batch had the same SL (a short run): no spread to judge with
        agree, verdict = True, "no spread between the batches: too few calls to judge"
    print(
        f"\nSL: real {sl.mean:.4f} ± {sl.half_width:.4f}, Erlang C {ec_sl:.4f}, diff "
        f"{diff * 100:+.2f} points: {verdict}"
    )
    if args.quick:  # a sanity run of the machinery; its CI is too wide to test anything
        print("PASS (quick: every call clean; the comparison is not judged)" if clean else "FAIL")
        return clean
    print("PASS" if clean and agree else "FAIL")
    return clean and agree


# -- main -------------------------------------------------------------------------------------
@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so every `finally` stops what it started."""

    def handler(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_quiet(max_load: float, tries: int, pause_s: float = 60.0) -> None:
    for attempt in range(tries):
        load = os.getloadavg()[0]
        if load < max_load:
            return
        print(
            f"load average {load:.2f} >= {max_load}: waiting {pause_s:.0f} s "
            f"({attempt + 1}/{tries})",
            flush=True,
        )
        time.sleep(pause_s)
    load = os.getloadavg()[0]
    if load >= max_load:
        print(f"load average still {load:.2f}; running anyway", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--compress",
        type=float,
        default=30.0,
        help="time compression: AHT 180 s and T 20 s are divided by this",
    )
    parser.add_argument("--agents", type=int, default=14, help="N")
    parser.add_argument("--erlangs", type=float, default=10.0, help="offered traffic A")
    parser.add_argument("--calls", type=int, default=1500, help="calls in all, warm-up included")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="calls discarded at the start (default: 10 holding times of "
        "traffic, 10 x A calls, at most a fifth of the calls)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        help="batch means for the CI (default 10; 5 with --quick)",
    )
    parser.add_argument("--seed", type=int, default=20241125)
    parser.add_argument("--quick", action="store_true", help="150 calls (~2 min): a sanity run")
    parser.add_argument(
        "--max-load",
        type=float,
        default=1.5,
        help="wait for the 1-minute load average to fall below this",
    )
    parser.add_argument(
        "--load-tries",
        type=int,
        default=None,
        help="minutes to wait for it (default 3; 0 with --quick)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, sipp files, calls.csv)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.calls = 150
    args.batches = args.batches or (5 if args.quick else 10)
    if args.load_tries is None:
        args.load_tries = 0 if args.quick else 3
    if args.warmup is None:
        args.warmup = min(round(10 * args.erlangs), args.calls // 5)
    if not 2 <= args.batches < len(T_975):
        parser.error(f"--batches must be 2..{len(T_975) - 1}")
    if args.erlangs <= 0 or args.agents <= args.erlangs:
        parser.error("need 0 < A < N (Erlang C has no steady state otherwise)")
    if args.calls - args.warmup < 2 * args.batches:
        parser.error("too few calls after the warm-up for the batches")
    if args.compress <= 0:
        parser.error("--compress must be > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print_facts(machine_facts())
    wait_quiet(args.max_load, args.load_tries)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    aht = AHT_S / args.compress
    plan = draw_plan(args.calls, args.erlangs / aht, aht, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench-acd-queueing-"))
    print(f"workdir: {workdir}")
    run = Run(args, plan, workdir, load)
    ok = False
    live: list[SippRun] = []
    with sigterm_interrupts():
        try:
            agents = agent_names(args.agents)
            config, passwords = queueing_config(workdir / "stack", agents)
            t0 = time.monotonic()
            with running_stack(workdir / "stack", config, passwords) as stack:
                assert stack.config.acd is not None
                host, port = split_hostport(stack.config.redis.listen)
                events = redis.Redis(host=host, port=port)
                acd = AcdClient(
                    stack.config.acd.listen, timeout=2.0, retry_for=5.0, token=stack.acd_token
                )
                path = AcdPath(stack, acd, events, stack.replica_control(0))
                try:
                    log = stack.layout.log_file("controller0")
                    wait_for(
                        lambda: controller_feed_subscribed(log.read_text()),
                        15,
                        "the controller's ACD action feed",
                    )
                    print(
                        f"stack up in {time.monotonic() - t0:.1f} s: kamailio {stack.sip}, "
                        f"controller {CONTROLLER} (--rtp-timeout 0), ACD "
                        f"{stack.config.acd.listen}, rtpengine ports {PORT_MIN}-{PORT_MAX}; "
                        f"{args.agents} agents, {args.calls} calls at "
                        f"{plan.rate:.3f}/s",
                        flush=True,
                    )
                    run_calls(run, stack, path, live)
                finally:
                    for sipp in live:
                        sipp.stop()
                    path.close()  # logs the agents out
                    path.control.close()
                    acd.close()
                    events.close()
            write_calls_csv(run, workdir / "calls.csv")
            ok = report(run)
        except KeyboardInterrupt:
            print("interrupted: everything started was stopped", file=sys.stderr)
        finally:
            for sipp in live:
                sipp.stop()
            if ok and not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                print(f"work directory kept (stack logs, sipp files, calls.csv): {workdir}")
    print(
        f"command: .venv/bin/python -m benchmarks.acd_queueing_real --compress "
        f"{args.compress:g} --agents {args.agents} --erlangs {args.erlangs:g} --calls "
        f"{args.calls} --warmup {args.warmup} --batches {args.batches} --seed {args.seed}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
