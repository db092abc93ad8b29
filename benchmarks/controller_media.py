"""Concurrent bridged calls through the call controller, G.711 RTP both ways.

Each step sets up N calls as benchmarks/controller_bridge.py does (caller sipp ->
controller -> agent sipp; the ACD stand-in connects each `call.arrived`), each
party offering its own RTP port. Then the generators of benchmarks/_rtp_load.py
send PCMU every 20 ms on every call, both ways, for --window seconds: the caller
to the address of the controller's bridge re-INVITE, the agent to the address in
the controller's INVITE. Each party counts what arrives carrying its peer's SSRC;
the two legs of a call are paired by the correlation ID both of them log. CPU of
the controller (idle on SIP then, but running the dead-leg check on every call)
and of rtpengine is measured over the media window.

Steps go up (default 100, 200, 300, 400, 500, 600) until a step loses packets,
a call fails to come up, the generators cannot keep the 20 ms pace, or the time
budget is spent. Target (issue 3): at least 300 concurrent bridged calls, no loss.

    .venv/bin/python -m benchmarks.controller_media            # ~3 min
    .venv/bin/python -m benchmarks.controller_media --quick    # 20, 50 calls, 4 s windows
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._controller import (
    ConnectDriver,
    Rig,
    controller_idle,
    controller_rig,
    start_agent,
    start_caller,
)
from benchmarks._harness import (
    CpuMeter,
    machine_facts,
    print_facts,
    sipp_stats,
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

TARGET_CALLS = 300
SETUP_RATE = 100  # calls/s while setting up a step (below the controller's ceiling)


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
    pace_pct: float
    rtpengine_cpu_pct: float  # of all cores, over the media window
    rtpengine_us_per_packet: float
    controller_core_pct: float  # of one core, over the media window
    generators_cpu_pct: float
    machine_busy_pct: float
    others_busy_pct: float
    udp_rcvbuf_drops: int
    caller_failed: int
    agent_failed: int
    caller_exit: int | None
    connects_failed: int
    calls_left: int
    sessions_left: int

    def problems(self) -> list[str]:
        """Why the step is not clean (empty: clean)."""
        checks = [
            (self.lost == 0, f"{self.lost} packets lost"),
            (self.calls_up == self.calls, f"{self.calls - self.calls_up} calls not bridged"),
            (self.pace_pct >= 95, f"generators kept only {self.pace_pct:.1f}% of the pace"),
            (self.caller_failed == 0 and self.agent_failed == 0, "sipp calls failed"),
            (self.connects_failed == 0, f"{self.connects_failed} connects refused"),
            (self.calls_left == 0 and self.sessions_left == 0, "calls or sessions left"),
        ]
        return [problem for ok, problem in checks if not ok]

    @property
    def clean(self) -> bool:
        return not self.problems()

    def line(self) -> str:
        cores = os.cpu_count()
        return (
            f"{self.calls:5d} calls ({self.calls_up} bridged): {self.sent} pkts sent, "
            f"{self.lost} lost ({self.loss_pct:.3f}%, {self.calls_with_loss} calls), "
            f"foreign {self.foreign_packets}, pace {self.pace_pct:.1f}% | CPU: rtpengine "
            f"{self.rtpengine_cpu_pct:.0f}% of {cores} cores "
            f"({self.rtpengine_us_per_packet:.1f} us/pkt), controller "
            f"{self.controller_core_pct:.1f}% of a core, generators "
            f"{self.generators_cpu_pct:.0f}%, machine {self.machine_busy_pct:.0f}% "
            f"(others {self.others_busy_pct:.0f}%) | rcvbuf drops {self.udp_rcvbuf_drops} | "
            f"sipp failed {self.caller_failed}/{self.agent_failed} exit {self.caller_exit}, "
            f"connect failed {self.connects_failed} | left: calls {self.calls_left}, "
            f"sessions {self.sessions_left} | {'PASS' if self.clean else 'FAIL'}"
        )


def run_step(rig: Rig, n: int, *, workdir: Path, window_s: float) -> StepResult:
    generators = GeneratorPair(n)
    caller_inf, agent_inf = workdir / f"{n}-caller.inf", workdir / f"{n}-agent.inf"
    write_inf(caller_inf, generators.caller_ports)
    write_inf(agent_inf, generators.agent_ports)
    ramp_s = n / SETUP_RATE
    # Held past the media window and its drain; the caller hangs up after that.
    hold_ms = int((ramp_s + 3 + window_s + DRAIN_S + 2) * 1000)
    timeout_s = int(hold_ms / 1000 + 2 * ramp_s + 40)
    agent = start_agent(rig, workdir, f"{n}-agent", calls=n, inf=agent_inf, timeout_s=timeout_s)
    driver = ConnectDriver(rig)
    caller = start_caller(
        rig,
        workdir,
        f"{n}-caller",
        calls=n,
        rate=SETUP_RATE,
        hold_ms=hold_ms,
        inf=caller_inf,
        timeout_s=timeout_s,
        limit=n,
    )
    try:
        deadline = time.monotonic() + ramp_s + 3
        while time.monotonic() < deadline:
            if len(calls_logged(caller)) >= n and len(calls_logged(agent)) >= n:
                break
            time.sleep(0.1)
        by_caller, by_agent = calls_logged(caller), calls_logged(agent)
        # The controller's two legs have different Call-IDs; both parties log the
        # correlation ID (the caller sent it, the agent's INVITE carries it).
        paired = [cid for cid in by_caller if cid in by_agent]
        caller_streams, agent_streams, pairs = assign_streams(
            [(*by_caller[cid], *by_agent[cid]) for cid in paired]
        )
        start_at = time.time() + 0.5
        generators.send_plans(caller_streams, agent_streams, start_at=start_at, window_s=window_s)
        meter = CpuMeter(
            {
                "rtpengine": rig.rtpengine_pids(),
                "controller": [rig.controller_pid],
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
    stop_run(agent, timeout=15)
    connects = driver.stop()
    status = controller_idle(rig)
    c, a = sipp_stats(caller), sipp_stats(agent)
    counted = tally(pairs, generators, *reports)
    wall = meter.wall or 1.0
    cores = mp.cpu_count()
    rtp_cpu = meter.used["rtpengine"]
    return StepResult(
        calls=n,
        calls_up=len(paired),
        window_s=window_s,
        sent=counted.sent,
        received=counted.received,
        lost=counted.lost,
        loss_pct=counted.loss_pct,
        foreign_packets=counted.foreign,
        calls_with_loss=counted.calls_with_loss,
        pace_pct=counted.pace_pct,
        rtpengine_cpu_pct=100 * rtp_cpu / wall / cores,
        rtpengine_us_per_packet=rtp_cpu * 1e6 / counted.received if counted.received else 0.0,
        controller_core_pct=100 * meter.used["controller"] / wall,
        generators_cpu_pct=100 * meter.used["generators"] / wall / cores,
        machine_busy_pct=100 * meter.machine_busy,
        others_busy_pct=100 * meter.others_busy,
        udp_rcvbuf_drops=drops,
        caller_failed=c["failed"],
        agent_failed=a["failed"],
        caller_exit=caller_exit,
        connects_failed=int(connects.get("failed", 0)),
        calls_left=status["calls"],
        sessions_left=status["media_sessions"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", default="100,200,300,400,500,600", help="concurrent call counts, ascending"
    )
    parser.add_argument("--window", type=float, default=10.0, help="media seconds per step")
    parser.add_argument(
        "--budget", type=float, default=300.0, help="stop starting steps after this many seconds"
    )
    parser.add_argument("--quick", action="store_true", help="steps 20,50 with 4 s windows")
    parser.add_argument(
        "--controller-args",
        default="",
        help="extra controller options, e.g. '--media-check-interval 1'",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workdir", type=Path, help="keep sipp files and logs here")
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    if args.quick:
        steps, args.window = [20, 50], 4.0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ctl-media-"))
    workdir.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    print_facts(facts)
    print(f"load average at start: {os.getloadavg()[0]:.2f}; workdir: {workdir}")
    started = time.monotonic()
    results: list[StepResult] = []
    with controller_rig(workdir, controller_args=args.controller_args.split()) as rig:
        print(
            f"G.711 PCMU 20 ms both ways through controller pid {rig.controller_pid} "
            f"[{args.controller_args or 'default options'}] and rtpengine; set-up "
            f"{SETUP_RATE} calls/s; window {args.window:.0f} s per step; steps {steps}"
        )
        for n in steps:
            estimate = 2 * n / SETUP_RATE + args.window + 15
            if time.monotonic() - started + estimate > args.budget:
                print(f"time budget ({args.budget:.0f} s) reached before {n} calls")
                break
            result = run_step(rig, n, workdir=workdir, window_s=args.window)
            results.append(result)
            print(result.line(), flush=True)
            if not result.clean:
                print(f"stopping at {n} calls: {'; '.join(result.problems())}")
                break
            ours = (
                result.rtpengine_cpu_pct
                + result.generators_cpu_pct
                + result.controller_core_pct / mp.cpu_count()
            )
            if ours > 90:
                print(f"stopping: machine saturated at {n} calls")
                break
    best = max((r.calls for r in results if r.clean), default=0)
    print(
        f"\nhighest step with zero loss: {best} concurrent bridged calls "
        f"({best * 2 * 50} packets/s through rtpengine; target {TARGET_CALLS}: "
        f"{'met' if best >= TARGET_CALLS else 'not met'})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"facts": facts, "steps": [asdict(r) for r in results], "zero_loss_calls": best},
                indent=2,
            )
        )
    return 0 if best >= min(steps) else 1


if __name__ == "__main__":
    sys.exit(main())
