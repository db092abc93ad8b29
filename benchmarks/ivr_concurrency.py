"""Concurrent IVR calls: Kamailio, controller replicas hosting the IVR, rtpengine, ACD, Redis.

The call model of issue 11: 10 calls/s, each about 30 s on a fixed path of the demo
hotline flow (config/ivr/hotline.yaml). Target: at least 300 concurrent calls held for
5 minutes, no call lost, no digit misrecognised. Printed: the CPU per IVR call-minute
of each component.

The stack runs as `callcenter up` starts it (testbed.running_stack) in a temporary run
directory: Redis, rtpengine (userspace, ports 7000-9999: 4 per IVR call, so 750
calls), `--controllers` replicas (Kamailio's dispatcher deals the calls round robin;
each hosts the IVR), the ACD replica (the flow's queue for "0"; no agent is logged in,
since the path never reaches one) and Kamailio (4 workers), with the product's timers
and dead-leg check. Number 95598 goes to the flow `hotline`; its lookups read the
business data store's demo account.

The callers (benchmarks/_ivr_callers.py, sipp/bench_ivr_caller.xml): one sipp at
`--rate` calls/s. Each call sends real PCMA audio from the answer to its BYE (sipp's
rtp_stream, speech from /usr/share/sip-tester/g711a.pcap) and ten RFC 4733 digits:
it lets the language menu time out (Mandarin), presses 1 in the main menu, keys in
account 12345674 and '#', hears its balance and the "repeat or agent" menu start,
and hangs up. The pacing (`--menu-ms`, ...) fits the prompts of the demo flow.

Arrivals last the call's length plus `--settle` s (concurrency reaches its plateau)
plus `--duration` s (the measured window, 300 by default; `--duration 60` for a quick
check). The calls in progress are sipp's, once a second (its -trace_stat file), so
nothing asks the stack while it is measured but a `statistics` to rtpengine every 10 s.

A run passes with:
- every call successful at sipp: 200 to the INVITE, the BYE (the caller's) answered
  200, no unexpected message (an IVR that hung up or re-INVITEd fails the call);
- every call's digits as rtpengine reported them (the benchmark reads its DTMF events
  over TCP ng, as the replicas do) equal the digits keyed (else: misrecognised);
- in the event log, for every call: `call.arrived`, the IVR steps of the fixed path
  with the right inputs (the main menu left with "1", the account collected as
  "12345674", unless the node is sensitive), `call.ivr_done` result `caller_left` in
  the "repeat or agent" menu after the balance, and `call.ended` from the caller.
  With the right digits, a call that went elsewhere because a digit reached an
  earlier node counts as late, one whose account lookup missed its deadline as lookup
  failed, one whose caller hung up while the balance was still spoken as cut short
  (the IVR ran behind the caller's pacing);
- every digit keyed reached an IVR session once (the replicas' `dtmf` counters);
- at least --target calls in progress at every sample of the window (the model's
  concurrency: rate x call length);
- afterwards no call, media session or IVR call left in the replicas or rtpengine.

CPU: utime+stime from /proc per component over the window only (steady state), divided
by the call-minutes in the window (sipp's calls in progress, integrated).

    .venv/bin/python -m benchmarks.ivr_concurrency                   # 10/s, 5 min window, ~6.5 min
    .venv/bin/python -m benchmarks.ivr_concurrency --duration 60     # quick check, ~2.5 min
    .venv/bin/python -m benchmarks.ivr_concurrency --controllers 2
    .venv/bin/python -m benchmarks.ivr_concurrency --rate 8          # fewer concurrent calls
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import difflib
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

import bizdata
from benchmarks._harness import (
    CpuMeter,
    daemon_pid,
    machine_facts,
    print_facts,
    session_pids,
    sipp_stats,
    stat_args,
    stat_files,
    stop_run,
    udp_rcvbuf_errors,
    wait_for,
)
from benchmarks._ivr_callers import Pacing, logged_calls, stage, start_callers
from benchmarks.acd_inbound import (
    OWN_NG_COMMANDS,
    busiest_threads,
    log_mark,
    log_problems,
    log_size,
    ng_counts,
    percentiles,
    rtpengine_ports_used,
    rtt_percentiles,
    terminate_on_sigterm,
    thread_ticks,
)
from configuration import split_hostport
from eventlog import CALL_ARRIVED, CALL_ENDED, CALL_IVR_DONE, CALL_IVR_STEP, replay
from rtpengine import NotificationDecoder, NotificationError, dtmf_event
from simulators import SippRun, free_port
from testbed import ROOT, Stack, base_config, controller_feed_subscribed, running_stack

TARGET_CONCURRENT = 300
TARGET_WINDOW_S = 300
TARGET_RATE = 10
NUMBER = "95598"
FLOW = "hotline"
QUEUE = "billing"
CALLER = "+8613912345678"
ACCOUNT = "12345674"  # the demo account (bizdata's seed); its Luhn check digit is 4
DIGITS = "1" + ACCOUNT + "#"  # the main menu's "1", then the account number
# The hotline's nodes on this path, in order, each with the input that led there
# (call.ivr_step carries the input that left the node before).
PATH = (
    ("language", ""),
    ("mandarin", ""),  # the language menu's prompt, then its 4 s timeout: Mandarin
    ("main", ""),
    ("ask_account", "1"),
    ("find_account", ACCOUNT),  # "<sensitive>" if the flow marks the node sensitive
    ("say_balance", ""),
    ("after_balance", ""),  # the caller hangs up while this menu's prompt plays
)
SENSITIVE = "<sensitive>"
PORT_MIN, PORT_MAX = 7000, 9999  # below the ephemeral range; see acd_inbound.py
RECV_TIMEOUT_MS = 10_000


# -- the stack ---------------------------------------------------------------------------
def ivr_config(
    workdir: Path, *, controllers: int, kamailio_workers: int
) -> tuple[dict[str, Any], dict[str, str]]:
    config, passwords = base_config(
        workdir,
        agents=("1001",),
        numbers=[
            {
                "number": NUMBER,
                "category": "electricity-billing",
                "target": "controller",
                "queue": QUEUE,
                "ivr": FLOW,
            }
        ],
        queues=[{"name": QUEUE, "skills": {"billing": 1}}],
        controllers=[
            {
                "sip": f"127.0.0.1:{free_port()}",
                "control": f"127.0.0.1:{free_port()}",
                "name": f"bench-ctl{i}",
            }
            for i in range(controllers)
        ],
        acd={"listen": f"127.0.0.1:{free_port()}"},
        presence={"managed": False},
        ivr={"flows_dir": str(ROOT / "config" / "ivr")},
        bizdata={},
        schedules={
            "office": {
                "timezone": "Asia/Shanghai",
                "weekly": {"mon-sun": ["00:00-24:00"]},
            }
        },
    )
    config["node"] = {**config["node"], "name": "bench"}
    config["sip"] = {**config["sip"], "workers": kamailio_workers, "shm_mb": 1024}
    config["rtpengine"]["nodes"][0].update(port_min=PORT_MIN, port_max=PORT_MAX)
    # The product's SIP timers and dead-leg check (base_config shortens them for tests).
    del config["timers"]
    return config, passwords


def feed_subscribed(log: Path) -> Callable[[], bool]:
    return lambda: controller_feed_subscribed(log.read_text(errors="replace"))


@dataclass
class Rig:
    stack: Stack
    events: redis.Redis
    controllers: int
    workdir: Path

    def pid(self, name: str) -> int:
        return daemon_pid(self.stack, name)

    def groups(self) -> dict[str, list[int]]:
        groups = {"kamailio": session_pids(self.pid("kamailio"))}
        for i in range(self.controllers):
            groups[f"controller{i}"] = session_pids(self.pid(f"controller{i}"))
        groups["rtpengine"] = session_pids(self.pid("rtpengine0"))
        groups["acd"] = session_pids(self.pid("acd"))
        groups["redis"] = session_pids(self.pid("redis"))
        return groups

    def counters(self) -> dict[str, dict[str, int]]:
        """The replicas' DTMF and IVR counters, summed: digits received by method and
        delivered, duplicates, digits for a sibling's call; IVR results and digits."""
        out: dict[str, Counter[str]] = {"dtmf": Counter(), "ivr_results": Counter()}
        out["ivr_digits"] = Counter()
        for i in range(self.controllers):
            control = self.stack.replica_control(i)
            try:
                dtmf, ivr = control.cmd("dtmf"), control.cmd("ivr")
            finally:
                control.close()
            for method, n in dict(dtmf.get("received", {})).items():
                out["dtmf"][f"received_{method}"] += int(n)
            for key in ("delivered", "duplicates", "dropped_unknown_call", "subscriber_errors"):
                out["dtmf"][key] += int(dtmf.get(key, 0))
            out["ivr_results"].update({k: int(v) for k, v in ivr.get("results", {}).items()})
            out["ivr_digits"].update({k: int(v) for k, v in ivr.get("digits", {}).items()})
        return {k: dict(v) for k, v in out.items()}

    def statuses(self) -> list[dict[str, Any]]:
        out = []
        for i in range(self.controllers):
            control = self.stack.replica_control(i)
            try:
                out.append(dict(control.cmd("status")))
            finally:
                control.close()
        return out


def udp_drops_by_port() -> Counter[int]:
    """Datagrams dropped per local UDP port (every socket on the machine, IPv4)."""
    drops: Counter[int] = Counter()
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return drops
    for line in lines:
        fields = line.split()
        if len(fields) >= 13 and int(fields[12]):
            drops[int(fields[1].split(":")[1], 16)] += int(fields[12])
    return drops


def relayed_packets(stack: Stack) -> tuple[int, int]:
    """rtpengine's count of the packets it relayed in userspace, and of its relay errors
    (a send that failed: the parked caller's audio to the discard port, say)."""
    try:
        totals = stack.ng().request("statistics").get("statistics", {}).get("totalstatistics", {})
        return int(totals.get("relayedpackets_user", 0)), int(
            totals.get("relayedpacketerrors_user", 0)
        )
    except Exception:  # an older rtpengine: no figures, not a failure
        return 0, 0


def port_owner(stack: Stack, sipp_argv: Sequence[str], port: int) -> str:
    """Whose UDP port this is, for the drop report: 'kamailio:5060', 'rtpengine:7010'..."""
    owners = {split_hostport(stack.config.sip.listen)[1]: "kamailio"}
    for i, replica in enumerate(stack.config.controllers):
        owners[split_hostport(replica.sip)[1]] = f"controller{i}"
    for flag, name in (("-p", "sipp"), ("-mp", "sipp media")):
        if flag in sipp_argv:
            owners[int(sipp_argv[list(sipp_argv).index(flag) + 1])] = name
    node = stack.config.rtpengine.nodes[0]
    if port not in owners and node.port_min <= port <= node.port_max:
        return f"rtpengine:{port}"
    return f"{owners.get(port, '?')}:{port}"


# -- the calls in progress -----------------------------------------------------------------
@dataclass
class Sample:
    t: float  # epoch seconds
    calls: int  # sipp's calls in progress (INVITE sent, BYE not yet answered)


def sipp_samples(run: SippRun) -> list[Sample]:
    """sipp's calls in progress once a second (its -trace_stat file, -fd 1): counted at
    the caller, so the stack is not asked anything while it is measured."""
    samples = []
    for path in stat_files(run):
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
        if not rows:
            continue
        at, calls = rows[0].index("CurrentTime"), rows[0].index("CurrentCall")
        for row in rows[1:]:
            if len(row) > max(at, calls):
                # CurrentTime is "date<TAB>time<TAB>epoch"
                samples.append(Sample(float(row[at].split("\t")[-1]), int(row[calls])))
    return sorted(samples, key=lambda s: s.t)


class DigitTap:
    """Every DTMF event rtpengine reports, per call, read as the replicas read them: one
    TCP ng connection (`--listen-tcp-ng`, `--dtmf-log-ng-tcp`: every client gets every
    event). Kept in memory to compare with what each caller keyed; never printed."""

    def __init__(self, stack: Stack) -> None:
        host, port = split_hostport(stack.config.rtpengine.nodes[0].ng)
        self.sock = socket.create_connection((host, port), timeout=2)
        self.sock.settimeout(None)
        self.digits: dict[str, str] = {}
        self.malformed = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name="digit-tap")
        self._thread.start()

    def _run(self) -> None:
        decoder = NotificationDecoder()
        try:
            while data := self.sock.recv(65536):
                for message in decoder.feed(data):
                    event = dtmf_event(message)
                    if event is None:
                        self.malformed += message.get("notify") == "onDTMF"
                        continue
                    self.digits[event.call_id] = self.digits.get(event.call_id, "") + event.digit
        except (OSError, NotificationError):
            return

    def close(self) -> dict[str, str]:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self.sock.close()
        return self.digits


def digit_difference(got: str, keyed: str) -> str:
    """Where a call's reported digits differ from the keyed ones, by position only
    (1-based, of the keyed sequence): "extra after 4", "missing 7", "changed 3"."""
    out = []
    matcher = difflib.SequenceMatcher(a=keyed, b=got, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "insert":
            extra = set(got[b1:b2])
            # Which keyed digit the extras repeat, if one (difflib may put them on
            # either side of it): a position, still not the digit.
            twins = [k for k in (a1, a1 + 1) if 1 <= k <= len(keyed) and extra == {keyed[k - 1]}]
            again = f" (repeats of {' or '.join(map(str, twins))})" if twins else ""
            out.append(f"{b2 - b1} extra after {a1}{again}")
        elif op == "delete":
            out.append(f"missing {a1 + 1}-{a2}" if a2 - a1 > 1 else f"missing {a1 + 1}")
        elif op == "replace":
            where = f"{a1 + 1}-{a2}" if a2 - a1 > 1 else f"{a1 + 1}"
            out.append(f"changed {where} ({b2 - b1} reported)")
    return ", ".join(out)


def path_of(trace: CallTrace | None) -> str:
    return " > ".join(node for node, _, _ in trace.steps) if trace is not None else "?"


def compare_digits(seen: dict[str, str], keyed: str) -> dict[str, int]:
    """How the calls' digits as rtpengine reported them compare with what was keyed:
    counts of calls, never the digits."""
    out: Counter[str] = Counter()
    for got in seen.values():
        if got == keyed:
            out["as keyed"] += 1
        elif len(got) > len(keyed):
            out[f"{len(got) - len(keyed)} more"] += 1
        elif len(got) < len(keyed):
            out[f"{len(keyed) - len(got)} fewer"] += 1
        else:
            out["other digits"] += 1
    return dict(out)


class PortsProbe:
    """rtpengine's ports in use every 10 s (its `statistics`), for the peak."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="ports")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(10):
            self.peak = max(self.peak, rtpengine_ports_used(self.stack))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak


def call_minutes(samples: Sequence[Sample], start: float, end: float) -> float:
    """The integral of the calls in progress over [start, end], in call-minutes
    (each sample holds until the next)."""
    inside = [s for s in samples if start <= s.t <= end]
    total = inside[0].calls * (inside[0].t - start) if inside else 0.0
    for here, after in zip(inside, [*inside[1:], None], strict=True):
        total += here.calls * ((after.t if after is not None else end) - here.t)
    return total / 60


# -- the event log: what each call did ---------------------------------------------------
@dataclass
class CallTrace:
    arrived: float | None = None  # ts of call.arrived
    steps: list[tuple[str, str, float]] = field(default_factory=list)  # node, input, ts
    done: tuple[str, str] | None = None  # (ivr_node, result)
    ended: tuple[str, str] | None = None  # (cause, side)

    def reached(self, node: str) -> float | None:
        """Seconds from the arrival to the step into `node` (None: not reached)."""
        for name, _, ts in self.steps:
            if name == node and self.arrived is not None:
                return ts - self.arrived
        return None


def traces(client: redis.Redis, since: str) -> dict[str, CallTrace]:
    calls: dict[str, CallTrace] = {}
    for delivery in replay(client, from_id=since):
        event = delivery.event
        if not event.correlation_id:
            continue
        trace = calls.setdefault(event.correlation_id, CallTrace())
        if event.kind == CALL_ARRIVED:
            trace.arrived = event.ts
        elif event.kind == CALL_IVR_STEP:
            step = (str(event.data["ivr_node"]), str(event.data["input"]), event.ts)
            trace.steps.append(step)
        elif event.kind == CALL_IVR_DONE:
            trace.done = (str(event.data["ivr_node"]), str(event.data["result"]))
        elif event.kind == CALL_ENDED:
            trace.ended = (str(event.data["cause"]), str(event.data["side"]))
    return calls


BALANCE = "say_balance"
HEARD = PATH.index(("say_balance", "")) + 1  # the steps a call must take, at least
LOOKUP_FAILED = "lookup_failed"  # the hotline's node after a lookup error
LOOKED_UP = PATH.index(("find_account", ACCOUNT)) + 1


def judge(trace: CallTrace, reported: str | None) -> tuple[str, str]:
    """(verdict, detail) of one call, given the digits rtpengine reported for it
    (None: none at all). The verdict is one of:
    - "ok": the whole path, with the right inputs, left by the caller after the balance;
    - "misrecognised": rtpengine reported other digits than the caller keyed (where
      they differ is shown by position, never the digits);
    - "late": the right digits, but one reached a node before the one it was keyed
      for (the language menu still ran when the main menu's "1" came, say), so the
      path went elsewhere: the IVR ran behind the caller's pacing;
    - "cut short": the right path up to the balance, but the caller hung up while it
      was still being spoken (the IVR ran behind, by less);
    - "lookup failed": the right digits, but the account's lookup missed its deadline
      (500 ms by default), so the flow sent the caller to an agent;
    - "lost": the call did not end as the caller's hang-up, or the IVR let go of it
      otherwise."""
    if trace.arrived is None or trace.ended is None:
        return "lost", f"arrived {trace.arrived is not None}, ended {trace.ended}"
    if trace.ended[1] != "caller":
        return "lost", f"ended by {trace.ended[1]} ({trace.ended[0]})"
    if reported != DIGITS:
        where = digit_difference(reported or "", DIGITS)
        return "misrecognised", f"rtpengine reported {where} ({path_of(trace)})"
    nodes = tuple(node for node, _, _ in trace.steps)
    expected = tuple(node for node, _ in PATH)
    for (node, got, _), (_, wanted) in zip(trace.steps, PATH, strict=False):
        if node in expected and got != wanted and not (got == SENSITIVE and wanted):
            return "late", f"{node} reached with {len(got)} characters, not {len(wanted)}"
    if LOOKUP_FAILED in nodes and nodes[: nodes.index(LOOKUP_FAILED)] == expected[:LOOKED_UP]:
        return "lookup failed", path_of(trace)
    if len(nodes) < HEARD or nodes != expected[: len(nodes)]:
        return "late", path_of(trace)
    if trace.done is None or trace.done[1] != "caller_left":
        return "lost", f"ivr_done {trace.done}"
    if len(nodes) == HEARD:
        return "cut short", f"left during {BALANCE} ({trace.done[0]})"
    return "ok", ""


# -- the run -----------------------------------------------------------------------------
@dataclass
class Leftovers:
    calls: int
    media_sessions: int
    ivr_calls: int
    rtpengine_sessions: int
    waited_s: float

    @property
    def clean(self) -> bool:
        return not (self.calls or self.media_sessions or self.ivr_calls or self.rtpengine_sessions)


def leftovers(rig: Rig, timeout: float) -> Leftovers:
    t0 = time.monotonic()
    while True:
        statuses = rig.statuses()
        left = Leftovers(
            calls=sum(int(s["calls"]) for s in statuses),
            media_sessions=sum(int(s["media_sessions"]) for s in statuses),
            ivr_calls=sum(int(s.get("ivr_calls", 0)) for s in statuses),
            rtpengine_sessions=len(rig.stack.rtpengine_calls()),
            waited_s=time.monotonic() - t0,
        )
        if left.clean or time.monotonic() - t0 > timeout:
            return left
        time.sleep(0.5)


@dataclass
class RunResult:
    rate: float
    duration_s: int
    controllers: int
    pacing: dict[str, int]
    call_s: float  # answer to BYE, as paced
    offered: int
    successful: int
    failed: int
    retransmissions: int
    caller_exit: int | None
    answered_logged: int
    done_logged: int
    verdicts: dict[str, int]
    # s from call.arrived to the step into `main` (nominal: the language prompt, then
    # its 4 s timeout), and how late the step into say_balance came after the caller's
    # '#' (as paced from the arrival): p50, p90, p99, max
    delays_s: dict[str, dict[str, float]]
    first_bad: dict[str, list[str]]
    paths: dict[str, int]
    ivr_results: dict[str, int]
    ended: dict[str, int]
    window_s: float
    concurrent: dict[str, float]  # min, p5, median, max of the window's samples
    call_minutes: float
    cpu_s: dict[str, float]
    ms_per_call_minute: dict[str, float]
    core_pct: dict[str, float]
    idle_core_pct: dict[str, float]
    machine_busy_pct: float
    others_busy_pct: float
    load_at_start: float
    threads: dict[str, list[str]]
    ng_per_call: dict[str, float]
    rtpengine_relayed: tuple[int, ...]  # packets relayed in the window, relay errors
    rtpengine_ports_peak: int
    latency_ms: dict[str, dict[str, float]]
    udp_rcvbuf_drops: int
    udp_drops_by_port: dict[str, int]  # the five local ports with most drops in the window
    replica_counts: dict[str, dict[str, int]]  # the replicas' dtmf and ivr counters, this run
    rtpengine_digits: dict[str, int]  # calls whose digits rtpengine reported as keyed, or not
    digit_differences: list[str]  # the first calls reported otherwise: where (positions)
    left: Leftovers
    log_errors: dict[str, int]
    first_errors: dict[str, str]
    target: int

    def failures(self) -> list[str]:
        why = []
        if self.caller_exit != 0:
            why.append(f"caller sipp exit {self.caller_exit}")
        if self.failed or self.successful != self.offered:
            why.append(f"sipp: {self.successful}/{self.offered} ok, {self.failed} failed")
        checked = sum(self.verdicts.values())
        if checked != self.offered:
            why.append(f"event log: {checked} calls for {self.offered} offered")
        for verdict in ("lost", "misrecognised", "lookup failed", "late"):
            if self.verdicts.get(verdict):
                why.append(f"{self.verdicts[verdict]} calls {verdict}")
        if self.verdicts.get("cut short"):
            why.append(
                f"{self.verdicts['cut short']} callers hung up before their balance was "
                f"spoken to the end (the IVR ran behind their pacing)"
            )
        if self.concurrent["min"] < self.target:
            why.append(
                f"concurrency fell to {self.concurrent['min']:.0f} (< {self.target}) in the window"
            )
        delivered = self.replica_counts.get("dtmf", {}).get("delivered", 0)
        if delivered != len(DIGITS) * self.offered:
            why.append(f"{delivered} digits delivered for {len(DIGITS) * self.offered} keyed")
        if not self.left.clean:
            why.append(f"left over: {self.left}")
        return why

    @property
    def passed(self) -> bool:
        return not self.failures()

    @property
    def lost(self) -> int:
        """Calls lost: failed at sipp, or not ended as the caller's hang-up."""
        return self.failed + self.verdicts.get("lost", 0)

    @property
    def misrecognised(self) -> int:
        """Calls whose digits rtpengine reported otherwise than keyed."""
        return sum(n for k, n in self.rtpengine_digits.items() if k != "as keyed")

    def target_met(self) -> bool:
        """The issue's target alone: >= 300 held for 300 s, 0 lost, 0 misrecognised."""
        return (
            self.concurrent["min"] >= TARGET_CONCURRENT
            and self.duration_s >= TARGET_WINDOW_S
            and self.offered == self.successful + self.failed
            and not self.lost
            and not self.misrecognised
        )


def run(args: argparse.Namespace, workdir: Path) -> RunResult:
    pacing = Pacing(args.menu_ms, args.prompt_ms, args.gap_ms, args.listen_ms)
    call_s = pacing.call_ms / 1000
    lead_s = call_s + args.settle  # from the first INVITE to the window
    calls = round(args.rate * (lead_s + args.duration))
    target = args.target if args.target is not None else int(args.rate * call_s * 0.97)
    config, passwords = ivr_config(
        workdir / "stack", controllers=args.controllers, kamailio_workers=args.kamailio_workers
    )
    scenario = stage(workdir / "callers", DIGITS, args.gap_ms)
    t0 = time.monotonic()
    with running_stack(workdir / "stack", config, passwords) as stack:
        host, port = split_hostport(stack.config.redis.listen)
        events = redis.Redis(host=host, port=port)
        rig = Rig(stack, events, args.controllers, workdir)
        for i in range(args.controllers):
            wait_for(
                feed_subscribed(stack.layout.log_file(f"controller{i}")),
                20,
                f"controller{i}'s ACD action feed",
            )
        # The demo's accounts, as `callcenter demo` seeds them (12345674 among them).
        assert stack.config.bizdata is not None
        bizdata.seed_demo(bizdata.store_url(stack.config.bizdata, stack.layout.root))
        print(
            f"stack up in {time.monotonic() - t0:.1f} s: kamailio {stack.sip} "
            f"({args.kamailio_workers} workers), {args.controllers} controller(s) hosting "
            f"flow {FLOW!r} for {NUMBER}, ACD, rtpengine ports {PORT_MIN}-{PORT_MAX}"
        )
        print(
            f"calls: {calls} at {args.rate:g}/s, each {call_s:.1f} s from answer to BYE "
            f"({pacing}); window {args.duration} s from {lead_s:.0f} s after the first; "
            f"concurrency expected {args.rate * call_s:.0f}, required >= {target}"
        )
        logs = {
            n: stack.layout.log_file(n)
            for n in ["kamailio", "acd", *[f"controller{i}" for i in range(args.controllers)]]
        }
        offsets = {n: log_size(p) for n, p in logs.items()}
        groups = rig.groups()
        groups["bench"] = [os.getpid()]
        idle = CpuMeter({n: list(p) for n, p in groups.items()})
        idle.start()
        time.sleep(3)
        idle.stop()
        idle_pct = {n: used / idle.wall * 100 for n, used in idle.used.items()}

        mark = log_mark(events)
        counted_before = rig.counters()
        load = os.getloadavg()[0]
        ports = PortsProbe(stack)
        tap = DigitTap(stack)
        timeout_s = int(lead_s + args.duration + call_s + 90)
        caller = start_callers(
            scenario,
            stack.sip,
            workdir=workdir / "callers",
            name="callers",
            number=NUMBER,
            caller=CALLER,
            calls=calls,
            rate=args.rate,
            pacing=pacing,
            limit=int(args.rate * call_s * 2) + 50,
            timeout_s=timeout_s,
            extra=(
                *stat_args(workdir / "callers", "callers"),
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
            ),
        )
        # Epoch time: the window is compared with sipp's per-second samples.
        started = time.time()
        try:
            groups["sipp"] = [caller.process.pid]
            window_start = started + lead_s
            while time.time() < window_start:
                if caller.process.poll() is not None:
                    raise RuntimeError(f"sipp ended early: {caller.errors()[-1500:]}")
                time.sleep(0.2)
            # Per thread: each replica (its main thread is the SIP loop) and rtpengine
            # (whose media threads may cap it below the cores it has).
            watched = {
                n: groups[n][0] for n in groups if n.startswith("controller") or n == "rtpengine"
            }
            before = {n: thread_ticks(pid) for n, pid in watched.items()}
            meter = CpuMeter(groups)
            drops = udp_rcvbuf_errors()
            port_drops = udp_drops_by_port()
            ng_before = ng_counts(stack)
            relayed_before = relayed_packets(stack)
            meter.start()
            window_end = window_start + args.duration
            last = 0.0
            while time.time() < window_end:
                if time.time() - last >= 30:
                    seen = sipp_samples(caller)
                    now = seen[-1].calls if seen else 0
                    print(
                        f"  {time.time() - started:5.0f} s: {now} calls in progress",
                        flush=True,
                    )
                    last = time.time()
                time.sleep(0.2)
            meter.stop()
            threads = {n: busiest_threads(pid, before[n], meter.wall) for n, pid in watched.items()}
            ng_after = ng_counts(stack)
            relayed = tuple(
                a - b for a, b in zip(relayed_packets(stack), relayed_before, strict=True)
            )
            drops = udp_rcvbuf_errors() - drops
            port_drops = udp_drops_by_port() - port_drops
            caller_exit = stop_run(caller, timeout=max(1.0, timeout_s - (time.time() - started)))
        finally:
            caller.stop()
            ports_peak = ports.stop()
            seen_digits = tap.close()
        left = leftovers(rig, 20)
        counted = rig.counters()
        counted = {
            group: {
                k: v - counted_before.get(group, {}).get(k, 0)
                for k, v in values.items()
                if v - counted_before.get(group, {}).get(k, 0)
            }
            for group, values in counted.items()
        }
        stats = sipp_stats(caller)
        answered, done = logged_calls(caller)
        by_call = traces(events, mark)
        hash_at = pacing.hash_ms / 1000
        verdicts: Counter[str] = Counter()
        first_bad: dict[str, list[str]] = {}
        paths: Counter[str] = Counter()
        for cid, trace in by_call.items():
            verdict, detail = judge(trace, seen_digits.get(cid))
            verdicts[verdict] += 1
            paths[" > ".join(node for node, _, _ in trace.steps)] += 1
            if verdict != "ok" and len(first_bad.setdefault(verdict, [])) < 5:
                first_bad[verdict].append(f"{cid}: {detail}")
        samples = sipp_samples(caller)
        in_window = [s for s in samples if window_start <= s.t <= window_end]
        counts = sorted(s.calls for s in in_window) or [0]
        minutes = call_minutes(samples, window_start, window_end)
        problems = {n: log_problems(p, offsets[n]) for n, p in logs.items()}
        wall = meter.wall or 1.0
        events.close()
        return RunResult(
            rate=args.rate,
            duration_s=args.duration,
            controllers=args.controllers,
            pacing=pacing.keys(),
            call_s=call_s,
            offered=calls,
            successful=stats["successful"],
            failed=stats["failed"],
            retransmissions=stats["retransmissions"],
            caller_exit=caller_exit,
            answered_logged=len(answered),
            done_logged=len(done),
            verdicts=dict(verdicts),
            delays_s={
                "arrival to main menu": percentiles(
                    [d for t in by_call.values() if (d := t.reached("main")) is not None]
                ),
                "balance after the '#'": percentiles(
                    [d - hash_at for t in by_call.values() if (d := t.reached(BALANCE)) is not None]
                ),
            },
            first_bad=first_bad,
            paths=dict(paths.most_common(5)),
            ivr_results=dict(Counter(t.done[1] if t.done else "-" for t in by_call.values())),
            ended=dict(Counter(t.ended[1] if t.ended else "-" for t in by_call.values())),
            window_s=wall,
            concurrent={
                "min": counts[0],
                "p5": counts[int(len(counts) * 0.05)],
                "median": statistics.median(counts),
                "max": counts[-1],
            },
            call_minutes=minutes,
            cpu_s=dict(meter.used),
            ms_per_call_minute={
                n: s * 1000 / minutes if minutes else 0.0 for n, s in meter.used.items()
            },
            core_pct={n: s / wall * 100 for n, s in meter.used.items()},
            idle_core_pct=idle_pct,
            machine_busy_pct=meter.machine_busy * 100,
            others_busy_pct=meter.others_busy * 100,
            load_at_start=load,
            threads=threads,
            ng_per_call={
                k: (v - ng_before.get(k, 0)) / (args.rate * wall)
                for k, v in ng_after.items()
                if v - ng_before.get(k, 0) > 0 and k not in OWN_NG_COMMANDS
            },
            rtpengine_relayed=relayed,
            rtpengine_ports_peak=ports_peak,
            latency_ms=rtt_percentiles(caller),
            udp_rcvbuf_drops=drops,
            udp_drops_by_port={
                port_owner(stack, caller.argv, port): n for port, n in port_drops.most_common(5)
            },
            replica_counts=counted,
            digit_differences=[
                f"{cid}: {digit_difference(got, DIGITS)} (path {path_of(by_call.get(cid))})"
                for cid, got in seen_digits.items()
                if got != DIGITS
            ][:5],
            rtpengine_digits=compare_digits(seen_digits, DIGITS)
            | ({"no digit": calls - len(seen_digits)} if calls > len(seen_digits) else {}),
            left=left,
            log_errors={n: count for n, (count, _) in problems.items()},
            first_errors={n: first for n, (_, first) in problems.items() if first},
            target=target,
        )


def report(r: RunResult) -> None:
    print(
        f"\n== {r.rate:g} calls/s, window {r.duration_s} s, {r.controllers} controller(s): "
        f"{'PASS' if r.passed else 'FAIL'}"
    )
    print(
        f"calls: offered {r.offered}, ok {r.successful}, failed {r.failed}, "
        f"retransmissions {r.retransmissions}; sipp exit {r.caller_exit}; answered "
        f"{r.answered_logged}, hung up by the caller with 200 {r.done_logged}"
    )
    print(
        f"IVR per call (event log): {r.verdicts}; ivr_done results {r.ivr_results}; "
        f"call.ended side {r.ended}"
    )
    for name, p in r.delays_s.items():
        print(
            f"  {name} (s): p50 {p['p50']:.2f}, p90 {p['p90']:.2f}, p99 {p['p99']:.2f}, "
            f"max {p['max']:.2f}"
        )
    for path, n in r.paths.items():
        print(f"  path x{n}: {path}")
    for verdict, lines in r.first_bad.items():
        for line in lines:
            print(f"  {verdict}: {line}")
    c = r.concurrent
    print(
        f"calls in progress over the {r.window_s:.0f} s window: min {c['min']:.0f}, p5 "
        f"{c['p5']:.0f}, median {c['median']:.0f}, max {c['max']:.0f} (required >= "
        f"{r.target}); {r.call_minutes:.0f} call-minutes"
    )
    for rtd, p in sorted(r.latency_ms.items()):
        print(
            f"latency {rtd:9s} (n={p['n']:.0f}): p50 {p['p50']:.0f} ms, p90 {p['p90']:.0f} ms,"
            f" p99 {p['p99']:.0f} ms, max {p['max']:.0f} ms"
        )
    print(
        f"CPU over the window (load average at start {r.load_at_start:.2f}; machine busy "
        f"{r.machine_busy_pct:.0f}% of {os.cpu_count()} cores, of which other processes "
        f"{r.others_busy_pct:.0f}%):"
    )
    print(
        f"  {'component':12s} {'ms per call-minute':>18s} {'% of a core':>11s} "
        f"{'idle %':>7s}  threads (% of a core)"
    )
    for name, ms in r.ms_per_call_minute.items():
        extra = f"  {', '.join(r.threads[name])}" if r.threads.get(name) else ""
        print(
            f"  {name:12s} {ms:18.1f} {r.core_pct[name]:11.1f} "
            f"{r.idle_core_pct.get(name, 0.0):7.1f}{extra}"
        )
    stack = [n for n in r.ms_per_call_minute if n not in ("sipp", "bench")]
    print(
        f"  {'the stack':12s} {sum(r.ms_per_call_minute[n] for n in stack):18.1f} "
        f"{sum(r.core_pct[n] for n in stack):11.1f}"
    )
    print(
        "rtpengine ng commands per call: "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.ng_per_call.items(), key=lambda kv: -kv[1]))
    )
    packets, errors = r.rtpengine_relayed
    if packets:
        print(
            f"rtpengine relayed {packets / r.window_s:.0f} packets/s in userspace ({errors} "
            f"relay errors), {r.cpu_s['rtpengine'] * 1e6 / packets:.1f} us of its CPU per "
            f"relayed packet, played prompts included"
        )
    print(f"digits per call as rtpengine reported them: {r.rtpengine_digits}")
    for line in r.digit_differences:
        print(f"  {line}")
    for group, counts in r.replica_counts.items():
        print(f"replicas' {group}: {counts}")
    print(
        f"rtpengine ports in use at most {r.rtpengine_ports_peak}; UDP receive-buffer drops "
        f"{r.udp_rcvbuf_drops} (by local port: {r.udp_drops_by_port}); log ERROR lines "
        f"{r.log_errors}"
    )
    for name, line in r.first_errors.items():
        print(f"  first in {name}: {line}")
    print(
        f"after the run (waited {r.left.waited_s:.1f} s): calls {r.left.calls}, media "
        f"sessions {r.left.media_sessions}, IVR calls {r.left.ivr_calls}, rtpengine "
        f"sessions {r.left.rtpengine_sessions}"
    )
    for why in r.failures():
        print(f"  FAILED: {why}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="calls per second")
    parser.add_argument(
        "--duration", type=int, default=TARGET_WINDOW_S, help="seconds of the measured window"
    )
    parser.add_argument("--settle", type=float, default=5.0, help="s after the plateau starts")
    parser.add_argument("--controllers", type=int, default=1, help="controller replicas")
    parser.add_argument("--kamailio-workers", type=int, default=4)
    parser.add_argument(
        "--target",
        type=int,
        default=None,
        help="calls in progress required at every sample (default 97%% of rate x call length)",
    )
    pace = parser.add_argument_group("the caller's pacing (ms)")
    pace.add_argument("--menu-ms", type=int, default=14000, help="answer to the menu digit")
    pace.add_argument("--prompt-ms", type=int, default=3000, help="menu digit to the account")
    pace.add_argument("--gap-ms", type=int, default=300, help="between the account's digits")
    pace.add_argument("--listen-ms", type=int, default=12000, help="last digit to the BYE")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine_facts()
    print_facts(facts)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-ivr-"))
    print(f"workdir: {workdir}")
    result: RunResult | None = None
    with terminate_on_sigterm():
        try:
            result = run(args, workdir)
        except KeyboardInterrupt:
            print("interrupted: everything started was stopped", file=sys.stderr)
        finally:
            if result is not None and result.passed and not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                print(f"work directory kept (logs, sipp files): {workdir}")
    if result is None:
        return 1
    report(result)
    held = result.concurrent["min"]
    print(
        f"\ntarget >= {TARGET_CONCURRENT} concurrent IVR calls held {TARGET_WINDOW_S} s, 0 lost, "
        f"0 misrecognised: {'MET' if result.target_met() else 'not met'} (this run: {held:.0f} "
        f"held for {result.duration_s} s, {result.lost} lost, {result.misrecognised} "
        f"misrecognised)"
    )
    print(
        f"every call self-served on the fixed path, every check above: "
        f"{'PASS' if result.passed else 'FAIL'}"
        + ("" if result.passed else f" ({'; '.join(result.failures())})")
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "facts": facts,
                    "load_at_start": load,
                    "args": vars(args) | {"json": None},
                    "result": asdict(result),
                },
                indent=2,
                default=str,
            )
        )
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
