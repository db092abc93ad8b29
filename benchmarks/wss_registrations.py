"""What a registration over WSS costs Kamailio, against the same over UDP.

One stack (Kamailio with its WSS listener), `--connections` agents. Each agent's
softphone (simulators.SipPhone, the non-browser SIP-over-WebSocket client) opens its own
TLS WebSocket, then all of them REGISTER `--per-connection` times each, concurrently,
every REGISTER answering its digest challenge (two transactions: 401, then 200). The same
count of registrations then goes over UDP from the same client code (one socket per
agent): the native baseline. Kamailio's CPU is utime+stime summed over all its processes
from /proc, per phase; the TLS and WebSocket handshakes are a phase of their own.

    .venv/bin/python -m benchmarks.wss_registrations            # 200 x 25 = 5,000 each way
    .venv/bin/python -m benchmarks.wss_registrations --connections 100 --per-connection 10

Exit status 0 when every registration succeeded and the WSS cost is within the target.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import (
    CpuMeter,
    daemon_pid,
    machine_facts,
    print_facts,
    session_pids,
)
from callcenter import account_entry
from identity import sip_ha1
from simulators import SipPhone
from testbed import REALM, base_config, running_stack, wss_ca_file, wss_config

# Chosen from the first runs (BENCHMARKS.md, "WSS registrations"): a registration over
# WSS may cost Kamailio at most this many times one over UDP (each with its challenge),
# and at most this much CPU in absolute terms.
MAX_WSS_OVER_UDP = 2.0
MAX_WSS_US_PER_REGISTRATION = 300.0


@dataclass
class Phase:
    name: str
    count: int
    failed: int
    cpu_s: float
    wall_s: float
    others_busy: float

    @property
    def us_each(self) -> float:
        return self.cpu_s / max(1, self.count - self.failed) * 1e6

    def line(self) -> str:
        return (
            f"{self.name:<16} {self.count - self.failed:>6} ok {self.failed:>4} failed  "
            f"{self.wall_s:6.1f} s  {self.count / self.wall_s:7.0f}/s  "
            f"Kamailio {self.us_each:7.0f} µs each  "
            f"(rest of the machine busy {self.others_busy:.0%}: the client and others)"
        )


def _cpu_ns(pids: list[int]) -> int:
    """CPU time of these processes' threads in ns (/proc/PID/task/TID/schedstat): /proc's
    utime+stime count in 10 ms ticks per process, too coarse for 15 processes at ~100 µs
    per registration."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total


async def _measured(
    name: str, pids: list[int], count: int, work: Callable[[], Awaitable[int]]
) -> Phase:
    meter = CpuMeter({"kamailio": pids})  # for the machine's other load
    meter.start()
    before = _cpu_ns(pids)
    failed = await work()
    used = (_cpu_ns(pids) - before) / 1e9
    meter.stop()
    return Phase(name, count, failed, used, meter.wall, meter.others_busy)


async def _register_all(phones: list[SipPhone], per_connection: int) -> int:
    async def one(phone: SipPhone) -> int:
        failed = 0
        for _ in range(per_connection):
            try:
                if await phone.register(expires=600, timeout=10) != 200:
                    failed += 1
            except TimeoutError:
                failed += 1
        return failed

    return sum(await asyncio.gather(*(one(p) for p in phones)))


async def _run(args: argparse.Namespace, workdir: Path) -> tuple[Phase, Phase, Phase]:
    agents = tuple(f"{7000 + i}" for i in range(args.connections))
    config, passwords = base_config(workdir, ("1001",))
    # Many accounts, one password: an Argon2 hash per account would take minutes here.
    # The digest (the only thing Kamailio checks) still differs per account (HA1).
    template = account_entry("1001", passwords["1001"], REALM, ["agent"])
    config["accounts"] = [
        {**template, "username": a, "ha1": sip_ha1(a, REALM, passwords["1001"])} for a in agents
    ]
    config["numbers"] = []
    passwords = dict.fromkeys(agents, passwords["1001"])
    url = wss_config(workdir, config)
    config["sip"].update(workers=args.workers, shm_mb=512)
    with running_stack(workdir, config, passwords) as stack:
        main_pid = daemon_pid(stack, "kamailio")
        # Kamailio forks its TCP/TLS processes after the UDP ones answer the health probe:
        # wait until the process count stops growing, or their CPU goes uncounted.
        expected = 0
        while len(pids := session_pids(main_pid)) != expected:
            expected = len(pids)
            await asyncio.sleep(0.5)
        print(f"kamailio: {len(pids)} processes")
        ha1 = {a: sip_ha1(a, stack.realm, passwords[a]) for a in agents}
        ca = wss_ca_file(stack)
        phones: list[SipPhone] = []

        async def connect_all() -> int:
            # A bounded number of handshakes at once, as browsers arriving at a shift start.
            gate = asyncio.Semaphore(50)

            async def one(agent: str) -> SipPhone:
                async with gate:
                    return await SipPhone.websocket(
                        url, agent, stack.realm, ha1[agent], ca_file=ca, open_timeout=20
                    )

            phones.extend(await asyncio.gather(*(one(a) for a in agents)))
            return 0

        count = args.connections * args.per_connection
        connect = await _measured("wss handshakes", pids, args.connections, connect_all)
        wss = await _measured(
            "wss registers", pids, count, lambda: _register_all(phones, args.per_connection)
        )
        for phone in phones:
            await phone.close()
        udp_phones = [await SipPhone.udp(stack.sip, a, stack.realm, ha1[a]) for a in agents]
        udp = await _measured(
            "udp registers", pids, count, lambda: _register_all(udp_phones, args.per_connection)
        )
        for phone in udp_phones:
            await phone.close()
    return connect, wss, udp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--per-connection", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    print_facts(machine_facts())
    with tempfile.TemporaryDirectory(prefix="bench-wss-") as tmp:
        started = time.monotonic()
        connect, wss, udp = asyncio.run(_run(args, Path(tmp)))
    for phase in (connect, wss, udp):
        print(phase.line())
    ratio = wss.us_each / udp.us_each if udp.us_each else float("inf")
    print(
        f"WSS/UDP Kamailio CPU per registration: {ratio:.2f}x "
        f"(target <= {MAX_WSS_OVER_UDP}x and <= {MAX_WSS_US_PER_REGISTRATION:.0f} µs); "
        f"run took {time.monotonic() - started:.0f} s"
    )
    misses = []
    if wss.failed or udp.failed or connect.failed:
        misses.append(f"failures: wss {wss.failed}, udp {udp.failed}")
    if ratio > MAX_WSS_OVER_UDP:
        misses.append(f"WSS costs {ratio:.2f}x UDP")
    if wss.us_each > MAX_WSS_US_PER_REGISTRATION:
        misses.append(f"WSS costs {wss.us_each:.0f} µs per registration")
    print("verdict: " + ("PASS" if not misses else "MISS (" + "; ".join(misses) + ")"))
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
