"""The parties of benchmarks/monitor_mixing.py: RTP endpoints in a few processes.

Each process holds whole calls (every party of a call in the same process, so a
marker's send time and its arrival are read from the same clock) and runs one
epoll loop: every 20 ms it sends one PCMU frame from each party, and between ticks
it reads what arrives, keeping each packet's arrival time, header and payload. The
audio is analysed after the window, so analysis never delays a tick.

What a party sends: its role's tone, without a break, and once a second (at a phase of
its own) a 100 ms marker burst at its role's marker frequency on top, starting at a
frame boundary. The send time of each marker's first frame is kept: a listener that
hears the marker measures mouth-to-ear delay from it. Frequencies are multiples of
50 Hz except the caller's 440 Hz (the issue's example), so a 20 ms Goertzel block holds
whole periods and one tone does not leak into another's bin.

What a party checks (`analyse`):
- loss: packets received against the frames each source sent (one mixed packet per
  20 ms tick is what a listener gets from the mixer, however many it hears), gaps in
  the RTP sequence of what arrived, and for each source it hears the packets that
  carry the source's tone against the frames the source sent (a frame the mixer
  dropped leaves a packet without it, or no packet);
- tones: in every 1 s of arrival time, the share of the received energy at each tone
  it must hear (present when >= PRESENT_SHARE) and at each tone it must not hear
  (leaked when > ABSENT_SHARE);
- delay: for each marker it must hear, arrival of the onset (the first packet holding
  it, and the sample where it starts, from a 5 ms sliding window) minus the send time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import select
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

from simulators import decode_ulaw, encode_ulaw, goertzel_power

RATE = 8000
FRAME = 160
PTIME_S = 0.020
FRAMES_PER_S = 50
LEVEL = 0.15  # each tone and marker, of full scale: four summed stay below clipping
TONE_HZ = {"caller": 440.0, "agent": 1000.0, "supervisor": 2500.0}
MARKER_HZ = {"caller": 1800.0, "agent": 3000.0, "supervisor": 3500.0}
MARKER_FRAMES = 5  # 100 ms
PHASES = 10  # send phases 2 ms apart within each 20 ms
PRESENT_SHARE = 0.10  # about 0.45 for one of two equal tones
ABSENT_SHARE = 0.01
FRAME_SHARE = 0.10  # of a 20 ms block's energy, for a source's frame to count as there
MARKER_SHARE = 0.15  # of a 20 ms block's energy; about 0.33 in a block with the marker
ONSET_WINDOW = 40  # samples (5 ms) of the sliding window that places an onset
ONSET_STEP = 4
MAX_DELAY_S = 0.5  # a marker onset later than this after its send is not matched
DRAIN_S = 0.5
_HEADER = struct.Struct("!BBHII")

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PartySpec:
    """One RTP endpoint: who it is, what it sends, what it must and must not hear."""

    call: str  # the call's key
    kind: str  # "whisper", "barge" or "plain"
    role: str  # "caller", "agent" or "supervisor"
    marker_phase: int  # the frame (of 50) at which its marker starts each second
    hears: tuple[str, ...]  # roles of its call that it must hear
    must_not_hear: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.call}.{self.role}"


def frames_for(spec: PartySpec) -> list[bytes]:
    """One second of what `spec` sends, as 50 PCMU frames (it loops without a click)."""
    n = np.arange(RATE)
    pcm = LEVEL * 32767 * np.sin(2 * np.pi * TONE_HZ[spec.role] * n / RATE)
    start = spec.marker_phase * FRAME
    burst = np.arange(MARKER_FRAMES * FRAME)
    marker = LEVEL * 32767 * np.sin(2 * np.pi * MARKER_HZ[spec.role] * burst / RATE)
    end = start + len(burst)
    pcm[start:end] += marker[: max(0, min(end, RATE) - start)]
    audio = encode_ulaw(np.round(pcm).astype(np.int16))
    return [audio[i : i + FRAME] for i in range(0, RATE, FRAME)]


def _party_loop(conn: Connection, specs: Sequence[PartySpec]) -> None:
    """The body of one party process: bind, send and receive for the window, analyse."""
    # A session of its own, as each phone is its own process: with the kernel's
    # autogroup scheduling every session gets a fair share of the CPU, and the parties
    # must not wait behind the benchmark's own process for their 20 ms ticks.
    os.setsid()
    socks = []
    for _ in specs:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    conn.send([s.getsockname()[1] for s in socks])
    plan: dict[str, Any] = conn.recv()
    dests: list[tuple[str, int] | None] = [plan["dests"].get(spec.key) for spec in specs]
    start: float = plan["start_at"]  # time.monotonic(), the same clock in every process
    ticks = round(plan["window_s"] / PTIME_S)
    frames = [frames_for(spec) for spec in specs]
    ssrcs = [0x10000 + i for i in range(len(specs))]
    sending = [i for i, dest in enumerate(dests) if dest is not None]

    times: list[list[float]] = [[] for _ in specs]
    heads = [bytearray() for _ in specs]
    payloads = [bytearray() for _ in specs]
    odd = [0] * len(specs)  # packets that are not a 160-byte PCMU frame
    marker_sent: list[list[float]] = [[] for _ in specs]
    by_fd = {s.fileno(): i for i, s in enumerate(socks)}
    poller = select.epoll()
    for s in socks:
        poller.register(s.fileno(), select.EPOLLIN)
    clock = time.monotonic

    def drain(timeout: float) -> None:
        for fd, _ in poller.poll(max(timeout, 0.0)):
            i = by_fd[fd]
            recv = socks[i].recv
            while True:
                try:
                    data = recv(2048)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                now = clock()
                if len(data) == 12 + FRAME and data[1] & 0x7F in (0, 8):
                    times[i].append(now)
                    heads[i] += data[:12]
                    payloads[i] += data[12:]
                else:
                    odd[i] += 1

    # Phones are not in step: each party sends at a phase of its own within the 20 ms
    # (one of PHASES), so packets reach rtpengine and the mixer spread over the tick,
    # not in one burst, and arrive at every phase of the mixer's own tick.
    phases = [[i for i in sending if i % PHASES == k] for k in range(PHASES)]
    phases = [group for group in phases if group]
    late_ticks = send_errors = 0
    while clock() < start:
        drain(start - clock())
    for tick in range(ticks):
        frame_index = tick % FRAMES_PER_S
        header_seq = tick & 0xFFFF
        header_ts = (tick * FRAME) & 0xFFFFFFFF
        for k, group in enumerate(phases):
            due = start + tick * PTIME_S + k * PTIME_S / len(phases)
            now = clock()
            while now < due:
                drain(due - now)
                now = clock()
            if now > due + PTIME_S:
                late_ticks += 1
            for i in group:
                if frame_index == specs[i].marker_phase:
                    marker_sent[i].append(clock())
                header = _HEADER.pack(0x80, 0, header_seq, header_ts, ssrcs[i])
                try:
                    socks[i].sendto(header + frames[i][frame_index], dests[i])  # type: ignore[arg-type]
                except OSError:
                    send_errors += 1
            drain(0)
    end = start + ticks * PTIME_S + DRAIN_S
    while clock() < end:
        drain(end - clock())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    loop_cpu = usage.ru_utime + usage.ru_stime
    by_key = {spec.key: i for i, spec in enumerate(specs)}
    results = []
    for i, spec in enumerate(specs):
        sources = {role: marker_sent[by_key[f"{spec.call}.{role}"]] for role in spec.hears}
        received = Received(
            np.asarray(times[i]),
            bytes(heads[i]),
            bytes(payloads[i]),
        )
        results.append(
            analyse(
                spec,
                received,
                start=start,
                ticks=ticks if dests[i] is not None else 0,
                marker_sends=sources,
            )
            | {"odd": odd[i]}
        )
    for s in socks:
        s.close()
    conn.send(
        {
            "parties": results,
            "late_ticks": late_ticks,
            "ticks": ticks * len(phases),
            "send_errors": send_errors,
            "loop_cpu_s": loop_cpu,
        }
    )
    conn.close()


@dataclass
class Received:
    """What one party received: arrival times (monotonic s), 12-byte RTP headers and
    160-byte PCMU payloads, in arrival order."""

    times: Floats
    heads: bytes
    payloads: bytes

    def __len__(self) -> int:
        return len(self.times)

    def seqs(self) -> npt.NDArray[np.int64]:
        raw = np.frombuffer(self.heads, dtype=">u2").reshape(-1, 6)
        return raw[:, 1].astype(np.int64)

    def blocks(self) -> Floats:
        pcm = decode_ulaw(self.payloads).astype(np.float64)
        return pcm.reshape(-1, FRAME)


def seq_gaps(seqs: npt.NDArray[np.int64]) -> int:
    """Sequence numbers missing between the first and the last one received (16-bit
    wrap unrolled; a duplicate or a reordered packet is not a gap)."""
    if len(seqs) < 2:
        return 0
    steps = np.diff(seqs)
    steps = np.where(steps < -32768, steps + 65536, steps)
    steps = np.where(steps > 32768, steps - 65536, steps)
    unrolled = np.concatenate([[0], np.cumsum(steps)])
    return int(unrolled.max() - unrolled.min() + 1 - len(np.unique(unrolled)))


def onset_offset(previous: Floats | None, block: Floats, freq: float) -> int:
    """Where, in samples from the start of `block`, a burst at `freq` begins (negative:
    in `previous`), from a sliding window's amplitude at `freq` as it rises to its peak."""
    samples = block if previous is None else np.concatenate([previous, block])
    base = 0 if previous is None else len(previous)
    n = np.arange(len(samples))
    analytic = np.concatenate([[0], np.cumsum(samples * np.exp(-2j * np.pi * freq * n / RATE))])
    starts = np.arange(0, len(samples) - ONSET_WINDOW + 1, ONSET_STEP)
    amplitude = np.abs(analytic[starts + ONSET_WINDOW] - analytic[starts])
    peak = amplitude.max()
    if peak <= 0:
        return 0
    crossing = int(np.argmax(amplitude >= 0.5 * peak))
    # A window holding k burst samples has about k/ONSET_WINDOW of the full amplitude:
    # the burst began ONSET_WINDOW - k samples into the first window past half.
    held = ONSET_WINDOW * amplitude[crossing] / peak
    return round(float(starts[crossing] + ONSET_WINDOW - held)) - base


def analyse(
    spec: PartySpec,
    received: Received,
    *,
    start: float,
    ticks: int,
    marker_sends: dict[str, list[float]],
) -> dict[str, Any]:
    """The figures of one party (see the module's docstring)."""
    seconds = ticks // FRAMES_PER_S
    result: dict[str, Any] = {
        "key": spec.key,
        "call": spec.call,
        "kind": spec.kind,
        "role": spec.role,
        "received": len(received),
        "expected": ticks,
        "lost": max(0, ticks - len(received)),
        "seq_gaps": 0,
        "frames_heard": {},  # role -> packets that carry its tone (its frames that arrived)
        "windows": seconds,
        "missing": {},  # role -> 1 s windows without its tone
        "leaked": {},  # role -> 1 s windows with a tone it must not hear
        "min_share": {},
        "delays_ms": {},  # role -> mouth-to-ear delays of its markers (ms)
        "markers_sent": {},
        "markers_matched": {},
    }
    if ticks == 0:
        return result
    if len(received) == 0:
        for role in spec.hears:
            result["missing"][role] = seconds
            result["frames_heard"][role] = 0
            result["min_share"][role] = 0.0
            result["delays_ms"][role] = []
            result["markers_sent"][role] = len(marker_sends[role])
            result["markers_matched"][role] = 0
        return result
    result["seq_gaps"] = seq_gaps(received.seqs())
    blocks = received.blocks()
    energy = np.einsum("ij,ij->i", blocks, blocks)
    window_of = np.floor((received.times - start) / 1.0).astype(np.int64)
    inside = (window_of >= 0) & (window_of < seconds)
    window_energy = np.bincount(window_of[inside], weights=energy[inside], minlength=seconds)

    def window_shares(freq: float) -> Floats:
        shares = goertzel_power(blocks, freq) * energy
        at = np.bincount(window_of[inside], weights=shares[inside], minlength=seconds)
        return np.asarray(at / np.maximum(window_energy, 1e-9), dtype=np.float64)

    for role in spec.hears:
        shares = window_shares(TONE_HZ[role])
        result["missing"][role] = int(np.sum(shares < PRESENT_SHARE))
        result["min_share"][role] = float(shares.min()) if seconds else 0.0
    for role in spec.must_not_hear:
        shares = window_shares(TONE_HZ[role])
        result["leaked"][role] = int(np.sum(shares > ABSENT_SHARE))
        result["min_share"][f"not {role}"] = float(shares.max()) if seconds else 0.0

    loud = energy > (32768.0 * 0.001) ** 2 * FRAME
    for role in spec.hears:
        # Each source's tone never stops, so a packet without it lacks that source's frame
        # (dropped or not yet there): what the mixer lost of that party, even when the
        # packet itself came because another source had a frame.
        carried = (goertzel_power(blocks, TONE_HZ[role]) >= FRAME_SHARE) & loud
        result["frames_heard"][role] = int(np.sum(carried))
    for role in spec.hears:
        freq = MARKER_HZ[role]
        present = (goertzel_power(blocks, freq) >= MARKER_SHARE) & loud
        onsets = np.flatnonzero(present & ~np.concatenate([[False], present[:-1]]))
        sends = np.asarray(marker_sends[role])
        delays = []
        matched: set[int] = set()
        for i in onsets:
            arrival = float(received.times[i])
            before = np.flatnonzero(sends <= arrival)
            # Each marker once: a burst broken by a missing frame starts again, and that
            # second onset is no mouth-to-ear delay.
            if not len(before) or int(before[-1]) in matched:
                continue
            matched.add(int(before[-1]))
            sent = float(sends[before[-1]])
            offset = onset_offset(blocks[i - 1] if i > 0 else None, blocks[i], freq)
            delay = arrival + offset / RATE - sent
            if 0 <= arrival - sent <= MAX_DELAY_S:
                delays.append(delay * 1000)
        result["delays_ms"][role] = delays
        result["markers_sent"][role] = len(sends)
        result["markers_matched"][role] = len(delays)
    return result


class PartyProcesses:
    """`len(groups)` processes, each the parties of its group of calls."""

    def __init__(self, groups: Sequence[Sequence[PartySpec]]) -> None:
        ctx = mp.get_context("fork")
        self.groups = [list(g) for g in groups]
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        self.ports: dict[str, int] = {}
        for n, group in enumerate(self.groups):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_party_loop, args=(child, group), daemon=True, name=f"parties-{n}"
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe, group in zip(self.pipes, self.groups, strict=True):
            if not pipe.poll(30):
                raise RuntimeError("a party process did not bind its ports")
            for spec, port in zip(group, pipe.recv(), strict=True):
                self.ports[spec.key] = port

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def start(self, dests: dict[str, tuple[str, int]], *, start_at: float, window_s: float) -> None:
        """Each party sends to dests[its key] from `start_at` (time.monotonic())."""
        for pipe in self.pipes:
            pipe.send({"dests": dests, "start_at": start_at, "window_s": window_s})

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        """Each process's report (blocks until the window, the drain and the analysis end)."""
        reports = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError("a party process did not report")
            reports.append(pipe.recv())
        return reports

    def close(self) -> None:
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
