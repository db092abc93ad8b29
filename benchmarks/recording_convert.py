"""Recording conversion: rtpengine pcap segments to a stereo WAV, CPU per call.

Each run writes `--calls` synthetic 30 s calls as rtpengine records them (raw IPv4 +
UDP, linktype 101): the caller's and the agent's PCMU streams, 20 ms packets, each with
its own SSRC and arrival jitter (up to 8 ms late, so some packets arrive out of order),
an RTCP report every 5 s from each side and a DTMF key press (RFC 4733 events), split
into two segments by a 2 s pause. Then it converts each call (`recording.convert`: read,
decode, place, zero the pause) and writes it (`recording.write_wav`, fsynced), and
deletes the files.

Printed per run: CPU per call (this process, time.process_time) for the conversion and
for conversion plus WAV, as p50/p95/max, and "x real time per core" = call length / CPU
(from the mean); then the runs' spread, the target and a verdict. Exits 1 on a miss.

    .venv/bin/python -m benchmarks.recording_convert                # 3 runs x 50 calls
    .venv/bin/python -m benchmarks.recording_convert --repeat 5 --calls 20
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `python benchmarks/x.py` works as well as `-m`
    sys.path.insert(0, str(ROOT))

from benchmarks._harness import machine_busy_seconds  # noqa: E402
from recording import convert, write_wav  # noqa: E402
from simulators import encode_ulaw, tone_fraction  # noqa: E402

# The figure: a recorder on one core keeps up with 500 calls being recorded at
# once (a 30 s stereo call in 60 ms of CPU), with room to catch up after a backlog.
TARGET_X_REAL_TIME = 500.0
CALL_S = 30.0
PAUSE = (12.0, 14.0)  # seconds into the call: segment 0 ends, segment 1 starts
CALLER_PORT, AGENT_PORT = 30000, 30002
RATE = 8000


def ip_udp(payload: bytes, dport: int) -> bytes:
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    return (
        struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0)
        + bytes([127, 0, 0, 2, 127, 0, 0, 1])
        + udp
    )


def side(
    rng: np.random.Generator, freq: float, ssrc: int, dport: int, t0: float
) -> list[tuple[float, bytes]]:
    """One party's packets over the whole call: (pcap time, IP packet)."""
    t = np.arange(round(CALL_S * RATE)) / RATE
    voice = 0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(len(t))
    audio = encode_ulaw(np.clip(voice * 32767, -32768, 32767).astype(np.int16))
    ts0, seq0 = int(rng.integers(0, 2**32)), int(rng.integers(0, 2**16))
    records = []
    for n, first in enumerate(range(0, len(audio), 160)):
        header = struct.pack("!BBHII", 0x80, 0, (seq0 + n) & 0xFFFF, (ts0 + first) % 2**32, ssrc)
        late = float(rng.uniform(0, 0.008))
        records.append(
            (t0 + first / RATE + late, ip_udp(header + audio[first : first + 160], dport))
        )
    for second in range(0, round(CALL_S), 5):  # RTCP sender reports
        records.append((t0 + second + 0.5, ip_udp(bytes([0x80, 200, 0, 6]) + bytes(24), dport)))
    for n in range(6):  # a key press: RFC 4733 events, PT 101
        header = struct.pack("!BBHII", 0x80, 101, n, (ts0 + 8000) % 2**32, ssrc)
        records.append(
            (t0 + 1 + n * 0.02, ip_udp(header + struct.pack("!BBH", 1, 10, 160 * (n + 1)), dport))
        )
    return records


def write_pcap(path: Path, records: list[tuple[float, bytes]]) -> None:
    chunks = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for when, packet in sorted(records, key=lambda r: r[0]):
        seconds = int(when)
        micros = round((when - seconds) * 1e6)
        chunks.append(struct.pack("<IIII", seconds, micros, len(packet), len(packet)) + packet)
    path.write_bytes(b"".join(chunks))


def make_call(work: Path, n: int, rng: np.random.Generator) -> tuple[list[Path], float]:
    """Two segment files for call `n`; its start time."""
    t0 = 1_765_000_000.0 + n * 100
    packets = side(rng, 440.0, 0x1000 + n, CALLER_PORT, t0) + side(
        rng, 1000.0, 0x2000 + n, AGENT_PORT, t0 + 0.3
    )
    segments = []
    for i, (begin, end) in enumerate(((0.0, PAUSE[0]), (PAUSE[1], CALL_S + 1))):
        path = work / f"call{n}-{i}.pcap"
        write_pcap(path, [(w, p) for w, p in packets if t0 + begin <= w < t0 + end])
        segments.append(path)
    return segments, t0


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def figures(samples: list[float]) -> str:
    return (
        f"p50 {statistics.median(samples):6.2f}  p95 {percentile(samples, 0.95):6.2f}"
        f"  max {max(samples):6.2f} ms CPU"
    )


def one_run(run: int, calls: int, seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed + run)
    converted: list[float] = []
    with_wav: list[float] = []
    with tempfile.TemporaryDirectory(prefix="recording-bench-") as tmp:
        work = Path(tmp)
        made = [make_call(work, n, rng) for n in range(calls)]
        for n, (segments, t0) in enumerate(made):
            started = time.process_time()
            got = convert(
                segments,
                start_ts=t0,
                end_ts=t0 + CALL_S,
                caller_port=CALLER_PORT,
                pauses=[(t0 + PAUSE[0], t0 + PAUSE[1])],
            )
            middle = time.process_time()
            write_wav(work / "wav" / f"call{n}.wav", got.pcm)
            ended = time.process_time()
            converted.append((middle - started) * 1000)
            with_wav.append((ended - started) * 1000)
            if n == 0:  # the output is right, not only fast
                assert got.frames == CALL_S * RATE and got.skipped > 0, got
                assert tone_fraction(got.pcm[:, 0], 440.0) > 0.8
                assert tone_fraction(got.pcm[:, 1], 1000.0) > 0.8
                pause = got.pcm[round(PAUSE[0] * RATE) : round(PAUSE[1] * RATE)]
                assert not pause.any()
    x = CALL_S * 1000 / statistics.mean(converted)
    print(
        f"run {run + 1}: {calls} calls of {CALL_S:g} s\n"
        f"  convert          {figures(converted)}   {x:6.0f}x real time per core\n"
        f"  convert + WAV    {figures(with_wav)}"
        f"   {CALL_S * 1000 / statistics.mean(with_wav):6.0f}x real time per core"
    )
    return converted, with_wav


def facts() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return (
        f"machine: nproc={os.cpu_count()}, cpu={model}, kernel={platform.release()},"
        f" python={platform.python_version()}, numpy={np.__version__},"
        f" load average at start {os.getloadavg()[0]:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs")
    parser.add_argument("--calls", type=int, default=50, help="calls converted per run")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    print(facts())
    busy0 = machine_busy_seconds()
    runs = [one_run(run, args.calls, args.seed) for run in range(args.repeat)]
    busy1 = machine_busy_seconds()
    span = busy1[1] - busy0[1]
    machine_busy = (busy1[0] - busy0[0]) / span if span > 0 else 0.0
    pooled = [v for converted, _ in runs for v in converted]
    per_run = [CALL_S * 1000 / statistics.mean(converted) for converted, _ in runs]
    x = CALL_S * 1000 / statistics.mean(pooled)
    pooled_wav = [v for _, with_wav in runs for v in with_wav]
    met = x >= TARGET_X_REAL_TIME
    print(
        f"\nall {args.repeat} runs pooled (machine busy {machine_busy:.0%} during them):\n"
        f"  convert {figures(pooled)}; {x:.0f}x real time per core"
        f" (runs {min(per_run):.0f}-{max(per_run):.0f}x);"
        f" target >= {TARGET_X_REAL_TIME:g}x: {'met' if met else 'MISSED'}\n"
        f"  convert + WAV {figures(pooled_wav)};"
        f" {CALL_S * 1000 / statistics.mean(pooled_wav):.0f}x real time per core (information)"
    )
    print("PASS" if met else "FAIL: convert")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
