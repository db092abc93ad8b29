"""Concurrent calls carrying G.711 RTP both ways through userspace rtpengine.

Each step sets up N trunk calls through Kamailio (Python KEMI) to the one
registered agent (sipp: bench_media_caller.xml / bench_media_agent.xml), each side
offering its own RTP port. Then two generator processes (one per party side) send
PCMU (12-byte header + 160 bytes, every 20 ms) on every call, both ways, through
the ports rtpengine put in the SDP, for --window seconds, and count what arrives
at each party (and that it carries the peer's SSRC). Loss = 1 - received/sent, per
direction, after a short drain. CPU (rtpengine, Kamailio, generators, whole
machine) is measured over the media window.

Steps go up (default 50, 100, 200, 300, 400, 600, 800, 1000) until a step loses
packets, the generators cannot keep the 20 ms pace, or the time budget is spent.
A measurement, not a gate: the output is the highest step with zero loss.

    .venv/bin/python -m benchmarks.media_concurrency            # ~3-4 min
    .venv/bin/python -m benchmarks.media_concurrency --quick    # 2 small steps, ~40 s
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    CALLER,
    SERVICE,
    CpuMeter,
    bench_stack,
    daemon_pid,
    machine_facts,
    print_facts,
    session_pids,
    sipp_stats,
    start_agent_uas,
    stop_run,
    udp_rcvbuf_errors,
)
from benchmarks._rtp_load import (
    DRAIN_S,
    GeneratorPair,
    assign_streams,
    calls_logged,
    tally,
    write_inf,
)
from simulators import free_port, start_sipp
from testbed import Stack

SETUP_RATE = 200  # calls/s while setting up a step


@dataclass
class StepResult:
    calls: int
    calls_up: int
    window_s: float
    sent: int
    received: int
    lost: int
    loss_pct: float
    foreign_packets: int
    calls_with_loss: int
    generator_late_ticks: int
    pace_pct: float
    rtpengine_cpu_pct: float
    kamailio_cpu_pct: float
    generators_cpu_pct: float
    machine_busy_pct: float
    others_busy_pct: float
    rtpengine_us_per_packet: float
    udp_rcvbuf_drops: int
    caller_failed: int
    caller_exit: int | None
    rtpengine_sessions_left: int

    def line(self) -> str:
        return (
            f"{self.calls:5d} calls ({self.calls_up} up): {self.sent} pkts sent, "
            f"{self.lost} lost ({self.loss_pct:.3f}%, {self.calls_with_loss} calls), "
            f"foreign {self.foreign_packets}, pace {self.pace_pct:.1f}% | CPU of 2 cores: "
            f"rtpengine {self.rtpengine_cpu_pct:.0f}% ({self.rtpengine_us_per_packet:.1f} us/pkt)"
            f", kamailio {self.kamailio_cpu_pct:.0f}%, generators "
            f"{self.generators_cpu_pct:.0f}%, machine {self.machine_busy_pct:.0f}% "
            f"(others {self.others_busy_pct:.0f}%) | rcvbuf drops {self.udp_rcvbuf_drops} | "
            f"sipp failed {self.caller_failed} exit {self.caller_exit} | "
            f"sessions left {self.rtpengine_sessions_left}"
        )


def run_step(stack: Stack, n: int, *, workdir: Path, window_s: float) -> StepResult:
    generators = GeneratorPair(n)
    caller_ports, agent_ports = generators.caller_ports, generators.agent_ports
    write_inf(workdir / f"{n}-caller.csv.inf", caller_ports)
    write_inf(workdir / f"{n}-agent.csv.inf", agent_ports)

    ramp_s = n / SETUP_RATE
    hold_ms = int((ramp_s + 3 + window_s + DRAIN_S + 2) * 1000)
    timeout_s = int(hold_ms / 1000 + 2 * ramp_s + 40)
    agent = start_agent_uas(
        stack.sip,
        stack,
        workdir,
        f"{n}-agent",
        calls=n,
        scenario="bench_media_agent",
        timeout_s=timeout_s,
        extra=("-inf", str(workdir / f"{n}-agent.csv.inf")),
    )
    caller = start_sipp(
        f"{n}-caller",
        "bench_media_caller",
        stack.sip,
        workdir=workdir,
        port=free_port(),
        service=SERVICE,
        calls=n,
        rate=SETUP_RATE,
        rate_period_ms=1000,
        limit=n,
        pause_ms=hold_ms,
        timeout_s=timeout_s,
        keys={"caller": CALLER},
        extra=[
            "-inf",
            str(workdir / f"{n}-caller.csv.inf"),
            "-buff_size",
            "4194304",
            "-trace_stat",
            "-stf",
            str(workdir / f"{n}-caller.csv"),
            "-fd",
            "1",
        ],
    )
    try:
        deadline = time.monotonic() + ramp_s + 3
        while time.monotonic() < deadline:
            if len(calls_logged(caller)) >= n and len(calls_logged(agent)) >= n:
                break
            time.sleep(0.1)
        by_caller, by_agent = calls_logged(caller), calls_logged(agent)
        # Pair the two legs of each call by Call-ID (a stateful proxy keeps it).
        paired = [cid for cid in by_caller if cid in by_agent]
        caller_streams, agent_streams, pairs = assign_streams(
            [(*by_caller[cid], *by_agent[cid]) for cid in paired]
        )
        start_at = time.time() + 0.5
        generators.send_plans(caller_streams, agent_streams, start_at=start_at, window_s=window_s)
        meter = CpuMeter(
            {
                "rtpengine": session_pids(daemon_pid(stack, "rtpengine0")),
                "kamailio": session_pids(daemon_pid(stack, "kamailio")),
                "generators": generators.pids,
            }
        )
        drops = udp_rcvbuf_errors()
        time.sleep(max(0.0, start_at - time.time()))
        meter.start()
        reports = generators.collect()  # blocks until the window and drain end
        meter.stop()
        drops = udp_rcvbuf_errors() - drops
    finally:
        generators.close()
    caller_exit = stop_run(caller, timeout=timeout_s)
    stop_run(agent, timeout=10)
    stats = sipp_stats(caller)
    left = _sessions_left(stack)

    counted = tally(pairs, generators, *reports)
    sent, received = counted.sent, counted.received
    wall = meter.wall or 1.0
    cores = mp.cpu_count()
    rtp_cpu = meter.used["rtpengine"]
    return StepResult(
        calls=n,
        calls_up=len(paired),
        window_s=window_s,
        sent=sent,
        received=received,
        lost=counted.lost,
        loss_pct=counted.loss_pct,
        foreign_packets=counted.foreign,
        calls_with_loss=counted.calls_with_loss,
        generator_late_ticks=counted.late_ticks,
        pace_pct=counted.pace_pct,
        rtpengine_cpu_pct=100 * rtp_cpu / wall / cores,
        kamailio_cpu_pct=100 * meter.used["kamailio"] / wall / cores,
        generators_cpu_pct=100 * meter.used["generators"] / wall / cores,
        machine_busy_pct=100 * meter.machine_busy,
        others_busy_pct=100 * meter.others_busy,
        rtpengine_us_per_packet=rtp_cpu * 1e6 / received if received else 0.0,
        udp_rcvbuf_drops=drops,
        caller_failed=stats["failed"],
        caller_exit=caller_exit,
        rtpengine_sessions_left=left,
    )


def _sessions_left(stack: Stack, wait_s: float = 5.0) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        left = len(stack.rtpengine_calls())
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps",
        default="50,100,200,300,400,600,800,1000",
        help="concurrent call counts, ascending",
    )
    parser.add_argument("--window", type=float, default=10.0, help="media seconds per step")
    parser.add_argument(
        "--budget", type=float, default=270.0, help="stop starting steps after this many seconds"
    )
    parser.add_argument("--quick", action="store_true", help="steps 20,50 with 4 s windows")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workdir", type=Path, help="keep sipp files and logs here")
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    if args.quick:
        steps, args.window = [20, 50], 4.0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-media-"))
    workdir.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    print_facts(facts)
    print(f"workdir: {workdir}")
    started = time.monotonic()
    results: list[StepResult] = []
    # 4 ports a call in rtpengine: 10,000 ports hold 2,500 calls.
    with bench_stack(
        workdir / "stack", workers=4, port_min=20000, port_max=29999, rtp_timeout_s=60
    ) as stack:
        print(f"G.711 PCMU 20 ms both ways; window {args.window:.0f} s per step; steps {steps}")
        for n in steps:
            elapsed = time.monotonic() - started
            estimate = 2 * n / SETUP_RATE + args.window + 10
            if elapsed + estimate > args.budget:
                print(f"time budget ({args.budget:.0f} s) reached before {n} calls")
                break
            result = run_step(stack, n, workdir=workdir, window_s=args.window)
            results.append(result)
            print(result.line(), flush=True)
            if result.lost > 0 or result.calls_up < n:
                print(f"stopping: loss or failed set-up at {n} calls")
                break
            if result.pace_pct < 95:
                print(f"stopping: the generators could not keep the 20 ms pace at {n} calls")
                break
            ours = result.rtpengine_cpu_pct + result.kamailio_cpu_pct + result.generators_cpu_pct
            if ours > 90 or (result.machine_busy_pct > 98 and result.others_busy_pct < 50):
                print(f"stopping: machine saturated at {n} calls")
                break
    clean = [r for r in results if r.lost == 0 and r.calls_up == r.calls and r.pace_pct >= 95]
    best = max((r.calls for r in clean), default=0)
    print(
        f"\nhighest step with zero loss: {best} concurrent calls "
        f"({best * 2 * 50} packets/s through rtpengine)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"facts": facts, "steps": [asdict(r) for r in results], "zero_loss_calls": best},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
