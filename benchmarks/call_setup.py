"""Call setup rate through Kamailio (Python KEMI routing) and rtpengine.

Call shape: a trunk INVITE with SDP (rtpengine offer), answered at once by the one
registered agent (rtpengine answer), ACK, BYE at once (rtpengine delete); no RTP.
sipp is both the caller (bench_caller.xml at -r/-rp/-m) and the agent's phone
(bench_agent.xml, a UAS registered as agent 1001). Both follow Record-Route.

Target (foundation issue): at least 1,000 calls/s for 30 s with zero failed calls.
Reported per run: calls attempted/successful/failed (caller and agent sipp), sipp's
exit codes, achieved rate, CPU microseconds per call for all Kamailio processes and
for rtpengine, machine busy %, and rtpengine sessions left after the run.

--compare-native also starts a native-config Kamailio (benchmarks/native/) on the
same rtpengine and alternates runs (Python, native, native, Python, ...) for
--pairs pairs; it reports the median Python/native ratio of Kamailio CPU per call.

    .venv/bin/python -m benchmarks.call_setup                    # 1,000/s for 30 s
    .venv/bin/python -m benchmarks.call_setup --compare-native   # 3 pairs, ~4 min
    .venv/bin/python -m benchmarks.call_setup --quick            # smoke run, ~20 s
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    CALLER,
    NATIVE_NAME,
    SERVICE,
    CpuMeter,
    bench_stack,
    daemon_pid,
    machine_facts,
    print_facts,
    session_pids,
    sipp_stats,
    start_agent_uas,
    start_native_kamailio,
    stat_args,
    stop_run,
    udp_rcvbuf_errors,
)
from simulators import free_port, start_sipp
from testbed import Stack

TARGET_RATE = 1000
TARGET_RATIO = 1.2


@dataclass
class RunResult:
    engine: str
    rate: int
    duration_s: int
    attempted: int
    successful: int
    failed: int
    agent_successful: int
    agent_failed: int
    retransmissions: int
    caller_exit: int | None
    agent_exit: int | None
    wall_s: float
    achieved_cps: float
    kamailio_us_per_call: float
    rtpengine_us_per_call: float
    sipp_us_per_call: float
    machine_busy_pct: float
    others_busy_pct: float
    udp_rcvbuf_drops: int
    rtpengine_sessions_left: int

    @property
    def passed(self) -> bool:
        return (
            self.failed == 0
            and self.agent_failed == 0
            and self.caller_exit == 0
            and self.successful == self.attempted
            and self.rtpengine_sessions_left == 0
        )

    def line(self) -> str:
        return (
            f"{self.engine:7s} rate={self.rate}/s x {self.duration_s}s: "
            f"attempted={self.attempted} ok={self.successful} failed={self.failed} "
            f"(agent ok={self.agent_successful} failed={self.agent_failed}) "
            f"retrans={self.retransmissions} exit={self.caller_exit}/{self.agent_exit} "
            f"achieved={self.achieved_cps:.0f}/s | CPU/call: kamailio "
            f"{self.kamailio_us_per_call:.0f} us, rtpengine {self.rtpengine_us_per_call:.0f} us,"
            f" sipp {self.sipp_us_per_call:.0f} us | machine busy "
            f"{self.machine_busy_pct:.0f}% (other processes {self.others_busy_pct:.0f}%) | "
            f"UDP rcvbuf drops {self.udp_rcvbuf_drops} | rtpengine sessions left "
            f"{self.rtpengine_sessions_left} | {'PASS' if self.passed else 'FAIL'}"
        )


def sessions_left(stack: Stack, wait_s: float = 5.0) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        left = len(stack.rtpengine_calls())
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def run_once(
    stack: Stack,
    engine: str,
    target: str,
    kamailio_pid: int,
    *,
    workdir: Path,
    index: int,
    rate: int,
    duration_s: int,
    trace: bool = False,
) -> RunResult:
    calls = rate * duration_s
    trace_args = ("-trace_msg",) if trace else ()
    name = f"{index:02d}-{engine}"
    agent = start_agent_uas(
        target,
        stack,
        workdir,
        f"{name}-agent",
        calls=calls,
        timeout_s=duration_s * 3 + 60,
        extra=trace_args,
    )
    kamailio = session_pids(kamailio_pid)
    rtpengine = session_pids(daemon_pid(stack, "rtpengine0"))
    meter = CpuMeter({"kamailio": kamailio, "rtpengine": rtpengine, "sipp": [agent.process.pid]})
    drops_before = udp_rcvbuf_errors()
    meter.start()
    caller = start_sipp(
        f"{name}-caller",
        "bench_caller",
        target,
        workdir=workdir,
        port=free_port(),
        service=SERVICE,
        calls=calls,
        rate=rate,
        rate_period_ms=1000,
        limit=20_000,
        timeout_s=duration_s * 3 + 30,
        keys={"caller": CALLER, "rtp_port": 6000},
        extra=[
            *stat_args(workdir, f"{name}-caller"),
            "-recv_timeout",
            "8000",
            "-buff_size",
            "4194304",
            "-max_recv_loops",
            "10000",
            "-max_sched_loops",
            "10000",
            *trace_args,
        ],
    )
    meter.groups["sipp"].append(caller.process.pid)
    # sipp's own bound: -timeout; this wait is only a safety net above it.
    caller_exit = stop_run(caller, timeout=duration_s * 3 + 45)
    meter.stop()
    drops = udp_rcvbuf_errors() - drops_before
    agent_exit = stop_run(agent, timeout=10)
    c, a = sipp_stats(caller), sipp_stats(agent)
    left = sessions_left(stack)
    successful = max(c["successful"], 1)
    if c["successful"] == 0:
        print(f"  {name}: no successful call; see {caller.error_file}", flush=True)
    return RunResult(
        engine=engine,
        rate=rate,
        duration_s=duration_s,
        attempted=c["outgoing"],
        successful=c["successful"],
        failed=c["failed"],
        agent_successful=a["successful"],
        agent_failed=a["failed"],
        retransmissions=c["retransmissions"] + a["retransmissions"],
        caller_exit=caller_exit,
        agent_exit=agent_exit,
        wall_s=meter.wall,
        achieved_cps=c["outgoing"] / meter.wall if meter.wall else 0.0,
        kamailio_us_per_call=meter.used["kamailio"] * 1e6 / successful,
        rtpengine_us_per_call=meter.used["rtpengine"] * 1e6 / successful,
        sipp_us_per_call=meter.used["sipp"] * 1e6 / successful,
        machine_busy_pct=meter.machine_busy * 100,
        others_busy_pct=meter.others_busy * 100,
        udp_rcvbuf_drops=drops,
        rtpengine_sessions_left=left,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="calls per second")
    parser.add_argument("--duration", type=int, default=30, help="seconds per run")
    parser.add_argument("--workers", type=int, default=4, help="Kamailio children")
    parser.add_argument(
        "--compare-native",
        action="store_true",
        help="alternate with a native-config Kamailio and report the ratio",
    )
    parser.add_argument("--pairs", type=int, default=3, help="Python/native pairs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 s per run, 1 pair")
    parser.add_argument(
        "--trace-msg",
        action="store_true",
        help="sipp -trace_msg on both sides (debugging; costs CPU)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workdir", type=Path, help="keep sipp files and logs here")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 5)
        args.pairs = 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-call-setup-"))
    workdir.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    print_facts(facts)
    print(f"workdir: {workdir}")
    results: list[RunResult] = []
    # 4 ports a call; calls last milliseconds, but a slow second can pile some up.
    # 20000-29999: below the ephemeral range and above the service ports that
    # simulators.free_port hands out (10000-19999).
    with bench_stack(
        workdir / "stack", workers=args.workers, port_min=20000, port_max=29999
    ) as stack:
        py_pid = daemon_pid(stack, "kamailio")
        engines = {"python": (stack.sip, py_pid)}
        if args.compare_native:
            listen, native_pid = start_native_kamailio(stack)
            engines["native"] = (listen, native_pid)
            order = []
            for i in range(args.pairs):
                order += ["python", "native"] if i % 2 == 0 else ["native", "python"]
        else:
            order = ["python"]
        print(
            f"kamailio workers={args.workers}, shm 1024 MB tlsf; rtpengine userspace; "
            f"runs: {', '.join(order)}"
        )
        for index, engine in enumerate(order):
            target, pid = engines[engine]
            result = run_once(
                stack,
                engine,
                target,
                pid,
                workdir=workdir,
                index=index,
                rate=args.rate,
                duration_s=args.duration,
                trace=args.trace_msg,
            )
            results.append(result)
            print(result.line(), flush=True)
        if args.compare_native:
            tail = stack.layout.log_file(NATIVE_NAME).read_text(errors="replace").count(" ERROR: ")
            print(f"native kamailio log ERROR lines: {tail}")
        py_errors = stack.kamailio_log().count(" ERROR: ")
        print(f"python kamailio log ERROR lines: {py_errors}")

    ok = all(r.passed for r in results)
    py = [r for r in results if r.engine == "python"]
    print(
        f"\ncall setup at {args.rate}/s for {args.duration}s (python): "
        f"{'PASS' if all(r.passed for r in py) else 'FAIL'}; Kamailio CPU/call median "
        f"{statistics.median(r.kamailio_us_per_call for r in py):.0f} us, rtpengine "
        f"{statistics.median(r.rtpengine_us_per_call for r in py):.0f} us"
    )
    summary: dict[str, object] = {"facts": facts, "runs": [asdict(r) for r in results]}
    if args.compare_native:
        ratios, clean = [], []
        pairs = [results[i : i + 2] for i in range(0, len(results), 2)]
        for pair in pairs:
            p = next(r for r in pair if r.engine == "python")
            n = next(r for r in pair if r.engine == "native")
            if n.kamailio_us_per_call > 0 and p.successful and n.successful:
                ratios.append(p.kamailio_us_per_call / n.kamailio_us_per_call)
                # A run that overloaded (retransmissions, failures) spends CPU on the
                # retransmissions: its CPU per call says little about routing cost.
                if p.passed and n.passed and p.retransmissions == n.retransmissions == 0:
                    clean.append(ratios[-1])
        if not ratios:
            print("no pair completed: no ratio")
            return 1
        print(
            f"pairs where both runs passed without retransmissions: {len(clean)} of {len(ratios)}"
        )
        median = statistics.median(clean or ratios)
        verdict = "PASS" if median <= TARGET_RATIO else "OVER TARGET"
        print(
            f"python/native Kamailio CPU per call: pairs {', '.join(f'{r:.2f}' for r in ratios)}"
            f"; median{' of clean pairs' if clean else ''} {median:.2f}x "
            f"(target <= {TARGET_RATIO}x): {verdict}"
        )
        summary["ratios"] = ratios
        summary["clean_ratios"] = clean
        summary["median_ratio"] = median
        ok = ok and median <= TARGET_RATIO
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
