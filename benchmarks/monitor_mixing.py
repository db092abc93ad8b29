"""Monitored calls through the mixer at load: loss, who hears whom, added delay, CPU.

One real rtpengine (testbed's, userspace) and `--mixers` real mixer processes
(`python -m mixer`). `--calls` monitored calls, half in whisper and half in barge,
each with three parties (caller, agent, supervisor), and `--plain` calls bridged
directly in rtpengine, all at once; every party is an RTP endpoint of
benchmarks/_monitor_parties.py, spread over `--generators` processes.

Media is anchored as the call controller anchors it (docs/monitoring.md): a monitored
call is first bridged (caller <-> agent in rtpengine call `<cid>`), then the
supervisor's leg gets an rtpengine call of its own (`<cid>~mon~<session>`) paired with
the mixer's `sup:<session>` slot, and the caller's and the agent's monologues are
re-paired with the mixer's `caller` and `agent` slots (rtpengine offers towards the
mixer, `join` answers, rtpengine's answer gives the party its address, which may have
moved); then `hear` sets the mode. A plain call is the controller's bridge: offer
caller -> agent, answer.

Each party sends its tone (caller 440 Hz, agent 1 kHz, supervisor 2.5 kHz) and, once
a second, a 100 ms marker burst whose send time it keeps. Measured over `--seconds`:
- loss at each party (<= 0.1 %): packets received against frames sent, and of each
  source it hears, the packets carrying that source's tone against its frames sent;
- every tone a party must hear present in every 1 s window (Goertzel), and no tone it
  must not hear (the caller in whisper never hears the supervisor);
- mouth-to-ear delay of each marker: send time to the arrival of its onset at each
  listener. Added delay = p95 of the mixed caller<->agent path minus p95 of the plain
  path, in the same run (<= 40 ms);
- CPU (utime+stime from /proc) of the mixers per monitored call, and of rtpengine.

    .venv/bin/python -m benchmarks.monitor_mixing                      # 100 calls, 60 s
    .venv/bin/python -m benchmarks.monitor_mixing --calls 200 --mixers 2 --runs 3

Exit status 1 when a target is missed (or the measurement itself is not sound: a
party process that could not keep the 20 ms pace, markers that were not found).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import pstats
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

import configuration
from benchmarks._harness import (
    CpuMeter,
    machine_facts,
    print_facts,
    udp_rcvbuf_errors,
)
from benchmarks._monitor_parties import (
    DRAIN_S,
    PartyProcesses,
    PartySpec,
)
from configuration import split_hostport
from mixer import mixer_argv
from rtpengine import NgClient, NgError
from simulators import free_port
from testbed import base_config, running_rtpengine, wait_until

TARGET_CALLS = 100
TARGET_LOSS = 0.001  # at each party
TARGET_ADDED_P95_MS = 40.0
MIN_PACE = 0.99  # share of ticks the party processes sent on time, for a sound measurement
MIN_MARKERS = 0.95  # share of markers found at their listeners, for a sound measurement

# rtpengine flags as the controller sends them (controller/_media.py).
SDP_FLAGS: dict[str, Any] = {
    "flags": ["trust-address"],
    "replace": ["origin", "session-connection"],
    "ICE": "remove",
}
HEARS = {  # docs/monitoring.md's mode table; SUP stands for the supervisor's slot
    "whisper": {"caller": ["agent"], "agent": ["caller", "SUP"], "SUP": ["caller", "agent"]},
    "barge": {"caller": ["agent", "SUP"], "agent": ["caller", "SUP"], "SUP": ["caller", "agent"]},
}
ROOT = Path(__file__).resolve().parent.parent


def sdp(port: int, origin: str) -> str:
    """A phone's offer: PCMU and telephone-event on loopback."""
    return (
        f"v=0\r\no={origin} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def media_address(text: str) -> tuple[str, int]:
    """The audio address an SDP names (session or media c= line, m=audio port)."""
    host = re.search(r"^c=IN IP4 (\S+)", text, re.M)
    port = re.search(r"^m=audio (\d+) ", text, re.M)
    if host is None or port is None:
        raise ValueError(f"no audio address in SDP: {text!r}")
    return host.group(1), int(port.group(1))


# -- the processes ------------------------------------------------------------------------
@dataclass
class Mixer:
    name: str
    ng: NgClient
    process: subprocess.Popen[bytes]
    log: Path


def mixer_config(
    workdir: Path, count: int, *, port_base: int, ports_each: int, jitter_frames: int
) -> Path:
    """A callcenter config whose `monitoring.mixers` are `count` nodes on free ng ports,
    each with its own RTP port range (the mixer reads nothing else but rtp_timeout_s)."""
    config, _ = base_config(workdir)
    config["monitoring"] = {
        "mixers": [
            {
                "ng": f"127.0.0.1:{free_port()}",
                "port_min": port_base + n * ports_each,
                "port_max": port_base + (n + 1) * ports_each - 1,
            }
            for n in range(count)
        ],
        "jitter_frames": jitter_frames,
    }
    path = workdir / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextmanager
def running_mixers(
    workdir: Path,
    count: int,
    *,
    port_base: int,
    ports_each: int,
    jitter_frames: int,
    profile: bool = False,
) -> Iterator[list[Mixer]]:
    """`count` mixer processes (`python -m mixer --config ... --node i`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = mixer_config(
        workdir, count, port_base=port_base, ports_each=ports_each, jitter_frames=jitter_frames
    )
    nodes = configuration.load_config(config_file).monitoring.mixers
    mixers: list[Mixer] = []
    try:
        for n, node in enumerate(nodes):
            host, port = split_hostport(node.ng)
            log = workdir / f"mixer{n}.log"
            with log.open("ab") as out:
                argv = mixer_argv(config_file, n)
                if profile:  # the same process under cProfile, written when it stops
                    argv[1:1] = ["-m", "cProfile", "-o", str(workdir / f"mixer{n}.prof")]
                process = subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            mixers.append(Mixer(f"mixer{n}", NgClient(host, port, timeout=2.0), process, log))
        for mixer in mixers:
            wait_until(
                lambda m=mixer: m.process.poll() is not None or m.ng.ping(),  # type: ignore[misc]
                timeout=20,
                what=f"{mixer.name} answers an ng ping",
            )
            if mixer.process.poll() is not None:
                raise RuntimeError(
                    f"{mixer.name} exited:\n{mixer.log.read_text(errors='replace')[-2000:]}"
                )
        yield mixers
    finally:
        for mixer in mixers:
            mixer.ng.close()
            mixer.process.terminate()
        for mixer in mixers:
            try:
                mixer.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                mixer.process.kill()
                mixer.process.wait()


def prioritise(pids: Sequence[int], nice: int) -> None:
    """Give these processes, and the autogroups of their sessions, this nice value. With
    the kernel's autogroup scheduling a process's nice value counts only inside its
    session; against other sessions (other people's tests on a shared machine) the
    autogroup's does."""
    for pid in pids:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        except OSError as exc:
            print(f"  cannot renice {pid} to {nice}: {exc}")


# -- the calls --------------------------------------------------------------------------
@dataclass
class CallPlan:
    key: str  # m<i> (monitored) or p<i> (plain)
    kind: str  # whisper, barge, plain
    mixer: int = 0

    @property
    def cid(self) -> str:
        return f"bench-{self.key}"

    @property
    def session(self) -> str:
        return f"s{self.key}"


def call_plans(calls: int, plain: int, mixers: int) -> list[CallPlan]:
    monitored = [
        CallPlan(f"m{i}", "whisper" if i % 2 == 0 else "barge", i % mixers) for i in range(calls)
    ]
    return monitored + [CallPlan(f"p{i}", "plain") for i in range(plain)]


def party_specs(plan: CallPlan, index: int) -> list[PartySpec]:
    """The parties of a call, their markers a third of a second apart (phase <= 45, so a
    burst never wraps past the end of its second)."""
    base = (index * 7) % 12
    phase = {"caller": base, "agent": base + 16, "supervisor": base + 32}
    if plan.kind == "plain":
        return [
            PartySpec(plan.key, "plain", "caller", phase["caller"], ("agent",)),
            PartySpec(plan.key, "plain", "agent", phase["agent"], ("caller",)),
        ]
    barge = plan.kind == "barge"
    return [
        PartySpec(
            plan.key,
            plan.kind,
            "caller",
            phase["caller"],
            ("agent", "supervisor") if barge else ("agent",),
            () if barge else ("supervisor",),
        ),
        PartySpec(plan.key, plan.kind, "agent", phase["agent"], ("caller", "supervisor")),
        PartySpec(plan.key, plan.kind, "supervisor", phase["supervisor"], ("caller", "agent")),
    ]


def offer_answer(
    rtp: NgClient, cid: str, tags: tuple[str, str], from_sdp: str, answer: Any
) -> tuple[str, str]:
    """rtpengine offer tags[0] -> tags[1]; `answer(offered_sdp)` gives the far side's SDP;
    rtpengine's answer. Returns (SDP for the far side, SDP for tags[0]'s party)."""
    from_tag, to_tag = tags
    offered = str(
        rtp.request(
            "offer",
            **{"call-id": cid, "from-tag": from_tag, "to-tag": to_tag, "sdp": from_sdp},
            **SDP_FLAGS,
        )["sdp"]
    )
    far = answer(offered)
    back = str(
        rtp.request(
            "answer",
            **{"call-id": cid, "from-tag": from_tag, "to-tag": to_tag, "sdp": far},
            **SDP_FLAGS,
        )["sdp"]
    )
    return offered, back


def set_up_call(
    plan: CallPlan, ports: dict[str, int], rtp: NgClient, mixers: Sequence[Mixer]
) -> dict[str, tuple[str, int]]:
    """Anchor one call as the controller does; where each of its parties sends."""
    key, cid = plan.key, plan.cid
    caller_sdp = sdp(ports[f"{key}.caller"], "caller")
    agent_sdp = sdp(ports[f"{key}.agent"], "agent")
    # The bridge, as controller._pair_media makes it.
    for_agent, for_caller = offer_answer(
        rtp, cid, ("caller", "agent"), caller_sdp, lambda _: agent_sdp
    )
    if plan.kind == "plain":
        return {
            f"{key}.caller": media_address(for_caller),
            f"{key}.agent": media_address(for_agent),
        }
    mixer = mixers[plan.mixer].ng
    slot = f"sup:{plan.session}"

    def join(slot_name: str) -> Any:
        def answer(offered: str) -> str:
            reply = mixer.request("join", conference=cid, slot=slot_name, sdp=offered)
            return str(reply["sdp"])

        return answer

    sup_sdp = sdp(ports[f"{key}.supervisor"], "supervisor")
    _, for_sup = offer_answer(
        rtp, f"{cid}~mon~{plan.session}", ("sup", "sup~mixer"), sup_sdp, join(slot)
    )
    _, for_caller = offer_answer(rtp, cid, ("caller", "caller~mixer"), caller_sdp, join("caller"))
    _, for_agent = offer_answer(rtp, cid, ("agent", "agent~mixer"), agent_sdp, join("agent"))
    hears = {
        (slot if who == "SUP" else who): [slot if h == "SUP" else h for h in heard]
        for who, heard in HEARS[plan.kind].items()
    }
    mixer.request("hear", conference=cid, hears=hears)
    return {
        f"{key}.caller": media_address(for_caller),
        f"{key}.agent": media_address(for_agent),
        f"{key}.supervisor": media_address(for_sup),
    }


def tear_down(plans: Sequence[CallPlan], rtp: NgClient, mixers: Sequence[Mixer]) -> int:
    """Delete every call in rtpengine and every conference in the mixers; failures."""
    failures = 0
    for plan in plans:
        requests: list[tuple[NgClient, str, dict[str, Any]]] = [
            (rtp, "delete", {"call-id": plan.cid})
        ]
        if plan.kind != "plain":
            requests.append((rtp, "delete", {"call-id": f"{plan.cid}~mon~{plan.session}"}))
            requests.append((mixers[plan.mixer].ng, "delete", {"conference": plan.cid}))
        for client, command, params in requests:
            try:
                client.request(command, **params)
            except NgError:
                failures += 1
    return failures


def mixer_statistics(mixers: Sequence[Mixer]) -> dict[str, int]:
    """Every slot's counters summed over every mixer, and the mixers' own totals
    (`statistics` without a conference: ticks, skipped ticks, the latest tick's lag, the
    time spent in ticks)."""
    totals = {"packets_in": 0, "packets_out": 0, "lost": 0, "late": 0}
    engine = {"ticks": 0, "skipped_ticks": 0, "max_lag_us": 0, "tick_time_us": 0}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in totals and isinstance(v, int):
                    totals[k] += v
                elif k != "mixer":
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for mixer in mixers:
        try:
            reply = mixer.ng.request("statistics")
        except NgError as exc:
            print(f"  {mixer.name} statistics: {exc}")
            continue
        walk(reply)
        own = reply.get("mixer", {})
        for k, before in engine.items():
            value = own.get(k, 0)
            if isinstance(value, int):
                engine[k] = max(before, value) if k == "max_lag_us" else before + value
    return totals | engine


# -- one run -----------------------------------------------------------------------------
def pct(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


PATHS = {  # (kind group, listener role, source role) -> label
    ("mixed", "agent", "caller"): "mixed caller->agent",
    ("mixed", "caller", "agent"): "mixed agent->caller",
    ("mixed", "supervisor", "caller"): "mixed caller->supervisor",
    ("mixed", "supervisor", "agent"): "mixed agent->supervisor",
    ("mixed", "agent", "supervisor"): "mixed supervisor->agent",
    ("mixed", "caller", "supervisor"): "mixed supervisor->caller",
    ("plain", "agent", "caller"): "plain caller->agent",
    ("plain", "caller", "agent"): "plain agent->caller",
}


@dataclass
class RunResult:
    calls: int
    plain: int
    mixers: int
    seconds: float
    calls_up: int = 0
    setup_errors: list[str] = field(default_factory=list)
    parties: int = 0
    max_loss: float = 0.0
    max_loss_party: str = ""
    total_lost: int = 0
    max_frame_loss: float = 0.0  # of one source's frames at one listener
    max_frame_loss_path: str = ""
    frames_lost: int = 0
    frames_expected: int = 0
    total_expected: int = 0
    seq_gaps: int = 0
    parties_with_loss: int = 0
    windows: int = 0
    missing_windows: int = 0
    missing_where: list[str] = field(default_factory=list)
    leaked_windows: int = 0
    leaked_where: list[str] = field(default_factory=list)
    delays: dict[str, list[float]] = field(default_factory=dict)
    markers_sent: int = 0
    markers_matched: int = 0
    pace: float = 1.0
    party_cpu_pct: float = 0.0  # of one core, all party processes
    mixer_cpu_pct: float = 0.0  # of one core, all mixers
    rtpengine_cpu_pct: float = 0.0  # of one core
    machine_busy_pct: float = 0.0
    others_busy_pct: float = 0.0
    rcvbuf_drops: int = 0
    mixer_stats: dict[str, int] = field(default_factory=dict)
    teardown_failures: int = 0

    def delay_of(self, *labels: str) -> list[float]:
        return [d for label in labels for d in self.delays.get(label, [])]

    @property
    def mixed_p95(self) -> float:
        return pct(self.delay_of("mixed caller->agent", "mixed agent->caller"), 95)

    @property
    def plain_p95(self) -> float:
        return pct(self.delay_of("plain caller->agent", "plain agent->caller"), 95)

    @property
    def added_p95(self) -> float:
        return self.mixed_p95 - self.plain_p95

    @property
    def added_p50(self) -> float:
        mixed = pct(self.delay_of("mixed caller->agent", "mixed agent->caller"), 50)
        return mixed - pct(self.delay_of("plain caller->agent", "plain agent->caller"), 50)

    @property
    def mixer_core_pct_per_call(self) -> float:
        return self.mixer_cpu_pct / self.calls_up if self.calls_up else float("nan")

    @property
    def rtpengine_core_pct_per_call(self) -> float:
        return self.rtpengine_cpu_pct / self.calls_up if self.calls_up else float("nan")

    def misses(self) -> list[str]:
        checks = [
            (not self.setup_errors, f"{len(self.setup_errors)} calls not set up"),
            (
                self.max_loss <= TARGET_LOSS,
                f"packet loss {100 * self.max_loss:.2f}% at {self.max_loss_party}"
                " (target <= 0.1% each)",
            ),
            (
                self.max_frame_loss <= TARGET_LOSS,
                f"frame loss {100 * self.max_frame_loss:.2f}% on {self.max_frame_loss_path}"
                " (target <= 0.1% each)",
            ),
            (self.missing_windows == 0, f"{self.missing_windows} 1 s windows without a tone"),
            (self.leaked_windows == 0, f"{self.leaked_windows} 1 s windows with a tone not meant"),
            (
                self.added_p95 <= TARGET_ADDED_P95_MS,
                f"added delay p95 {self.added_p95:.1f} ms (target <= {TARGET_ADDED_P95_MS:.0f})",
            ),
        ]
        return [why for ok, why in checks if not ok]

    def unsound(self) -> list[str]:
        """Why the measurement itself cannot be trusted (empty: it can)."""
        checks = [
            (
                self.pace >= MIN_PACE,
                f"party processes kept only {100 * self.pace:.1f}% of the pace",
            ),
            (
                self.markers_sent == 0 or self.markers_matched >= MIN_MARKERS * self.markers_sent,
                f"only {self.markers_matched} of {self.markers_sent} markers found",
            ),
        ]
        return [why for ok, why in checks if not ok]


def run_once(args: argparse.Namespace, workdir: Path, run: int) -> RunResult:
    plans = call_plans(args.calls, args.plain, args.mixers)
    specs = {plan.key: party_specs(plan, i) for i, plan in enumerate(plans)}
    groups: list[list[PartySpec]] = [[] for _ in range(args.generators)]
    for i, plan in enumerate(plans):
        groups[i % args.generators].extend(specs[plan.key])
    result = RunResult(args.calls, args.plain, args.mixers, args.seconds)
    # rtpengine: RTP+RTCP for each monologue (4 per monitored call, 2 for its
    # supervisor's call, 2 per plain call) and the ports it moves to on re-pairing.
    rtp_ports = 20 * args.calls + 8 * args.plain + 200
    mixer_ports = 4 * (args.calls // args.mixers + 1) + 20
    base = 10000 + secrets.randbelow(4) * 100
    with ExitStack() as stack:
        engine = stack.enter_context(
            running_rtpengine(workdir / f"run{run}", port_base=base, ports=rtp_ports)
        )
        mixers = stack.enter_context(
            running_mixers(
                workdir / f"run{run}",
                args.mixers,
                port_base=base + rtp_ports,
                ports_each=mixer_ports,
                jitter_frames=args.jitter_frames,
                profile=args.profile_mixer,
            )
        )
        parties = PartyProcesses(groups)
        stack.callback(parties.close)
        rtp = NgClient("127.0.0.1", engine.ng_port, timeout=2.0)
        stack.callback(rtp.close)
        dests: dict[str, tuple[str, int]] = {}
        t0 = time.monotonic()
        for plan in plans:
            try:
                dests.update(set_up_call(plan, parties.ports, rtp, mixers))
                result.calls_up += plan.kind != "plain"
            except (NgError, ValueError, KeyError) as exc:
                result.setup_errors.append(f"{plan.key}: {exc}")
        print(
            f"  set up {result.calls_up} monitored + {args.plain} plain calls in "
            f"{time.monotonic() - t0:.1f} s"
            + (
                f"; {len(result.setup_errors)} failed, first: {result.setup_errors[0]}"
                if result.setup_errors
                else ""
            )
        )
        start_at = time.monotonic() + 1.0
        parties.start(dests, start_at=start_at, window_s=args.seconds)
        meter = CpuMeter(
            {
                "rtpengine": [engine.process.pid],
                "mixers": [m.process.pid for m in mixers],
                "parties": parties.pids,
            }
        )
        if args.nice:
            prioritise(
                [engine.process.pid, *(m.process.pid for m in mixers), *parties.pids], args.nice
            )
        drops = udp_rcvbuf_errors()
        while time.monotonic() < start_at:  # the window's start is a time, not a condition
            time.sleep(start_at - time.monotonic())
        meter.start()
        end = start_at + args.seconds
        while time.monotonic() < end:
            time.sleep(min(1.0, end - time.monotonic()))
        meter.stop()
        result.rcvbuf_drops = udp_rcvbuf_errors() - drops
        reports = parties.collect(timeout=DRAIN_S + 60 + args.seconds)
        result.mixer_stats = mixer_statistics(mixers)
        result.teardown_failures = tear_down(plans, rtp, mixers)
    wall = meter.wall or 1.0
    result.party_cpu_pct = 100 * meter.used["parties"] / wall
    result.mixer_cpu_pct = 100 * meter.used["mixers"] / wall
    result.rtpengine_cpu_pct = 100 * meter.used["rtpengine"] / wall
    result.machine_busy_pct = 100 * meter.machine_busy
    result.others_busy_pct = 100 * meter.others_busy
    summarise(result, reports)
    return result


def summarise(result: RunResult, reports: Sequence[dict[str, Any]]) -> None:
    late = sum(r["late_ticks"] for r in reports)
    ticks = sum(r["ticks"] for r in reports)
    result.pace = 1 - late / ticks if ticks else 0.0
    for report in reports:
        for party in report["parties"]:
            if party["expected"] == 0:
                continue
            result.parties += 1
            loss = party["lost"] / party["expected"]
            if loss > result.max_loss or not result.max_loss_party:
                result.max_loss, result.max_loss_party = loss, party["key"]
            for source, heard in party["frames_heard"].items():
                frame_loss = max(0, party["expected"] - heard) / party["expected"]
                result.frames_lost += max(0, party["expected"] - heard)
                result.frames_expected += party["expected"]
                if frame_loss > result.max_frame_loss or not result.max_frame_loss_path:
                    result.max_frame_loss = frame_loss
                    result.max_frame_loss_path = f"{party['call']} {source}->{party['role']}"
            result.total_lost += party["lost"]
            result.total_expected += party["expected"]
            result.seq_gaps += party["seq_gaps"]
            result.parties_with_loss += party["lost"] > 0
            result.windows += party["windows"] * len(party["missing"])
            for role, count in party["missing"].items():
                result.missing_windows += count
                if count:
                    result.missing_where.append(f"{party['key']} hears {role}: {count} missing")
            for role, count in party["leaked"].items():
                result.leaked_windows += count
                if count:
                    result.leaked_where.append(f"{party['key']} hears {role}: {count} windows")
            group = "plain" if party["kind"] == "plain" else "mixed"
            for source, delays in party["delays_ms"].items():
                label = PATHS[(group, party["role"], source)]
                result.delays.setdefault(label, []).extend(delays)
                result.markers_sent += party["markers_sent"][source]
                result.markers_matched += party["markers_matched"][source]


# -- printing -----------------------------------------------------------------------------
def report(r: RunResult) -> None:
    print(
        f"  parties: {r.parties}; loss: max {100 * r.max_loss:.3f}% ({r.max_loss_party}), "
        f"total {r.total_lost}/{r.total_expected}, parties with loss {r.parties_with_loss}, "
        f"sequence gaps {r.seq_gaps}"
    )
    print(
        f"  frames of each source at each listener: max loss {100 * r.max_frame_loss:.3f}% "
        f"({r.max_frame_loss_path}), total {r.frames_lost}/{r.frames_expected}"
    )
    print(
        f"  tones: {r.windows} (party, tone, 1 s) windows, {r.missing_windows} missing a tone, "
        f"{r.leaked_windows} with a tone not meant"
    )
    for where in (r.missing_where + r.leaked_where)[:10]:
        print(f"    {where}")
    print(f"  markers found {r.markers_matched} of {r.markers_sent}; mouth-to-ear delay (ms):")
    for label in PATHS.values():
        values = r.delays.get(label, [])
        if values:
            print(
                f"    {label:26s} n={len(values):6d}  p50 {pct(values, 50):6.1f}  "
                f"p95 {pct(values, 95):6.1f}  p99 {pct(values, 99):6.1f}  max {max(values):6.1f}"
            )
    print(
        f"  added by the mixer (caller<->agent, mixed minus plain): p50 {r.added_p50:.1f} ms, "
        f"p95 {r.added_p95:.1f} ms (mixed p95 {r.mixed_p95:.1f}, plain p95 {r.plain_p95:.1f})"
    )
    s = r.mixer_stats
    ticks = s.get("ticks", 0)
    print(
        f"  mixer counters: in {s.get('packets_in', 0)}, out {s.get('packets_out', 0)}, "
        f"lost {s.get('lost', 0)}, late (dropped by the playout) {s.get('late', 0)}; ticks "
        f"{ticks}, skipped {s.get('skipped_ticks', 0)}, latest tick "
        f"{s.get('max_lag_us', 0) / 1000:.1f} ms late, "
        f"{s.get('tick_time_us', 0) / max(ticks, 1):.0f} us per tick"
    )
    print(
        f"  CPU (% of one core): mixers {r.mixer_cpu_pct:.1f} "
        f"({r.mixer_core_pct_per_call:.3f} per monitored call), rtpengine "
        f"{r.rtpengine_cpu_pct:.1f} ({r.rtpengine_core_pct_per_call:.3f} per monitored call, "
        f"plain calls included), parties {r.party_cpu_pct:.1f}; machine "
        f"{r.machine_busy_pct:.0f}% of {os.cpu_count()} cores, others {r.others_busy_pct:.0f}%"
    )
    print(
        f"  pace {100 * r.pace:.2f}%, UDP receive-buffer drops {r.rcvbuf_drops}, "
        f"teardown failures {r.teardown_failures}"
    )


def print_profiles(files: Sequence[Path]) -> None:
    """The mixers' functions that took the most time of their own (cProfile)."""
    for file in files:
        print(f"  profile of {file.stem} (top 15 by own time):")
        out = io.StringIO()
        pstats.Stats(str(file), stream=out).sort_stats("tottime").print_stats(15)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        for line in lines[start : start + 16]:
            print(f"    {line}")


def spread(name: str, values: Sequence[float], unit: str) -> str:
    if len(values) == 1:
        return f"  {name}: {values[0]:.3f}{unit}"
    return (
        f"  {name}: min {min(values):.3f}{unit}, median {statistics.median(values):.3f}{unit}, "
        f"max {max(values):.3f}{unit}"
    )


def verdict(results: Sequence[RunResult]) -> bool:
    if len(results) > 1:
        print(f"spread over {len(results)} runs:")
        print(spread("max packet loss at a party", [100 * r.max_loss for r in results], " %"))
        print(spread("max frame loss", [100 * r.max_frame_loss for r in results], " %"))
        print(spread("added delay p95", [r.added_p95 for r in results], " ms"))
        print(spread("added delay p50", [r.added_p50 for r in results], " ms"))
        print(
            spread(
                "mixer CPU per monitored call",
                [r.mixer_core_pct_per_call for r in results],
                " % of a core",
            )
        )
        print(
            spread(
                "rtpengine CPU per monitored call",
                [r.rtpengine_core_pct_per_call for r in results],
                " % of a core",
            )
        )
    misses = [f"run {n + 1}: {why}" for n, r in enumerate(results) for why in r.misses()]
    unsound = [f"run {n + 1}: {why}" for n, r in enumerate(results) for why in r.unsound()]
    if results[0].calls < TARGET_CALLS:
        misses.append(f"{results[0].calls} calls (the target is measured at >= {TARGET_CALLS})")
    print(
        f"target: >= {TARGET_CALLS} monitored calls (whisper/barge), loss <= 0.1 % at each party, "
        f"every tone in every 1 s window, added delay p95 <= {TARGET_ADDED_P95_MS:.0f} ms"
    )
    if unsound:
        print("measurement unsound: " + "; ".join(unsound))
    if misses or unsound:
        print("verdict: FAIL: " + "; ".join(misses + unsound))
        return False
    print(
        f"verdict: PASS: {results[0].calls} monitored calls x {len(results)} runs, "
        f"worst loss {100 * max(max(r.max_loss, r.max_frame_loss) for r in results):.3f}%, "
        "every tone present, "
        f"added delay p95 at most {max(r.added_p95 for r in results):.1f} ms"
    )
    return True


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--calls", type=int, default=100, help="monitored calls (half whisper, half barge)"
    )
    parser.add_argument(
        "--plain", type=int, default=20, help="calls bridged directly, the delay baseline"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="media window of each run")
    parser.add_argument(
        "--mixers", type=int, default=1, help="mixer processes; calls go round-robin"
    )
    parser.add_argument("--generators", type=int, default=2, help="processes holding the parties")
    parser.add_argument("--jitter-frames", type=int, default=2, help="the mixer's jitter_frames")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value (and autogroup nice) for rtpengine, the mixers and the parties: a"
        " negative one shields the measurement from other work on a shared machine",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    parser.add_argument(
        "--profile-mixer",
        action="store_true",
        help="run the mixers under cProfile and print where their time went",
    )
    args = parser.parse_args(argv)
    if args.calls < 1 or args.plain < 1 or args.mixers < 1 or args.generators < 1:
        parser.error("--calls, --plain, --mixers and --generators must be at least 1")
    if args.seconds < 2:
        parser.error("--seconds must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print_facts(machine_facts())
    workdir = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    results = []
    try:
        for run in range(args.runs):
            print(
                f"run {run + 1}/{args.runs}: {args.calls} monitored calls (whisper/barge) on "
                f"{args.mixers} mixer(s), {args.plain} plain, {args.seconds:.0f} s"
            )
            result = run_once(args, workdir, run)
            report(result)
            if args.profile_mixer:
                print_profiles(sorted((workdir / f"run{run}").glob("mixer*.prof")))
            results.append(result)
    finally:
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if verdict(results) else 1


if __name__ == "__main__":
    sys.exit(main())
