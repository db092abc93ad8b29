"""G.711 RTP load for the media benchmarks: one generator process per party side.

Each generator binds one UDP port per call (so sipp can offer it, through an -inf
file), then, on a plan from the benchmark, sends PCMU (12-byte header + 160 bytes
every 20 ms) from each port to the address rtpengine gave that party, for a
window, and counts what arrives on each port carrying the peer's SSRC. Loss is
counted per call and direction after a short drain.

Used by benchmarks/media_concurrency.py (through Kamailio) and
benchmarks/controller_media.py (through the call controller).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import select
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from simulators import SippRun

PTIME_S = 0.020
PAYLOAD = bytes([0xFF]) * 160  # PCMU silence
DRAIN_S = 0.5
# A port whose call did not come up sends nowhere (to the discard port).
IDLE_STREAM = ("127.0.0.1", 9, 0, 0xFFFFFFFF)

Stream = tuple[str, int, int, int]  # (dest ip, dest port, own ssrc, peer's ssrc)


def generator(conn: Connection, count: int) -> None:
    """The body of one generator process (one party side, `count` calls)."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    conn.send([s.getsockname()[1] for s in socks])
    plan: dict[str, Any] = conn.recv()  # {"streams": [(dest_ip, dest_port, ssrc, peer)], ...}
    streams = plan["streams"]
    by_fd = {s.fileno(): i for i, s in enumerate(socks)}
    sent = [0] * count
    received = [0] * count
    foreign = [0] * count
    poller = select.epoll()
    for s in socks:
        poller.register(s.fileno(), select.EPOLLIN)
    headers = struct.Struct("!BBHII")

    def drain(timeout: float) -> None:
        for fd, _ in poller.poll(max(timeout, 0.0)):
            i = by_fd[fd]
            s = socks[i]
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                if len(data) >= 12 and struct.unpack_from("!I", data, 8)[0] == streams[i][3]:
                    received[i] += 1
                else:
                    foreign[i] += 1

    start = plan["start_at"]
    ticks = int(plan["window_s"] / PTIME_S)
    late = 0
    while time.time() < start:
        drain(start - time.time())
    for tick in range(ticks):
        due = start + tick * PTIME_S
        now = time.time()
        if now > due + PTIME_S:
            late += 1
        for i, s in enumerate(socks):
            ip, port, ssrc, _ = streams[i]
            header = headers.pack(0x80, 0, tick & 0xFFFF, (tick * 160) & 0xFFFFFFFF, ssrc)
            try:
                s.sendto(header + PAYLOAD, (ip, port))
                sent[i] += 1
            except BlockingIOError:
                pass
        next_due = due + PTIME_S
        while True:
            remaining = next_due - time.time()
            if remaining <= 0:
                break
            drain(remaining)
    end = time.time() + DRAIN_S
    while time.time() < end:
        drain(end - time.time())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.send(
        {
            "sent": sent,
            "received": received,
            "foreign": foreign,
            "late_ticks": late,
            "ticks": ticks,
            "cpu_s": usage.ru_utime + usage.ru_stime,
        }
    )
    for s in socks:
        s.close()
    conn.close()


def calls_logged(run: SippRun) -> dict[str, tuple[int, str, int]]:
    """call key -> (own RTP port, rtpengine ip, rtpengine port) from sipp's CALL log lines."""
    calls = {}
    for line in run.log_lines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "CALL":
            calls[parts[1]] = (int(parts[2]), parts[3], int(parts[4]))
    return calls


def write_inf(path: Path, ports: Sequence[int]) -> None:
    """A sipp -inf file whose line k (field0) is the k-th call's own RTP port."""
    path.write_text("SEQUENTIAL\n" + "".join(f"{p};\n" for p in ports))


class GeneratorPair:
    """Two generator processes, caller side and agent side, `n` ports each."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("fork")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        ports = []
        for _side in ("caller", "agent"):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=generator, args=(child, n), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
            ports.append(parent.recv())
        self.caller_ports: list[int] = ports[0]
        self.agent_ports: list[int] = ports[1]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def send_plans(
        self,
        caller_streams: Mapping[int, Stream],
        agent_streams: Mapping[int, Stream],
        *,
        start_at: float,
        window_s: float,
    ) -> None:
        """Start sending at `start_at` (epoch seconds): each port to its stream's address."""
        for pipe, side_ports, streams in (
            (self.pipes[0], self.caller_ports, caller_streams),
            (self.pipes[1], self.agent_ports, agent_streams),
        ):
            pipe.send(
                {
                    "streams": [streams.get(p, IDLE_STREAM) for p in side_ports],
                    "start_at": start_at,
                    "window_s": window_s,
                }
            )

    def collect(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(caller report, agent report); blocks until the window and the drain end."""
        caller_report, agent_report = (pipe.recv() for pipe in self.pipes)
        return caller_report, agent_report

    def close(self) -> None:
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


@dataclass
class Tally:
    sent: int
    received: int
    calls_with_loss: int
    foreign: int
    late_ticks: int
    expected: int  # packets the generators should have sent for the paired calls

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def loss_pct(self) -> float:
        return 100 * self.lost / self.sent if self.sent else 0.0

    @property
    def pace_pct(self) -> float:
        return 100 * self.sent / self.expected if self.expected else 0.0


def tally(
    pairs: Sequence[tuple[int, int]],
    generators: GeneratorPair,
    caller_report: Mapping[str, Any],
    agent_report: Mapping[str, Any],
) -> Tally:
    """Sent and received over the calls that came up: `pairs` of (caller port, agent port)."""
    c_index = {p: i for i, p in enumerate(generators.caller_ports)}
    a_index = {p: i for i, p in enumerate(generators.agent_ports)}
    sent = received = calls_with_loss = 0
    for caller_port, agent_port in pairs:
        ci, ai = c_index[caller_port], a_index[agent_port]
        c_sent, a_sent = caller_report["sent"][ci], agent_report["sent"][ai]
        c_recv, a_recv = caller_report["received"][ci], agent_report["received"][ai]
        sent += c_sent + a_sent
        received += c_recv + a_recv
        if c_recv < a_sent or a_recv < c_sent:
            calls_with_loss += 1
    return Tally(
        sent=sent,
        received=received,
        calls_with_loss=calls_with_loss,
        foreign=sum(caller_report["foreign"]) + sum(agent_report["foreign"]),
        late_ticks=caller_report["late_ticks"] + agent_report["late_ticks"],
        expected=2 * len(pairs) * caller_report["ticks"],
    )


def assign_streams(
    pairs: Sequence[tuple[int, str, int, int, str, int]],
) -> tuple[dict[int, Stream], dict[int, Stream], list[tuple[int, int]]]:
    """Plans for paired calls: (caller port, its dest ip, dest port, agent port, ...).

    Each call gets its own SSRC per side, so a packet delivered to the wrong call
    is counted as foreign, not as received.
    """
    caller_streams: dict[int, Stream] = {}
    agent_streams: dict[int, Stream] = {}
    ports = []
    for k, (c_port, c_ip, c_dest, a_port, a_ip, a_dest) in enumerate(pairs):
        c_ssrc, a_ssrc = 0x10000000 + k, 0x20000000 + k
        caller_streams[c_port] = (c_ip, c_dest, c_ssrc, a_ssrc)
        agent_streams[a_port] = (a_ip, a_dest, a_ssrc, c_ssrc)
        ports.append((c_port, a_port))
    return caller_streams, agent_streams, ports
