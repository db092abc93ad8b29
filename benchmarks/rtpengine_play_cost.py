"""What rtpengine spends on each media command of an ACD call, music on hold included.

benchmarks/acd_inbound.py found rtpengine at several ms of CPU per inbound call,
against ~0.4 ms for the offer/answer/delete of benchmarks/call_setup.py. This
isolates the commands. One rtpengine (userspace, as `callcenter up` runs it: ports
7000-7999 here) and the controller's own music on hold (prompts.hold_music). One
call after the other, each through:

1. offer + answer: the caller's leg against the park monologue, as the controller
   parks a caller (the same ng flags: trust-address, replace origin and
   session-connection, ICE remove);
2. `play media` of the music (repeat-times 10,000, as controller/_queue_media.py),
   then at once `stop media` (each measured apart; no music plays in between);
3. `delete`.
Then the music itself: `play media` on 150 calls at once, and the CPU while it streams to
a socket of this process that counts the packets. Last, `play media` of plain tones
of other lengths (`--lengths`, made with sox): does the cost follow the file?

Printed: rtpengine's CPU (utime+stime from /proc) per command for each phase, the
round-trip time per command (p50/p99), and CPU per music packet.

    .venv/bin/python -m benchmarks.rtpengine_play_cost            # 500 calls
    .venv/bin/python -m benchmarks.rtpengine_play_cost --calls 200
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import cpu_seconds, machine_facts, print_facts, session_pids
from callcenter import require_binary
from prompts import hold_music
from rtpengine import NgClient
from simulators import free_port

FLAGS: dict[str, Any] = {
    "flags": ["trust-address"],
    "replace": ["origin", "session-connection"],
    "ICE": "remove",
}
PORT_MIN, PORT_MAX = 7000, 7999  # below the ephemeral range; see acd_inbound.py


def sdp(port: int, origin: str) -> str:
    return (
        f"v=0\r\no={origin} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )


class Sink:
    """A UDP socket that counts what reaches it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.sock.recv(2048)
            except OSError:
                continue
            self.count += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def timed(pid: int, calls: list[str], step: Callable[[str], object]) -> tuple[float, list[float]]:
    """rtpengine CPU seconds for running `step` on every call; each round trip (s)."""
    pids = session_pids(pid) or [pid]
    before = cpu_seconds(pids)
    rtts = []
    for cid in calls:
        t0 = time.perf_counter()
        step(cid)
        rtts.append(time.perf_counter() - t0)
    return cpu_seconds(pids) - before, rtts


def line(name: str, cpu: float, rtts: list[float]) -> str:
    ms = sorted(x * 1000 for x in rtts)
    return (
        f"  {name:24s} {cpu / len(rtts) * 1e6:8.0f} us CPU/command   round trip p50 "
        f"{statistics.median(ms):6.2f} ms  p99 {ms[int(len(ms) * 0.99) - 1]:6.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--music-seconds", type=float, default=5.0)
    parser.add_argument(
        "--lengths",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[1.0, 4.0, 12.0],
        help="tone lengths (s) to play, e.g. 1,4,12",
    )
    args = parser.parse_args(argv)
    print_facts(machine_facts())
    workdir = Path(tempfile.mkdtemp(prefix="bench-rtp-play-"))
    ng_port = free_port()
    sink = Sink()
    proc = subprocess.Popen(
        [
            require_binary("rtpengine"),
            "--config-file=none",
            "--foreground",
            "--table=-1",
            "--interface=127.0.0.1",
            f"--listen-ng=127.0.0.1:{ng_port}",
            f"--port-min={PORT_MIN}",
            f"--port-max={PORT_MAX}",
            "--timeout=60",
            "--delete-delay=0",
            "--log-stderr",
            "--log-level=5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "rtpengine.log").open("wb"),
        start_new_session=True,
    )
    ng = NgClient("127.0.0.1", ng_port, timeout=2.0)
    try:
        deadline = time.monotonic() + 10
        while not ng.ping():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("rtpengine did not start")
            time.sleep(0.1)
        music = str(hold_music(workdir / "prompts"))
        calls = [f"bench-{i}" for i in range(args.calls)]

        def park(cid: str) -> None:
            ng.request(
                "offer",
                **{"call-id": cid, "from-tag": "caller", "sdp": sdp(sink.port, "caller")},
                **FLAGS,
            )
            ng.request(
                "answer",
                **{"call-id": cid, "from-tag": "caller", "to-tag": "park", "sdp": sdp(9, "park")},
                **FLAGS,
            )

        def play(cid: str) -> None:
            ng.request(
                "play media",
                **{"call-id": cid, "from-tag": "caller", "file": music, "repeat-times": 10_000},
            )

        def stop(cid: str) -> None:
            ng.request("stop media", **{"call-id": cid, "from-tag": "caller"})

        def delete(cid: str) -> None:
            ng.request("delete", **{"call-id": cid})

        print(f"{args.calls} calls, one after the other; music {music}")
        spent: dict[str, float] = {}
        trips: dict[str, list[float]] = {}
        for cid in calls:  # one call at a time: park, play, stop at once, delete
            for name, step in (
                ("offer+answer (park)", park),
                ("play media (music)", play),
                ("stop media", stop),
                ("delete", delete),
            ):
                cpu, rtts = timed(proc.pid, [cid], step)
                spent[name] = spent.get(name, 0.0) + cpu
                trips.setdefault(name, []).extend(rtts)
        for name, cpu in spent.items():
            if name.startswith("offer"):  # two commands each time
                print(line(name, cpu / 2, [r / 2 for r in trips[name]]))
            else:
                print(line(name, cpu, trips[name]))

        streaming = calls[: min(len(calls), 150)]  # 4 ports each, of 1,000
        for cid in streaming:
            park(cid)
        for cid in streaming:
            play(cid)
        sink.count = 0
        pids = session_pids(proc.pid) or [proc.pid]
        before = cpu_seconds(pids)
        time.sleep(args.music_seconds)
        cpu = cpu_seconds(pids) - before
        packets = sink.count
        print(
            f"  music streaming to {len(streaming)} parked calls: {packets} packets in "
            f"{args.music_seconds:.0f} s, {cpu / max(packets, 1) * 1e6:.1f} us CPU/packet, "
            f"{cpu / args.music_seconds * 100:.0f}% of a core"
        )
        for cid in streaming:
            delete(cid)

        # Does the cost depend on the file? The same command on plain tones of other
        # lengths (sox, 8 kHz mono 16-bit like the music).
        for seconds in args.lengths:
            tone = workdir / f"tone-{seconds:g}s.wav"
            subprocess.run(
                [
                    "sox",
                    "-n",
                    "-r",
                    "8000",
                    "-c",
                    "1",
                    "-b",
                    "16",
                    str(tone),
                    "synth",
                    str(seconds),
                    "sine",
                    "440",
                    "vol",
                    "0.1",
                ],
                check=True,
                timeout=30,
            )

            def play_tone(cid: str, file: str = str(tone)) -> None:
                ng.request(
                    "play media",
                    **{"call-id": cid, "from-tag": "caller", "file": file, "repeat-times": 10_000},
                )

            spent_s = 0.0
            trip_s: list[float] = []
            for i in range(min(args.calls, 100)):
                cid = f"tone-{seconds:g}-{i}"
                park(cid)
                c, r = timed(proc.pid, [cid], play_tone)
                spent_s, trip_s = spent_s + c, trip_s + r
                delete(cid)
            print(line(f"play media, {seconds:g} s tone", spent_s, trip_s))
    finally:
        ng.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        sink.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
