"""Shared pieces of the foundation benchmarks: a stack on free loopback ports, CPU
accounting from /proc, sipp runs with their final statistics, machine facts.

Everything is bounded: each sipp run has a timeout, each wait has a deadline, and
the stack is stopped (callcenter.down) on the way out whatever happens.
"""

from __future__ import annotations

import copy
import csv
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `python benchmarks/x.py` works as well as `-m`
    sys.path.insert(0, str(ROOT))

from callcenter import (  # noqa: E402
    ProcessSpec,
    is_alive,
    kamailio_module_path,
    log_tail,
    read_pid,
    require_binary,
    sip_options_ping,
    start_process,
)
from simulators import (  # noqa: E402
    SippRun,
    free_port,
    register,
    start_sipp,
)
from testbed import Stack, base_config, running_stack  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
NATIVE_TEMPLATE = Path(__file__).resolve().parent / "native" / "kamailio-native.cfg.tmpl"
AGENT = "1001"
SERVICE = "+8695598"  # normalised to 95598, the number whose first agent is AGENT
CALLER = "+8613912345678"  # normalised to 13912345678, so From is rewritten (uac)


# -- CPU accounting -------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def session_pids(sid: int) -> list[int]:
    """Every process in session `sid` (callcenter starts each daemon with setsid)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        # fields[0] is state, [1] ppid, [2] pgrp, [3] session
        if fields is not None and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime of these processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return ticks / CLK_TCK


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user..steal; guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuMeter:
    """CPU used by named groups of processes between start() and stop()."""

    groups: Mapping[str, list[int]]
    _start: dict[str, float] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _t0: float = 0.0
    used: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    machine_busy: float = 0.0  # fraction of all cores
    others_busy: float = 0.0  # the part not used by the groups measured (other load)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._machine = machine_busy_seconds()
        self._start = {name: cpu_seconds(pids) for name, pids in self.groups.items()}

    def stop(self) -> None:
        self.used = {
            name: cpu_seconds(pids) - self._start[name] for name, pids in self.groups.items()
        }
        self.wall = time.monotonic() - self._t0
        busy, total = machine_busy_seconds()
        span = total - self._machine[1]
        self.machine_busy = (busy - self._machine[0]) / span if span > 0 else 0.0
        ours = sum(self.used.values()) / (self.wall * (os.cpu_count() or 1))
        self.others_busy = max(0.0, self.machine_busy - ours)


def udp_rcvbuf_errors() -> int:
    """Datagrams the kernel dropped for a full receive buffer, machine-wide."""
    lines = [
        line.split()
        for line in Path("/proc/net/snmp").read_text().splitlines()
        if line.startswith("Udp:")
    ]
    return int(lines[1][lines[0].index("RcvbufErrors")])


# -- the stack ------------------------------------------------------------------------
def bench_config(
    workdir: Path, *, workers: int, port_min: int, port_max: int, rtp_timeout_s: int = 30
) -> tuple[dict[str, Any], dict[str, str]]:
    config, passwords = base_config(workdir, agents=("1001", "1002", "1003"))
    sip = copy.deepcopy(config["sip"])
    sip.update(workers=workers, shm_mb=1024, rtpengine_timeout_ms=500)
    config["sip"] = sip
    config["rtpengine"]["nodes"][0].update(port_min=port_min, port_max=port_max)
    config["rtpengine"]["rtp_timeout_s"] = rtp_timeout_s
    # Calls are answered at once; short timers keep a stuck call from lingering.
    config["timers"] = {
        "ring_timeout_ms": 5000,
        "transaction_timeout_ms": 2000,
        "invite_timeout_ms": 10000,
    }
    return config, passwords


@contextmanager
def bench_stack(workdir: Path, **kwargs: Any) -> Iterator[Stack]:
    config, passwords = bench_config(workdir, **kwargs)
    with running_stack(workdir, config, passwords) as stack:
        yield stack


def daemon_pid(stack: Stack, name: str) -> int:
    pid = read_pid(stack.layout, name)
    if pid is None:
        raise RuntimeError(f"no PID recorded for {name}")
    return pid


# -- the native-config Kamailio ----------------------------------------------------------
def _render(template: str, values: Mapping[str, object]) -> str:
    def sub(match: re.Match[str]) -> str:
        return str(values[match.group(1)])

    return re.sub(r"\{\{(\w+)\}\}", sub, template)


def render_native_cfg(stack: Stack, listen: str) -> str:
    c = stack.config
    trunk_check = "\n".join(
        f'\tif ($var(trunk) == "" && src_ip == {source}) {{ $var(trunk) = "{trunk.name}"; }}'
        for trunk in c.trunks
        for source in trunk.sources
    )
    cases = []
    for route in c.numbers:
        cases.append(
            f'\tif ($var(dialled) == "{route.number}") {{ $var(category) = "{route.category}";'
            f' $var(agents) = "{",".join(route.agents)}"; }}'
        )
    ha1 = "\n".join(
        f'\tif ($tU == "{a.username}") {{ $var(ha1) = "{a.ha1}"; }}' for a in c.accounts
    )
    socks = " ".join(f"udp:{n.ng}={n.weight}" for n in c.rtpengine.nodes)
    return _render(
        NATIVE_TEMPLATE.read_text(),
        {
            "workers": c.sip.workers,
            "sip_listen": listen,
            "realm": c.sip.realm,
            "module_path": kamailio_module_path(),
            "ctl_socket": stack.layout.root / "kamailio-native.ctl",
            "transaction_timeout_ms": c.timers.transaction_timeout_ms,
            "invite_timeout_ms": c.timers.invite_timeout_ms,
            "auth_secret": secrets.token_hex(16),
            "rtpengine_socks": socks,
            "rtpengine_timeout_ms": c.sip.rtpengine_timeout_ms,
            "rtpengine_disable_s": c.sip.rtpengine_disable_s,
            "max_forwards": c.sip.max_forwards,
            "ring_timeout_ms": c.timers.ring_timeout_ms,
            "trunk_check": trunk_check,
            "number_lookup": "\n".join(cases),
            "ha1_lookup": ha1,
        },
    )


NATIVE_NAME = "kamailio-native"


def start_native_kamailio(stack: Stack) -> tuple[str, int]:
    """A second Kamailio, native config, same rtpengine; stopped by callcenter.down."""
    listen = f"127.0.0.1:{free_port()}"
    cfg = stack.layout.root / "kamailio-native.cfg"
    cfg.write_text(render_native_cfg(stack, listen))
    kamailio = require_binary("kamailio")
    check = subprocess.run(
        [kamailio, "-c", "-f", str(cfg), "-x", "tlsf"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check.returncode != 0:
        raise RuntimeError(f"native config does not parse:\n{check.stdout}{check.stderr}")
    pid = start_process(
        stack.layout,
        ProcessSpec(
            NATIVE_NAME,
            [
                kamailio,
                "-f",
                str(cfg),
                "-DD",
                "-E",
                "-x",
                "tlsf",
                "-m",
                str(stack.config.sip.shm_mb),
                "-M",
                str(stack.config.sip.pkg_mb),
            ],
        ),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise RuntimeError(
                "native kamailio exited:\n" + log_tail(stack.layout, NATIVE_NAME, 30)
            )
        if sip_options_ping(listen, timeout=0.3) == 200:
            return listen, pid
        time.sleep(0.1)
    raise RuntimeError("native kamailio not healthy:\n" + log_tail(stack.layout, NATIVE_NAME, 30))


# -- sipp -------------------------------------------------------------------------------
def read_stat_csv(path: Path) -> dict[str, str]:
    """The last row of a sipp -trace_stat file (cumulative counters at exit)."""
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def stat_int(stats: Mapping[str, str], key: str) -> int:
    try:
        return int(stats.get(key, "0") or 0)
    except ValueError:
        return 0


def stat_files(run: SippRun) -> list[Path]:
    return sorted(run.workdir.glob(f"{run.name}*.csv"))


def sipp_stats(run: SippRun) -> dict[str, int]:
    files = stat_files(run)
    stats = read_stat_csv(files[-1]) if files else {}
    return {
        "created": stat_int(stats, "TotalCallCreated"),
        "incoming": stat_int(stats, "IncomingCall(C)"),
        "outgoing": stat_int(stats, "OutgoingCall(C)"),
        "successful": stat_int(stats, "SuccessfulCall(C)"),
        "failed": stat_int(stats, "FailedCall(C)"),
        "retransmissions": stat_int(stats, "Retransmissions(C)"),
        "dead_calls": stat_int(stats, "DeadCallMsgs(C)"),
        "current": stat_int(stats, "CurrentCall"),
    }


def stat_args(workdir: Path, name: str) -> list[str]:
    return ["-trace_stat", "-stf", str(workdir / f"{name}.csv"), "-fd", "1"]


def stop_run(run: SippRun, timeout: float) -> int | None:
    """Wait up to `timeout` for sipp to exit by itself, else stop it; its exit code."""
    try:
        return run.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.stop()
        return None


def start_agent_uas(
    target: str,
    stack: Stack,
    workdir: Path,
    name: str,
    *,
    calls: int,
    scenario: str = "bench_agent",
    timeout_s: int = 120,
    extra: tuple[str, ...] = (),
    keys: Mapping[str, str | int] | None = None,
) -> SippRun:
    """The agent's phone (a sipp UAS) registered as AGENT at `target`."""
    port = free_port()
    run = start_sipp(
        name,
        scenario,
        target,
        workdir=workdir,
        port=port,
        media_port=free_port(),
        calls=calls,
        timeout_s=timeout_s,
        keys={"rtp_port": 6000, **(keys or {})},
        extra=[*stat_args(workdir, name), "-buff_size", "4194304", *extra],
    )
    time.sleep(0.2)
    if run.process.poll() is not None:
        raise RuntimeError(f"agent sipp exited at once: {run.errors()}")
    register(
        target, AGENT, stack.passwords[AGENT], stack.realm, port, workdir=workdir, expires=3600
    )
    return run


# -- machine facts -------------------------------------------------------------------------
def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    text = (out.stdout + out.stderr).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "?"


def machine_facts() -> dict[str, str]:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = "?"
    sipp = shutil.which("sipp") or "sipp"
    sipp_version = _first_line([sipp, "-v"])
    match = re.search(r"v[0-9][^\s]*", sipp_version)
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "debian": debian,
        "kernel": os.uname().release,
        "kamailio": _first_line([require_binary("kamailio"), "-v"]).removeprefix("version: "),
        "rtpengine": _first_line([require_binary("rtpengine"), "--version"]),
        "sipp": match.group(0) if match else sipp_version,
        "python": sys.version.split()[0],
    }


def print_facts(facts: Mapping[str, str]) -> None:
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()))


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `condition` until it returns something truthy; RuntimeError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
