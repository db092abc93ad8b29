"""Answered-and-bridged call rate through one call-controller process.

Call shape (sipp/bench_ctl_caller.xml, sipp/bench_ctl_agent.xml): a caller INVITE
with SDP straight to the controller, which writes `call.arrived` to the event log;
the ACD stand-in (benchmarks/_controller.py: a consumer group on the log, `connect`
over the control socket) connects it to agent 1001; the controller answers the
caller (rtpengine offer/answer to park), rings the agent (offer), bridges on its 200
(answer) and re-INVITEs the caller; the caller hangs up 1 s later and the
controller BYEs the agent and deletes the rtpengine call. No RTP flows.

Each step runs one rate for --duration seconds. CPU per call is the utime+stime
delta (/proc) of the controller process (all its threads), of rtpengine, of the
driver and of Redis over the step, divided by the calls that succeeded. A step
passes with zero failed calls at caller and agent, every `connect` accepted, no
call or rtpengine session left afterwards, and only if the controller kept pace:
calls reached it (its `call.arrived` times) at >= 97% of the offered rate, and the
p99 from `call.arrived` to the `connect` reply stayed under 1 s. (A backlog that
grows all through a step can still end without a failed call; it is not a rate
the controller sustains.) Steps go up until one fails.

Target (issue 3): at least 150 calls/s per controller process for 30 s, zero failures.

    .venv/bin/python -m benchmarks.controller_bridge                 # 50..250/s x 30 s, ~4 min
    .venv/bin/python -m benchmarks.controller_bridge --quick         # 20, 40/s x 5 s
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
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
from benchmarks._rtp_load import write_inf

TARGET_RATE = 150
HOLD_MS = 1000
PACE = 0.97  # arrival rate at the controller / offered rate
MAX_CONNECT_P99_MS = 1000.0


@dataclass
class StepResult:
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
    connects_ok: int
    connects_failed: int
    connect_errors: list[str]
    arrival_rate: float  # calls/s reaching the controller, first to last call.arrived
    arrival_to_connected_p50_ms: float
    arrival_to_connected_p99_ms: float
    controller_us_per_call: float
    controller_core_pct: float  # of one core, over the step
    rtpengine_us_per_call: float
    driver_us_per_call: float
    driver_core_pct: float
    redis_us_per_call: float
    machine_busy_pct: float
    others_busy_pct: float
    udp_rcvbuf_drops: int
    calls_left: int
    sessions_left: int

    @property
    def kept_pace(self) -> bool:
        return (
            self.arrival_rate >= PACE * self.rate
            and self.arrival_to_connected_p99_ms < MAX_CONNECT_P99_MS
        )

    def problems(self) -> list[str]:
        """Why the step failed (empty: passed)."""
        checks = [
            (
                self.failed == 0 and self.successful == self.attempted and self.caller_exit == 0,
                f"caller: {self.failed} failed of {self.attempted}, exit {self.caller_exit}",
            ),
            (self.agent_failed == 0, f"agent: {self.agent_failed} failed"),
            (self.connects_failed == 0, f"{self.connects_failed} connects refused"),
            (self.calls_left == 0 and self.sessions_left == 0, "calls or sessions left"),
            (self.kept_pace, "the controller did not keep pace"),
        ]
        return [problem for ok, problem in checks if not ok]

    @property
    def passed(self) -> bool:
        return not self.problems()

    def line(self) -> str:
        return (
            f"{self.rate:4d}/s x {self.duration_s}s: attempted={self.attempted} "
            f"ok={self.successful} failed={self.failed} (agent ok={self.agent_successful} "
            f"failed={self.agent_failed}) retrans={self.retransmissions} "
            f"exit={self.caller_exit}/{self.agent_exit} | arrivals "
            f"{self.arrival_rate:.0f}/s{'' if self.kept_pace else ' (did not keep pace)'}, "
            f"connect ok={self.connects_ok} failed={self.connects_failed}, arrival->connected "
            f"p50 {self.arrival_to_connected_p50_ms:.1f} ms p99 "
            f"{self.arrival_to_connected_p99_ms:.1f} ms | CPU/call: controller "
            f"{self.controller_us_per_call:.0f} us ({self.controller_core_pct:.0f}% of a core), "
            f"rtpengine {self.rtpengine_us_per_call:.0f} us, driver "
            f"{self.driver_us_per_call:.0f} us ({self.driver_core_pct:.0f}% of a core), redis "
            f"{self.redis_us_per_call:.0f} us | machine busy {self.machine_busy_pct:.0f}% "
            f"(others {self.others_busy_pct:.0f}%) | rcvbuf drops {self.udp_rcvbuf_drops} | "
            f"left: calls {self.calls_left}, rtpengine sessions {self.sessions_left} | "
            f"{'PASS' if self.passed else 'FAIL'}"
        )


def run_step(
    rig: Rig, rate: int, duration_s: int, *, workdir: Path, connections: int
) -> StepResult:
    calls = rate * duration_s
    name = f"{rate:04d}"
    # No RTP flows: every call offers the same (unused) port.
    inf = workdir / f"{name}.inf"
    write_inf(inf, [6000])
    timeout_s = duration_s * 3 + 60
    agent = start_agent(rig, workdir, f"{name}-agent", calls=calls, inf=inf, timeout_s=timeout_s)
    driver = ConnectDriver(rig, connections=connections)
    meter = CpuMeter(
        {
            "controller": [rig.controller_pid],
            "rtpengine": rig.rtpengine_pids(),
            "driver": [driver.pid],
            "redis": rig.redis_pids(),
            "sipp": [agent.process.pid],
        }
    )
    drops = udp_rcvbuf_errors()
    meter.start()
    caller = start_caller(
        rig,
        workdir,
        f"{name}-caller",
        calls=calls,
        rate=rate,
        hold_ms=HOLD_MS,
        inf=inf,
        timeout_s=timeout_s,
        limit=max(100, rate * 10),
    )
    meter.groups["sipp"].append(caller.process.pid)
    # sipp's own bounds (-timeout, -recv_timeout) end it; this wait is a safety net.
    caller_exit = stop_run(caller, timeout=timeout_s + 15)
    meter.stop()
    drops = udp_rcvbuf_errors() - drops
    agent_exit = stop_run(agent, timeout=15)
    connects = driver.stop()
    status = controller_idle(rig)
    c, a = sipp_stats(caller), sipp_stats(agent)
    ok = max(c["successful"], 1)
    cores_pct = 100 / (meter.wall or 1.0)
    return StepResult(
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
        connects_ok=int(connects.get("ok", 0)),
        connects_failed=int(connects.get("failed", 0)),
        connect_errors=list(connects.get("errors", [])),
        arrival_to_connected_p50_ms=float(connects.get("p50_ms", 0.0)),
        arrival_to_connected_p99_ms=float(connects.get("p99_ms", 0.0)),
        arrival_rate=float(connects.get("arrival_rate", 0.0)),
        controller_us_per_call=meter.used["controller"] * 1e6 / ok,
        controller_core_pct=meter.used["controller"] * cores_pct,
        rtpengine_us_per_call=meter.used["rtpengine"] * 1e6 / ok,
        driver_us_per_call=meter.used["driver"] * 1e6 / ok,
        driver_core_pct=meter.used["driver"] * cores_pct,
        redis_us_per_call=meter.used["redis"] * 1e6 / ok,
        machine_busy_pct=100 * meter.machine_busy,
        others_busy_pct=100 * meter.others_busy,
        udp_rcvbuf_drops=drops,
        calls_left=status["calls"],
        sessions_left=status["media_sessions"],
    )


def diagnose(result: StepResult) -> str:
    """A first guess at what limited a failed step, from the CPU figures."""
    if result.others_busy_pct >= 25 and result.machine_busy_pct >= 85:
        return (
            f"other processes held {result.others_busy_pct:.0f}% of the machine; "
            "rerun on a quiet machine"
        )
    if result.controller_core_pct >= 70 and not result.kept_pace:
        # Its loop also waits on each blocking ng request (rtpengine runs on the other
        # core), so it stops keeping pace before it uses a whole core.
        return (
            "the controller's SIP loop fell behind (its CPU plus its blocking ng "
            "requests fill the loop)"
        )
    if result.controller_core_pct >= 85:
        return "the controller process is near one full core (its SIP loop is one thread)"
    if result.driver_core_pct >= 85:
        return "the connect driver (the ACD stand-in) is near one full core"
    if result.machine_busy_pct >= 95:
        return "the machine is saturated (all processes together)"
    return "no process at a core's limit; see the sipp error files in the work directory"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        default="50,100,150,200,250",
        help="calls per second, ascending; stops at the first failed step",
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds per step")
    parser.add_argument("--quick", action="store_true", help="rates 20,40 for 5 s each")
    parser.add_argument(
        "--connections",
        type=int,
        default=1,
        help="control-socket connections the connect driver deals calls over",
    )
    parser.add_argument(
        "--controller-args",
        default="",
        help="extra controller options, e.g. '--rtp-timeout 0' to compare "
        "without the dead-leg check",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workdir", type=Path, help="keep sipp files and logs here")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    if args.quick:
        rates, args.duration = [20, 40], 5
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ctl-bridge-"))
    workdir.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    print_facts(facts)
    print(f"load average at start: {os.getloadavg()[0]:.2f}; workdir: {workdir}")
    results: list[StepResult] = []
    with controller_rig(workdir, controller_args=args.controller_args.split()) as rig:
        options = args.controller_args or "default options"
        print(
            f"controller pid {rig.controller_pid} [{options}]; calls hold {HOLD_MS} ms "
            f"after bridge; connect driver on {args.connections} connection(s); rates "
            f"{rates} x {args.duration} s"
        )
        for rate in rates:
            result = run_step(
                rig, rate, args.duration, workdir=workdir, connections=args.connections
            )
            results.append(result)
            print(result.line(), flush=True)
            if not result.passed:
                print(
                    f"stopping at {rate}/s: {'; '.join(result.problems())}. Likely limit: "
                    f"{diagnose(result)}; connect errors: {result.connect_errors or 'none'}"
                )
                break
        log_errors = [
            line
            for line in rig.controller.log_text().splitlines()
            if " ERROR " in line or "Traceback" in line
        ]
    best = max((r.rate for r in results if r.passed), default=0)
    print(
        f"controller log ERROR/Traceback lines: {len(log_errors)}"
        + (f" (first: {log_errors[0]})" if log_errors else "")
    )
    print(
        f"\nhighest zero-failure rate: {best} calls/s for {args.duration} s "
        f"(target {TARGET_RATE}/s: {'met' if best >= TARGET_RATE else 'not met'})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"facts": facts, "steps": [asdict(r) for r in results], "best_rate": best}, indent=2
            )
        )
    return 0 if best >= min(rates) else 1


if __name__ == "__main__":
    sys.exit(main())
