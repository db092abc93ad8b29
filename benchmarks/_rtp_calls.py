"""Rolling RTP calls for benchmarks/recording_scale.py: one streamer process per side.

benchmarks/_rtp_load.py sends on every call of a step at once, for a fixed window.
Here calls come and go all the time (a new one as each ends), so each side's
streamer follows its sipp party's log instead of a plan:
- it binds `count` UDP ports; the benchmark writes them into sipp's -inf file, whose
  lines sipp deals to its calls in turn and round again (SEQUENTIAL), so call k
  offers port k mod count in its SDP. `count` is well above the concurrent calls, so a
  port is free again long before its turn comes back;
- `CALL <own port> <rtpengine ip> <rtpengine port>` in the log (sipp/bench_rec_caller.xml
  at the bridge's re-INVITE, sipp/bench_rec_agent.xml at the INVITE) starts a stream from
  that port to rtpengine: PCMU, 20 ms, a tone at this side's frequency, a fresh SSRC;
- `END <own port>` (before the caller's BYE, at the agent's BYE) stops it. A stream
  that sees no END within `max_stream_s` is dropped and counted (a call that failed).

Packets are paced against the clock: a tick that comes late is sent at once (up to
`CATCH_UP` ticks), so each stream's RTP timeline keeps up with the wall clock, which
the recording's timeline follows.

What rtpengine sends back is not read: each port's receive buffer is the kernel's
minimum, so the kernel drops what arrives and counts it per socket (/proc/net/udp,
`drops`), which is how "received" is counted. Reading 15,000 packets a second in
Python cost this process about as much as sending them; the recording, not the
parties, is what the benchmark checks.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import socket
import struct
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from simulators import encode_ulaw

PTIME_S = 0.020
RATE = 8000
FRAME = 160
CATCH_UP = 10  # ticks sent at once after a stall, at most; beyond that they are skipped
_HEADER = struct.Struct("!BBHII")


def tone_frames(freq_hz: float, level: float = 0.3) -> list[bytes]:
    """One second of a sine as 50 PCMU frames, a whole number of cycles (integer
    frequencies), so it loops without a click."""
    t = np.arange(RATE) / RATE
    pcm = (level * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
    audio = encode_ulaw(pcm)
    return [audio[i : i + FRAME] for i in range(0, RATE, FRAME)]


@dataclass
class _Stream:
    dest: tuple[str, int]
    ssrc: int
    started: float
    seq: int = 0


class _LogTail:
    """New complete lines of a file that another process appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:  # sipp has not created it yet
            return []
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        return [line.decode(errors="replace").strip() for line in complete]


def streamer(
    conn: Connection,
    *,
    count: int,
    log_path: Path,
    freq_hz: float,
    ssrc_base: int,
    max_stream_s: float,
) -> None:
    """The body of one side's process; runs until the pipe says stop."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)  # the kernel's minimum
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    index = {s.getsockname()[1]: i for i, s in enumerate(socks)}
    conn.send(list(index))
    frames = tone_frames(freq_hz)
    tail = _LogTail(log_path)
    streams: dict[int, _Stream] = {}  # socket index -> its stream
    counts = {
        "started": 0,
        "ended": 0,
        "replaced": 0,  # a CALL on a port whose stream had no END yet
        "expired": 0,
        "unknown_port": 0,
        "sent": 0,
        "send_errors": 0,
        "received": 0,
        "late_ticks": 0,
        "skipped_ticks": 0,
        "peak_streams": 0,
    }
    next_ssrc = ssrc_base
    tick = 0
    t0 = time.time()

    def follow_log(now: float) -> None:
        nonlocal next_ssrc
        for line in tail.lines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "CALL":
                i = index.get(int(parts[1]))
                if i is None:
                    counts["unknown_port"] += 1
                    continue
                if i in streams:
                    counts["replaced"] += 1
                streams[i] = _Stream((parts[2], int(parts[3])), next_ssrc, now)
                next_ssrc = (next_ssrc + 1) & 0xFFFFFFFF
                counts["started"] += 1
            elif len(parts) == 2 and parts[0] == "END":
                i = index.get(int(parts[1]))
                if i is not None and streams.pop(i, None) is not None:
                    counts["ended"] += 1
        counts["peak_streams"] = max(counts["peak_streams"], len(streams))

    def send_tick() -> None:
        frame = frames[tick % len(frames)]
        for i, stream in streams.items():
            header = _HEADER.pack(
                0x80, 0, stream.seq & 0xFFFF, (stream.seq * FRAME) & 0xFFFFFFFF, stream.ssrc
            )
            stream.seq += 1
            try:
                socks[i].sendto(header + frame, stream.dest)
                counts["sent"] += 1
            except OSError:  # a full send buffer, or ICMP from a port rtpengine closed
                counts["send_errors"] += 1

    while not conn.poll():
        now = time.time()
        follow_log(now)
        for i in [i for i, st in streams.items() if now - st.started > max_stream_s]:
            del streams[i]
            counts["expired"] += 1
        due = int((now - t0) / PTIME_S) + 1  # ticks that should have gone by now
        behind = due - tick
        if behind > 1:
            counts["late_ticks"] += behind - 1
        if behind > CATCH_UP:
            counts["skipped_ticks"] += behind - CATCH_UP
            tick = due - CATCH_UP
        while tick < due:
            send_tick()
            tick += 1
        conn.poll(max(0.0, t0 + tick * PTIME_S - time.time()))
    conn.recv()
    counts["received"] = socket_drops(set(index))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts["live_at_stop"] = len(streams)
    conn.send({**counts, "cpu_s": usage.ru_utime + usage.ru_stime})
    for s in socks:
        s.close()
    conn.close()


def socket_drops(ports: set[int]) -> int:
    """Datagrams the kernel dropped on these local UDP ports (IPv4, /proc/net/udp)."""
    total = 0
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            port = int(fields[1].rpartition(":")[2], 16)
            if port in ports:
                total += int(fields[-1])
    return total


class Streamer:
    """One side's streamer process; `ports` are what its sipp's -inf file offers."""

    def __init__(
        self,
        name: str,
        *,
        count: int,
        log_path: Path,
        freq_hz: float,
        ssrc_base: int,
        max_stream_s: float,
    ) -> None:
        ctx = mp.get_context("fork")
        self.name = name
        self._pipe, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=streamer,
            args=(child,),
            kwargs={
                "count": count,
                "log_path": log_path,
                "freq_hz": freq_hz,
                "ssrc_base": ssrc_base,
                "max_stream_s": max_stream_s,
            },
            daemon=True,
            name=f"rtp-{name}",
        )
        self._proc.start()
        if not self._pipe.poll(30):
            self._proc.kill()
            raise RuntimeError(f"the {name} RTP streamer did not bind its ports")
        self.ports: list[int] = self._pipe.recv()

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def write_inf(self, path: Path) -> None:
        """sipp's -inf file: line k (field0) is the port call k offers."""
        path.write_text("SEQUENTIAL\n" + "".join(f"{p};\n" for p in self.ports))

    def stop(self) -> dict[str, Any]:
        """Stop sending; its counters."""
        self._pipe.send("stop")
        report: dict[str, Any] = self._pipe.recv() if self._pipe.poll(10) else {"lost": True}
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
        return report
