"""Always-on recording at scale: every call recorded, every file there, every length right.

The issue's benchmark (issue 13): at least 300 concurrent recorded calls of 30 s; over
at least 5,000 recorded calls, 0 missing files and every file's length within
+-100 ms of the CDR's talk time; files deleted as soon as they are checked.

The whole stack runs as `callcenter up` starts it (testbed.running_stack), in a
temporary directory: Redis, rtpengine with `--recording-dir` (the spool), one call
controller, the ACD, Kamailio, the recorder, the CDR service (chDB) and the business
store (SQLite) for the index. The queue records every call (`queues[].record`).

The parties (as benchmarks/acd_inbound.py):
- agents: `--agents` accounts (default: the concurrency plus 10 %), logged in at the
  ACD over gRPC by benchmarks/_acd_desks.py (controller mode: heartbeats only);
- their phones: registered at Kamailio with digest auth, every Contact on ONE answering
  sipp (sipp/bench_rec_agent.xml): 180, 200 `--ring-ms` later, then the BYE;
- the carrier: sipp/bench_rec_caller.xml to the queue's number. sipp keeps at most
  `--concurrency` calls up (-l) and opens a new one as each ends, until `--calls`
  have been placed. A caller holds `--hold-s` after the bridge, then hangs up.
- media: two streamer processes (benchmarks/_rtp_calls.py), one per side, send PCMU
  every 20 ms on every call from the parties' SDP ports to rtpengine: the caller a
  600 Hz tone, the agent 1,400 Hz. Each follows its sipp's log (the port a call offered
  and where rtpengine wants its media), so streams start and stop with the calls.
  What comes back is dropped unread by the kernel and counted per socket.
rtpengine's port range grows with the concurrency (it holds about 8 ports a call).

As each recording is stored (`recording.stored` in the event log), its WAV is checked
and deleted at once:
- it exists, is 8 kHz 16-bit stereo, and its length is recorded;
- the caller's tone is on the left and the agent's on the right (share of each
  channel's energy at its tone), and each channel has sound in 98 % of its 20 ms
  blocks from its first sound to its last (a gap would be packets the recording lost);
- none of the call's pcaps or metadata files is left in the spool (rtpengine names
  them by its call-id, the controller's correlation ID).
Its length is then compared with the call's talk time: the CDR's `talk_s` from the CDR
service (`cdr_list`, by correlation ID), and the controller's own events
(`call.ended` - `call.answered`), both printed; the verdict uses `--talk-from`
(default cdr; a recording whose CDR never came is judged on the events and counted).

Missing: an answered call with no `recording.started`, a started recording with no
`recording.stored` (after the caller's last call and the recorder's
`missing_after_ms`), a `recording.failed`, or a stored file that is not on disk.
The spool must be empty at the end (the recorder deletes each recording's pcaps and
metadata files once its WAV is written): pcaps older than the longest call plus the
missing deadline while the run goes on are counted as stale.

At the end the index (the business store's `recordings` rows) is read back, row by
row, against the events: `stored` with the same duration, or `failed`.

Printed: calls, peak concurrent recorded calls (recording.started/stopped), missing
files, length errors (p50, p99, max) and where they come from (recording.started -
call.answered, call.ended - recording.stopped), recorder lag (recording.stopped ->
recording.stored, p50/p99), CPU per call of rtpengine, the recorder, the controller and
the rest (also net of what each used idle, measured for 5 s before the calls), the
targets and a verdict. Exit status 1 on any miss. A run in which nothing is stored a
minute and a half in stops early.

    .venv/bin/python -m benchmarks.recording_scale    # 5,000 calls, 300 up, 30 s: ~9 min
    .venv/bin/python -m benchmarks.recording_scale --calls 60 --concurrency 20 --hold-s 5
    .venv/bin/python -m benchmarks.recording_scale --talk-from events    # no CDR service
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import shutil
import sys
import tempfile
import time
import wave
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import redis

import bizdata
from analytics import ServiceClient
from benchmarks._acd_desks import Desk, Desks
from benchmarks._harness import (
    CpuMeter,
    machine_facts,
    print_facts,
    session_pids,
    sipp_stats,
    stat_args,
    stop_run,
    udp_rcvbuf_errors,
    wait_for,
)
from benchmarks._rtp_calls import Streamer
from benchmarks.acd_inbound import (
    AGENT_BASE,
    PORT_MAX,
    PORT_MIN,
    inbound_config,
    make_agents,
    rtpengine_ports_used,
)
from callcenter import read_pid
from configuration import split_hostport
from eventlog import (
    CALL_ANSWERED,
    CALL_ENDED,
    DEFAULT_STREAM,
    RECORDING_FAILED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    RECORDING_STORED,
    replay,
)
from simulators import SippRun, free_port, start_sipp, tone_fraction
from testbed import Stack, controller_feed_subscribed, running_stack

TARGET_CONCURRENT = 300
TARGET_CALLS = 5000
TARGET_HOLD_S = 30.0
TARGET_LENGTH_MS = 100.0
NUMBER = "95598"  # acd_inbound's number, target controller, queue `bench`
CALLER = "+8613912345678"
CALLER_HZ, AGENT_HZ = 600, 1400
TONE_SHARE = 0.8  # each channel's energy at its party's tone, at least
# Each channel's 20 ms blocks with sound between its first and last sound, at least
# (files of 2 s or more).
COVERAGE = 0.98
MISSING_AFTER_MS = 30_000  # the recorder's recording.missing_after_ms (the default)
RECV_TIMEOUT_MS = 10_000
IDLE_S = 5.0  # the stack measured with no call, before the run
MEDIA_PORT_FLOOR = 6100  # rtpengine's range never goes below (sipp's defaults: 6000-6003)


# -- the stack ------------------------------------------------------------------------------
def recording_config(
    workdir: Path, agents: dict[str, str], *, cdr: bool, concurrency: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """acd_inbound's stack (one controller, queue `bench` behind number 95598, longest
    idle, no wrap-up) with the queue's always-on recording, the recorder, the index in
    the business store and, with `cdr`, the CDR service."""
    config, passwords = inbound_config(
        workdir, agents, controllers=1, kamailio_workers=4, ring_timeout_ms=5000, wrap_up_ms=0
    )
    # rtpengine holds about 8 ports a call here (the caller's RTP and RTCP facing the
    # park and then the agent, the park's, the agent's): 400 at 50 calls up. acd_inbound's
    # 3,000 (7000-9999) would be 80 % full at 300, so the range grows downwards to 12 a
    # call: below 10000, where free_port()'s band for SIP and control ports begins, and
    # above sipp's default media ports (6000-6003).
    ports = max(PORT_MAX - PORT_MIN + 1, 12 * concurrency)
    config["rtpengine"]["nodes"][0].update(
        port_min=max(MEDIA_PORT_FLOOR, PORT_MAX + 1 - ports), port_max=PORT_MAX
    )
    config["queues"][0]["record"] = True
    config["recording"] = {
        "spool_dir": str(workdir / "spool"),
        "dir": str(workdir / "wav"),
        "missing_after_ms": MISSING_AFTER_MS,
        "listen": f"127.0.0.1:{free_port()}",
    }
    config["bizdata"] = {}
    if cdr:
        config["analytics"] = {
            "data_dir": str(workdir / "chdb"),
            "listen": f"127.0.0.1:{free_port()}",
        }
    return config, passwords


def register_phones(
    stack: Stack, workdir: Path, uas_port: int, passwords: dict[str, str], live: list[SippRun]
) -> float:
    """Every agent registers (digest) with its Contact on the answering sipp's port
    (as acd_inbound.register_phones; the 0600 injection file is deleted at once)."""
    csv = workdir / "phones.inf"
    fd = os.open(csv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("SEQUENTIAL\n")
        for user, password in passwords.items():
            out.write(f"{user};[authentication username={user} password={password}]\n")
    t0 = time.monotonic()
    try:
        run = start_sipp(
            "register",
            "bench_acd_register",
            stack.sip,
            workdir=workdir,
            port=free_port(),
            calls=len(passwords),
            rate=200,
            rate_period_ms=1000,
            limit=100,
            timeout_s=60,
            keys={"realm": stack.realm, "contact_port": uas_port, "expires": 3600},
            extra=["-inf", str(csv), *stat_args(workdir, "register")],
        )
        live.append(run)
        code = stop_run(run, timeout=75)
    finally:
        csv.unlink(missing_ok=True)
    stats = sipp_stats(run)
    if code != 0 or stats["successful"] != len(passwords):
        raise RuntimeError(
            f"registration: {stats['successful']}/{len(passwords)} phones registered "
            f"(sipp exit {code}): {run.errors()[-1500:]}"
        )
    return time.monotonic() - t0


# The daemons whose CPU is measured, as `callcenter up` names them (those present).
DAEMONS = ("rtpengine0", "recorder", "controller0", "kamailio", "acd", "redis", "cdr")


def daemon_groups(stack: Stack) -> dict[str, list[int]]:
    groups = {}
    for name in DAEMONS:
        pid = read_pid(stack.layout, name)
        if pid is not None:
            groups[name.removesuffix("0")] = session_pids(pid)
    return groups


# -- what the run saw -------------------------------------------------------------------------
@dataclass
class Recording:
    ref: str
    cid: str
    started: float
    stopped: float | None = None
    stored: float | None = None
    failed: str = ""
    length_s: float | None = None  # the WAV's frames / rate
    duration_ms: int | None = None  # what recording.stored said
    problems: list[str] = field(default_factory=list)
    left_share: float = 0.0
    right_share: float = 0.0
    left_cover: float = 0.0
    right_cover: float = 0.0
    left_lead_s: float = 0.0  # silence before the caller's first sound
    right_lead_s: float = 0.0  # before the agent's


@dataclass
class CallTimes:
    answered: float | None = None
    ended: float | None = None
    talk_cdr: float | None = None


def _sound(channel: np.ndarray[Any, np.dtype[np.int16]]) -> tuple[float, float]:
    """(seconds before the first sound, share of 20 ms blocks with sound from the first
    to the last block with sound). Sound: above -60 dBFS. A party's media starts a little
    after the recording (the caller's at the bridge's re-INVITE) and the caller's stops
    at its BYE, so only the stretch between counts: a gap there is audio the recording
    lost."""
    blocks = len(channel) // 160
    if blocks == 0:
        return 0.0, 0.0
    x = channel[: blocks * 160].astype(np.float64).reshape(blocks, 160)
    loud = np.einsum("ij,ij->i", x, x) > (32768.0 * 0.001) ** 2 * 160
    where = np.flatnonzero(loud)
    if len(where) == 0:
        return blocks * 0.02, 0.0
    first, last = int(where[0]), int(where[-1])
    return first * 0.02, float(np.mean(loud[first : last + 1]))


def check_wav(path: Path, rec: Recording) -> None:
    """Length, channels and content of one stored WAV (then the caller deletes it)."""
    with wave.open(str(path), "rb") as w:
        rate, channels, width, frames = (
            w.getframerate(),
            w.getnchannels(),
            w.getsampwidth(),
            w.getnframes(),
        )
        data = w.readframes(frames)
    rec.length_s = frames / rate if rate else 0.0
    if (rate, channels, width) != (8000, 2, 2):
        rec.problems.append(f"format {rate} Hz x {channels} ch x {width * 8} bit")
        return
    pcm = np.frombuffer(data, dtype="<i2").reshape(-1, 2)
    left, right = pcm[:, 0], pcm[:, 1]
    rec.left_share = tone_fraction(left, CALLER_HZ)
    rec.right_share = tone_fraction(right, AGENT_HZ)
    (rec.left_lead_s, rec.left_cover), (rec.right_lead_s, rec.right_cover) = (
        _sound(left),
        _sound(right),
    )
    if rec.left_share < TONE_SHARE:
        rec.problems.append(f"left channel {rec.left_share:.2f} caller tone")
    if rec.right_share < TONE_SHARE:
        rec.problems.append(f"right channel {rec.right_share:.2f} agent tone")
    if rec.length_s >= 2.0 and min(rec.left_cover, rec.right_cover) < COVERAGE:
        rec.problems.append(
            f"gaps: sound in {rec.left_cover:.1%} / {rec.right_cover:.1%} of the blocks "
            "between the first and the last sound"
        )


class Watcher:
    """Reads the event log as the run goes; checks and deletes each stored WAV."""

    def __init__(self, events: redis.Redis, wav_dir: Path, spool: Path, *, stale_s: float) -> None:
        self.events = events
        self.wav_dir = wav_dir
        self.spool = spool
        self.stale_s = stale_s
        self.last_id = "0"
        self.recordings: dict[str, Recording] = {}
        self.calls: dict[str, CallTimes] = {}
        self.failures: Counter[str] = Counter()
        self.unknown_stored = 0
        self.files_missing = 0
        self.files_checked = 0
        self.spool_peak = 0
        self.spool_left_at_stored = 0  # stored recordings whose pcaps were still there
        self.spool_stale = 0
        self.check_s = 0.0  # this process's time in WAV checks

    def poll(self) -> int:
        n = 0
        for delivery in replay(self.events, stream=DEFAULT_STREAM, from_id=self.last_id):
            self.last_id = "(" + delivery.entry_id
            self._event(delivery.event)
            n += 1
        return n

    def _event(self, event: Any) -> None:
        kind, cid = event.kind, event.correlation_id
        if kind == CALL_ANSWERED:
            self.calls.setdefault(cid, CallTimes()).answered = event.ts
        elif kind == CALL_ENDED:
            self.calls.setdefault(cid, CallTimes()).ended = event.ts
        elif kind == RECORDING_STARTED:
            ref = event["ref"]
            self.recordings.setdefault(ref, Recording(ref, cid, event.ts))
        elif kind == RECORDING_STOPPED:
            rec = self.recordings.get(event["ref"])
            if rec is not None:
                rec.stopped = event.ts
        elif kind == RECORDING_STORED:
            rec = self.recordings.get(event["ref"])
            if rec is None:
                self.unknown_stored += 1
                return
            rec.stored = event.ts
            with contextlib.suppress(ValueError):
                rec.duration_ms = int(event["duration_ms"])
            self._check(rec, event["file"])
        elif kind == RECORDING_FAILED:
            ref = event["ref"]
            reason = event["reason"]
            self.failures[reason] += 1
            rec = self.recordings.get(ref)
            if rec is not None:
                rec.failed = f"{reason}: {event['detail']}"[:200]
            # A failed recording may keep what it could write (reason short): not kept here.
            if ref and self.wav_dir.exists():
                for path in self.wav_dir.rglob(f"{glob.escape(ref)}.wav"):
                    path.unlink(missing_ok=True)

    def _check(self, rec: Recording, file: str) -> None:
        path = Path(file)
        if not path.is_absolute():
            path = self.wav_dir / path
        if not path.is_file():
            self.files_missing += 1
            rec.problems.append(f"no file {path}")
            return
        t0 = time.process_time()
        try:
            check_wav(path, rec)
        except (OSError, EOFError, wave.Error) as exc:
            rec.problems.append(f"unreadable WAV: {exc}")
        finally:
            self.check_s += time.process_time() - t0
            path.unlink(missing_ok=True)  # little free disk: delete as soon as checked
        self.files_checked += 1
        # The recorder deletes a recording's pcaps and metadata files before it reports
        # it stored; rtpengine names them by its call-id, the controller's correlation ID.
        left = [
            *self.spool.glob(f"pcaps/{glob.escape(rec.cid)}-*.pcap"),
            *self.spool.glob(f"metadata/rtpengine-meta-{glob.escape(rec.cid)}-*"),
        ]
        if left:
            self.spool_left_at_stored += 1
            rec.problems.append(f"left in the spool after stored: {[p.name for p in left]}")

    def spool_scan(self) -> tuple[int, int]:
        """(pcaps, metadata files) in the spool now; tracks the peak and stale pcaps."""
        now = time.time()
        pcaps = meta = 0
        stale = 0
        for name, sub in (("pcaps", "pcaps"), ("metadata", "metadata")):
            try:
                entries = list(os.scandir(self.spool / sub))
            except OSError:
                continue
            if name == "pcaps":
                pcaps = len(entries)
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if now - entry.stat().st_mtime > self.stale_s:
                            stale += 1
            else:
                meta = len(entries)
        self.spool_peak = max(self.spool_peak, pcaps)
        self.spool_stale = max(self.spool_stale, stale)
        return pcaps, meta

    def open_refs(self) -> list[Recording]:
        return [r for r in self.recordings.values() if r.stored is None and not r.failed]

    def fetch_cdrs(self, client: ServiceClient | None, *, final: bool = False) -> int:
        """talk_s of the ended calls whose CDR has not been read yet; how many are left."""
        if client is None:
            return 0
        want = [cid for cid, c in self.calls.items() if c.ended is not None and c.talk_cdr is None]
        for i in range(0, len(want), 400):
            try:
                frame = client.report("cdr_list", correlation_ids=want[i : i + 400])
            except Exception as exc:  # the service is busy: the next round asks again
                if final:
                    print(f"  CDR service: {exc}")
                return len(want)
            for row in frame.to_dict("records"):
                call = self.calls.get(str(row["correlation_id"]))
                if call is not None and row.get("talk_s") is not None:
                    call.talk_cdr = float(row["talk_s"])
        return sum(1 for c in self.calls.values() if c.ended is not None and c.talk_cdr is None)


def index_check(stack: Stack, recordings: Sequence[Recording]) -> list[str]:
    """The index (business store) against what the event log said, one row per recording:
    `stored` with the same file length, or `failed`. Its problems (empty: it agrees)."""
    url = bizdata.store_url(stack.config.bizdata, stack.layout.root)
    engine = bizdata.open_engine(url, read_only=True)
    problems = []
    try:
        for rec in recordings:
            try:
                row = bizdata.get_recording(engine, rec.ref)
            except bizdata.StoreError as exc:
                problems.append(f"{rec.ref}: {exc}")
                continue
            want = "stored" if rec.stored is not None else "failed" if rec.failed else "stored"
            if row["status"] != want:
                problems.append(f"{rec.ref}: index status {row['status']}, expected {want}")
            elif want == "stored" and row["duration_ms"] != rec.duration_ms:
                problems.append(
                    f"{rec.ref}: index duration {row['duration_ms']} ms, "
                    f"recording.stored {rec.duration_ms} ms"
                )
    finally:
        engine.dispose()
    return problems


def peak_concurrent(recordings: Sequence[Recording]) -> int:
    """The most recordings running at once (started ... stopped, by the events' ts)."""
    marks = [(r.started, 1) for r in recordings]
    marks += [(r.stopped, -1) for r in recordings if r.stopped is not None]
    marks.sort(key=lambda m: (m[0], m[1]))  # a stop before a start at the same instant
    level = peak = 0
    for _, step in marks:
        level += step
        peak = max(peak, level)
    return peak


def _ms(a: float | None, b: float | None) -> str:
    return "?" if a is None or b is None else f"{(a - b) * 1000:.0f} ms"


def _spread(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "min": min(values),
        "p50": pct(values, 0.5),
        "p99": pct(values, 0.99),
        "max": max(values),
    }


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- the run -------------------------------------------------------------------------------------
@dataclass
class Result:
    calls: int
    concurrency: int
    hold_s: float
    talk_from: str
    placed: int = 0
    successful: int = 0
    failed_calls: int = 0
    answered: int = 0
    recordings: int = 0
    stored: int = 0
    checked: int = 0
    peak_recorded: int = 0
    answered_unrecorded: int = 0
    not_stored: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    files_missing: int = 0
    missing_files: int = 0  # all of the above: answered calls without their file
    content_problems: int = 0
    first_problems: list[str] = field(default_factory=list)
    length_n: int = 0
    length_err_max_ms: float = math.nan
    length_err_p99_ms: float = math.nan
    length_err_p50_ms: float = math.nan
    over_100ms: int = 0
    length_outliers: list[str] = field(default_factory=list)
    # Where a length error comes from: recording.started - call.answered, and
    # call.ended - recording.stopped (min, p50, p99, max in ms).
    start_offset_ms: dict[str, float] = field(default_factory=dict)
    end_offset_ms: dict[str, float] = field(default_factory=dict)
    length_err_events_max_ms: float = math.nan
    length_err_events_p99_ms: float = math.nan
    length_err_cdr_max_ms: float = math.nan
    length_err_cdr_p99_ms: float = math.nan
    no_cdr: int = 0
    duration_field_err_max_ms: float = math.nan
    lag_p50_s: float = math.nan
    lag_p99_s: float = math.nan
    lag_max_s: float = math.nan
    min_tone_share: float = math.nan
    min_coverage: float = math.nan
    caller_lead_max_s: float = math.nan
    agent_lead_max_s: float = math.nan
    spool_peak_pcaps: int = 0
    spool_stale_pcaps: int = 0
    pcaps_left_at_stored: int = 0
    index_mismatches: int = 0  # the business store's rows against the events
    spool_left: tuple[int, int] = (0, 0)
    wav_left: int = 0
    cpu_ms_per_call: dict[str, float] = field(default_factory=dict)
    core_pct: dict[str, float] = field(default_factory=dict)
    idle_core_pct: dict[str, float] = field(default_factory=dict)  # with no call
    net_ms_per_call: dict[str, float] = field(default_factory=dict)  # minus that idle
    machine_busy_pct: float = 0.0
    others_busy_pct: float = 0.0
    wall_s: float = 0.0
    rtp: dict[str, dict[str, Any]] = field(default_factory=dict)
    udp_rcvbuf_drops: int = 0
    rtpengine_ports_peak: int = 0
    rtpengine_ports: str = ""  # its range
    load_at_start: float = 0.0

    def misses(self) -> list[str]:
        checks = [
            (self.failed_calls == 0, f"{self.failed_calls} calls failed at the caller"),
            (
                self.peak_recorded >= self.concurrency,
                f"peak {self.peak_recorded} concurrent recorded calls < {self.concurrency}",
            ),
            (
                self.answered_unrecorded == 0,
                f"{self.answered_unrecorded} answered calls unrecorded",
            ),
            (self.not_stored == 0, f"{self.not_stored} recordings never stored"),
            (not self.failed, f"recording.failed: {self.failed}"),
            (self.files_missing == 0, f"{self.files_missing} stored files missing on disk"),
            (self.content_problems == 0, f"{self.content_problems} files with wrong content"),
            (self.over_100ms == 0, f"{self.over_100ms} files off the talk time by > 100 ms"),
            (self.spool_left == (0, 0), f"spool not empty at the end: {self.spool_left}"),
            (
                self.index_mismatches == 0,
                f"{self.index_mismatches} index rows disagree with the events",
            ),
            (
                self.pcaps_left_at_stored == 0,
                f"{self.pcaps_left_at_stored} recordings' pcaps still in the spool when stored",
            ),
            (self.spool_stale_pcaps == 0, f"{self.spool_stale_pcaps} stale pcaps in the spool"),
            (self.checked == self.answered, f"{self.checked} files checked of {self.answered}"),
        ]
        return [problem for ok, problem in checks if not ok]


def run(args: argparse.Namespace, workdir: Path) -> Result:
    result = Result(args.calls, args.concurrency, args.hold_s, args.talk_from)
    result.load_at_start = os.getloadavg()[0]
    agents = make_agents(args.agents)
    config, passwords = recording_config(
        workdir / "stack", agents, cdr=args.talk_from == "cdr", concurrency=args.concurrency
    )
    live: list[SippRun] = []
    streamers: list[Streamer] = []
    t0 = time.monotonic()
    with running_stack(workdir / "stack", config, passwords) as stack:
        assert stack.config.acd is not None
        print(f"stack up in {time.monotonic() - t0:.1f} s: {sorted(daemon_groups(stack))}")
        host, port = split_hostport(stack.config.redis.listen)
        events = redis.Redis(host=host, port=port)
        cdr = (
            ServiceClient(stack.config.analytics.url(), timeout=10)
            if stack.config.analytics is not None
            else None
        )
        desks = Desks(
            stack.config.acd.listen,
            [
                Desk(user, password, int(user), int(user) - AGENT_BASE)
                for user, password in agents.items()
            ],
        )
        uas_port = free_port()
        try:
            log = stack.layout.log_file("controller0")
            wait_for(lambda: controller_feed_subscribed(log.read_text()), 15, "the ACD action feed")
            took = register_phones(stack, workdir, uas_port, passwords, live)
            login = desks.start()
            if login["logged_in"] != args.agents:
                raise RuntimeError(f"logins: {login}")
            print(
                f"{args.agents} phones registered in {took:.1f} s and logged in at the ACD "
                f"in {login['seconds']:.1f} s"
            )
            result = measure(
                args,
                stack=stack,
                events=events,
                cdr=cdr,
                desks_pid=desks.pid,
                uas_port=uas_port,
                live=live,
                streamers=streamers,
                result=result,
            )
            print(f"desks: {desks.stop()}")
        finally:
            for s in streamers:
                with contextlib.suppress(Exception):
                    s.stop()
            for r in live:
                r.stop()
            desks.kill()
            events.close()
    return result


def measure(
    args: argparse.Namespace,
    *,
    stack: Stack,
    events: redis.Redis,
    cdr: ServiceClient | None,
    desks_pid: int,
    uas_port: int,
    live: list[SippRun],
    streamers: list[Streamer],
    result: Result,
) -> Result:
    assert stack.config.recording is not None
    workdir = stack.workdir.parent
    hold_ms = int(args.hold_s * 1000)
    rate = args.rate or min(50.0, max(1.0, 2 * args.concurrency / max(args.hold_s, 1.0)))
    expected_s = args.calls / args.concurrency * (args.hold_s + 1) + args.concurrency / rate
    timeout_s = int(2 * expected_s + 120)
    pool = 2 * args.concurrency + 50  # RTP ports per side, dealt round by sipp
    caller_log, agent_log = workdir / "callers.log", workdir / "agents.log"
    for path in (caller_log, agent_log):
        path.unlink(missing_ok=True)
    max_stream_s = args.hold_s + 60
    callers_rtp = Streamer(
        "caller",
        count=pool,
        log_path=caller_log,
        freq_hz=CALLER_HZ,
        ssrc_base=0x10000000,
        max_stream_s=max_stream_s,
    )
    streamers.append(callers_rtp)
    agents_rtp = Streamer(
        "agent",
        count=pool,
        log_path=agent_log,
        freq_hz=AGENT_HZ,
        ssrc_base=0x20000000,
        max_stream_s=max_stream_s,
    )
    streamers.append(agents_rtp)
    callers_rtp.write_inf(workdir / "callers.inf")
    agents_rtp.write_inf(workdir / "agents.inf")
    sipp_tuning = ["-buff_size", "4194304", "-max_recv_loops", "10000", "-max_sched_loops", "10000"]
    agent = start_sipp(
        "agents",
        "bench_rec_agent",
        stack.sip,
        workdir=workdir,
        port=uas_port,
        media_port=free_port(),
        calls=args.calls + args.agents,  # stopped by us; a re-rung call counts twice
        pause_ms=args.ring_ms,
        timeout_s=timeout_s + 60,
        extra=["-inf", str(workdir / "agents.inf"), *stat_args(workdir, "agents"), *sipp_tuning],
    )
    live.append(agent)
    # sipp has no "ready" signal; a UAS that fails to bind exits at once.
    with contextlib.suppress(Exception):
        agent.process.wait(timeout=0.3)
    if agent.process.poll() is not None:
        raise RuntimeError(f"the agents' sipp did not start: {agent.errors()[-1000:]}")

    recording = stack.config.recording
    run_dir = Path(stack.config.node.run_dir)
    wav_dir = Path(recording.dir) if Path(recording.dir).is_absolute() else run_dir / recording.dir
    spool = (
        Path(recording.spool_dir)
        if Path(recording.spool_dir).is_absolute()
        else run_dir / recording.spool_dir
    )
    watcher = Watcher(events, wav_dir, spool, stale_s=args.hold_s + 60 + MISSING_AFTER_MS / 1000)
    watcher.poll()  # what came before (nothing recorded yet)
    groups = daemon_groups(stack)
    groups["sipp"] = [agent.process.pid]
    groups["rtp streamers"] = [callers_rtp.pid, agents_rtp.pid]
    groups["desks"] = [desks_pid]
    groups["bench"] = [os.getpid()]
    # Idle first: what each part costs with no call (the desks' heartbeats, the CDR
    # service's and the recorder's polling), so the per-call figures can be read net.
    idle = CpuMeter({n: list(pids) for n, pids in groups.items()})
    idle.start()
    time.sleep(IDLE_S)
    idle.stop()
    result.idle_core_pct = {n: used / idle.wall * 100 for n, used in idle.used.items()}
    meter = CpuMeter(groups)
    drops = udp_rcvbuf_errors()
    meter.start()
    caller = start_sipp(
        "callers",
        "bench_rec_caller",
        stack.sip,
        workdir=workdir,
        port=free_port(),
        media_port=free_port(),
        service=NUMBER,
        calls=args.calls,
        rate=round(rate, 2),
        rate_period_ms=1000,
        limit=args.concurrency,
        pause_ms=hold_ms,
        timeout_s=timeout_s,
        keys={"caller": CALLER},
        extra=[
            "-inf",
            str(workdir / "callers.inf"),
            *stat_args(workdir, "callers"),
            "-recv_timeout",
            str(RECV_TIMEOUT_MS),
            *sipp_tuning,
        ],
    )
    live.append(caller)
    meter.groups["sipp"].append(caller.process.pid)
    print(
        f"{args.calls} calls, at most {args.concurrency} up (sipp -l), opened at up to "
        f"{rate:.1f}/s, each held {args.hold_s:g} s after the bridge; expected ~{expected_s:.0f} s"
    )
    started = time.monotonic()
    ports_peak = 0
    next_print = started + 10
    next_slow = 0.0
    next_cdr = time.monotonic() + 10
    deadline = started + timeout_s + 30
    while caller.process.poll() is None and time.monotonic() < deadline:
        watcher.poll()
        if time.monotonic() >= next_slow:
            ports_peak = max(ports_peak, rtpengine_ports_used(stack))
            watcher.spool_scan()
            next_slow = time.monotonic() + 2
        if time.monotonic() >= next_cdr:
            # Every 10 s, in batches: each cdr_list is a chDB query (FINAL) that costs the
            # CDR service CPU measured here; the CDR is compared once the run is over.
            watcher.fetch_cdrs(cdr)
            next_cdr = time.monotonic() + 10
        if time.monotonic() >= next_print:
            progress(watcher, time.monotonic() - started)
            next_print += 10
            stored = sum(1 for r in watcher.recordings.values() if r.stored is not None)
            if not stored and time.monotonic() - started > args.hold_s + 90:
                # Nothing stored a minute and a half after the first calls ended: the
                # recording path is broken; do not make the lead wait out the run.
                print("stopping early: no recording stored yet")
                caller.stop()
                break
        time.sleep(0.2)
    caller_exit = stop_run(caller, timeout=max(1.0, deadline - time.monotonic()))
    print(f"callers done after {time.monotonic() - started:.0f} s (sipp exit {caller_exit})")
    # Every recording stored or failed: the recorder reports a missing one after
    # missing_after_ms; past that (and a margin), what is open is missing.
    settle = time.monotonic() + MISSING_AFTER_MS / 1000 + 30
    while time.monotonic() < settle:
        watcher.poll()
        watcher.spool_scan()
        answered = {cid for cid, c in watcher.calls.items() if c.answered is not None}
        ended = {cid for cid, c in watcher.calls.items() if c.ended is not None}
        if not watcher.open_refs() and answered <= ended:
            break
        time.sleep(0.2)
    meter.stop()
    result.rtp = {"caller": callers_rtp.stop(), "agent": agents_rtp.stop()}
    result.rtpengine_ports_peak = ports_peak
    node = stack.config.rtpengine.nodes[0]
    result.rtpengine_ports = (
        f"{node.port_max - node.port_min + 1} ({node.port_min}-{node.port_max})"
    )
    streamers.clear()
    stop_run(agent, timeout=5)
    # The streamers let the kernel drop what comes back to them (benchmarks/_rtp_calls.py):
    # the rest of the machine's receive-buffer drops would be rtpengine's, or others'.
    result.udp_rcvbuf_drops = (
        udp_rcvbuf_errors()
        - drops
        - sum(int(rep.get("received", 0)) for rep in result.rtp.values())
    )
    if cdr is not None:  # the last CDRs: up to 30 s after the last hang-up
        last = time.monotonic() + 30
        while watcher.fetch_cdrs(cdr) and time.monotonic() < last:
            time.sleep(1.0)
    watcher.poll()
    spool_left = watcher.spool_scan()
    summarise(
        result, watcher=watcher, caller=caller, meter=meter, spool_left=spool_left, wav_dir=wav_dir
    )
    problems = index_check(stack, list(watcher.recordings.values()))
    result.index_mismatches = len(problems)
    result.first_problems += problems[:5]
    return result


def progress(watcher: Watcher, elapsed: float) -> None:
    recs = list(watcher.recordings.values())
    running = sum(1 for r in recs if r.stopped is None and not r.failed)
    stored = [r for r in recs if r.stored is not None]
    lags = [r.stored - r.stopped for r in stored if r.stopped is not None and r.stored is not None]
    problems = sum(1 for r in recs if r.problems)
    pcaps, meta = watcher.spool_scan()
    print(
        f"  {elapsed:5.0f} s: answered {sum(1 for c in watcher.calls.values() if c.answered)}, "
        f"recording {running}, stored {len(stored)}, failed {sum(watcher.failures.values())}, "
        f"problems {problems}; lag p50 {pct(lags, 0.5):.2f} s p99 {pct(lags, 0.99):.2f} s; "
        f"spool {pcaps} pcaps {meta} metadata; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def summarise(
    result: Result,
    *,
    watcher: Watcher,
    caller: SippRun,
    meter: CpuMeter,
    spool_left: tuple[int, int],
    wav_dir: Path,
) -> None:
    stats = sipp_stats(caller)
    recs = list(watcher.recordings.values())
    calls = watcher.calls
    result.placed = stats["outgoing"]
    result.successful = stats["successful"]
    result.failed_calls = stats["failed"]
    result.answered = sum(1 for c in calls.values() if c.answered is not None)
    result.recordings = len(recs)
    result.stored = sum(1 for r in recs if r.stored is not None)
    result.checked = watcher.files_checked
    result.peak_recorded = peak_concurrent(recs)
    recorded_cids = {r.cid for r in recs}
    result.answered_unrecorded = sum(
        1 for cid, c in calls.items() if c.answered is not None and cid not in recorded_cids
    )
    result.not_stored = sum(1 for r in recs if r.stored is None and not r.failed)
    result.failed = dict(watcher.failures)
    result.files_missing = watcher.files_missing
    result.missing_files = (
        result.answered_unrecorded
        + result.not_stored
        + sum(1 for r in recs if r.failed)
        + result.files_missing
    )
    bad = [r for r in recs if r.problems]
    result.content_problems = sum(
        1
        for r in bad
        if any(not p.startswith(("no file", "left in the spool")) for p in r.problems)
    )
    result.pcaps_left_at_stored = watcher.spool_left_at_stored
    result.first_problems = [f"{r.ref} ({r.cid}): {'; '.join(r.problems)}" for r in bad[:5]]
    errors, errors_events, errors_cdr, field_errors = [], [], [], []
    start_lags, end_lags = [], []  # recording.started - call.answered, call.ended - stopped
    result.no_cdr = 0
    for r in recs:
        if r.length_s is None:
            continue
        call = calls.get(r.cid, CallTimes())
        talk_events = (
            call.ended - call.answered
            if call.ended is not None and call.answered is not None
            else None
        )
        if talk_events is not None:
            errors_events.append(abs(r.length_s - talk_events) * 1000)
        if call.answered is not None:
            start_lags.append((r.started - call.answered) * 1000)
        if call.ended is not None and r.stopped is not None:
            end_lags.append((call.ended - r.stopped) * 1000)
        if call.talk_cdr is not None:
            errors_cdr.append(abs(r.length_s - call.talk_cdr) * 1000)
        if r.duration_ms is not None:
            field_errors.append(abs(r.length_s * 1000 - r.duration_ms))
        talk = call.talk_cdr if result.talk_from == "cdr" else talk_events
        if talk is None and result.talk_from == "cdr":
            result.no_cdr += 1
            talk = talk_events
        if talk is None:
            r.problems.append("no talk time (no call.answered/ended)")
            continue
        errors.append(abs(r.length_s - talk) * 1000)
        if abs(r.length_s - talk) * 1000 > TARGET_LENGTH_MS and len(result.length_outliers) < 5:
            result.length_outliers.append(
                f"{r.ref} ({r.cid}): file {r.length_s:.3f} s, talk {talk:.3f} s; "
                f"recording.started - call.answered "
                f"{_ms(r.started, call.answered)}, call.ended - recording.stopped "
                f"{_ms(call.ended, r.stopped)}"
            )
    result.start_offset_ms = _spread(start_lags)
    result.end_offset_ms = _spread(end_lags)
    result.length_n = len(errors)
    result.length_err_max_ms = max(errors, default=math.nan)
    result.length_err_p99_ms = pct(errors, 0.99)
    result.length_err_p50_ms = pct(errors, 0.5)
    result.over_100ms = sum(1 for e in errors if e > TARGET_LENGTH_MS)
    result.length_err_events_max_ms = max(errors_events, default=math.nan)
    result.length_err_events_p99_ms = pct(errors_events, 0.99)
    result.length_err_cdr_max_ms = max(errors_cdr, default=math.nan)
    result.length_err_cdr_p99_ms = pct(errors_cdr, 0.99)
    result.duration_field_err_max_ms = max(field_errors, default=math.nan)
    lags = [r.stored - r.stopped for r in recs if r.stored is not None and r.stopped is not None]
    result.lag_p50_s, result.lag_p99_s = pct(lags, 0.5), pct(lags, 0.99)
    result.lag_max_s = max(lags, default=math.nan)
    checked = [r for r in recs if r.length_s is not None and r.length_s >= 2.0]
    result.min_tone_share = min(
        (min(r.left_share, r.right_share) for r in checked), default=math.nan
    )
    result.min_coverage = min((min(r.left_cover, r.right_cover) for r in checked), default=math.nan)
    result.caller_lead_max_s = max((r.left_lead_s for r in checked), default=math.nan)
    result.agent_lead_max_s = max((r.right_lead_s for r in checked), default=math.nan)
    result.spool_peak_pcaps = watcher.spool_peak
    result.spool_stale_pcaps = watcher.spool_stale
    result.spool_left = spool_left
    result.wav_left = sum(1 for _ in wav_dir.rglob("*.wav")) if wav_dir.exists() else 0
    per_call = max(1, result.answered)
    result.cpu_ms_per_call = {n: s * 1000 / per_call for n, s in meter.used.items()}
    result.cpu_ms_per_call["bench WAV checks"] = watcher.check_s * 1000 / per_call
    result.core_pct = {n: s / meter.wall * 100 for n, s in meter.used.items()}
    result.net_ms_per_call = {
        n: max(0.0, s - result.idle_core_pct.get(n, 0.0) / 100 * meter.wall) * 1000 / per_call
        for n, s in meter.used.items()
    }
    result.machine_busy_pct = meter.machine_busy * 100
    result.others_busy_pct = meter.others_busy * 100
    result.wall_s = meter.wall


def report(r: Result) -> None:
    print()
    print(
        f"calls: {r.placed} placed, {r.successful} successful, {r.failed_calls} failed; "
        f"{r.answered} answered by an agent"
    )
    print(
        f"recordings: {r.recordings} started, {r.stored} stored, {r.checked} files checked "
        f"and deleted; peak concurrent recorded calls {r.peak_recorded}"
    )
    print(
        f"missing files: {r.missing_files} ({r.answered_unrecorded} answered calls unrecorded, "
        f"{r.not_stored} never stored, failed {r.failed or 0}, {r.files_missing} stored files "
        f"not on disk)"
    )
    source = "CDR talk_s (CDR service)" if r.talk_from == "cdr" else "events (ended - answered)"
    print(
        f"length |file - talk time| against {source}, {r.length_n} files: "
        f"p50 {r.length_err_p50_ms:.1f} ms, p99 {r.length_err_p99_ms:.1f} ms, "
        f"max {r.length_err_max_ms:.1f} ms; {r.over_100ms} over {TARGET_LENGTH_MS:.0f} ms"
        + (f" ({r.no_cdr} without a CDR, judged on the events)" if r.no_cdr else "")
    )
    print(
        f"  against the CDR: p99 {r.length_err_cdr_p99_ms:.1f} ms, max "
        f"{r.length_err_cdr_max_ms:.1f} ms; against the events: p99 "
        f"{r.length_err_events_p99_ms:.1f} ms, max {r.length_err_events_max_ms:.1f} ms; "
        f"recording.stored duration_ms vs the file: max {r.duration_field_err_max_ms:.1f} ms"
    )
    for line in r.length_outliers:
        print(f"  {line}")
    for label, spread in (
        ("recording.started - call.answered", r.start_offset_ms),
        ("call.ended - recording.stopped", r.end_offset_ms),
    ):
        if spread:
            print(f"  {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in spread.items()) + " ms")
    print(
        f"content: {r.content_problems} files wrong; lowest tone share {r.min_tone_share:.3f}, "
        f"lowest share of 20 ms blocks with sound {r.min_coverage:.3f}; silence before the "
        f"first sound: caller max {r.caller_lead_max_s:.2f} s (its media starts at the "
        f"bridge's re-INVITE), agent max {r.agent_lead_max_s:.2f} s"
    )
    for line in r.first_problems:
        print(f"  {line}")
    print(
        f"index (business store): {r.recordings - r.index_mismatches} of {r.recordings} rows "
        f"agree with the events (status, duration)"
    )
    print(
        f"recorder lag (recording.stopped -> recording.stored): p50 {r.lag_p50_s:.2f} s, "
        f"p99 {r.lag_p99_s:.2f} s, max {r.lag_max_s:.2f} s"
    )
    print(
        f"spool: peak {r.spool_peak_pcaps} pcaps, stale {r.spool_stale_pcaps}; pcaps or "
        f"metadata still there at recording.stored: {r.pcaps_left_at_stored} recordings; "
        f"left at the end "
        f"{r.spool_left[0]} pcaps + {r.spool_left[1]} metadata; WAV files left {r.wav_left}"
    )
    cores = os.cpu_count() or 1
    print(
        f"CPU over {r.wall_s:.0f} s (per answered call; net of what it used idle, "
        f"measured {IDLE_S:.0f} s before the calls; share of one core), machine "
        f"{r.machine_busy_pct:.0f} % of {cores} cores busy, others {r.others_busy_pct:.0f} %:"
    )
    print(f"  {'':18s} {'ms/call':>9s} {'net of idle':>12s} {'% of a core':>12s} {'idle %':>7s}")
    for name, ms in sorted(r.cpu_ms_per_call.items(), key=lambda kv: -kv[1]):
        net = r.net_ms_per_call.get(name)
        share = r.core_pct.get(name)
        idle = r.idle_core_pct.get(name)
        print(
            f"  {name:18s} {ms:9.1f} "
            + (f"{net:12.1f} " if net is not None else f"{'':12s} ")
            + (f"{share:12.1f} " if share is not None else f"{'':12s} ")
            + (f"{idle:7.1f}" if idle is not None else "")
        )
    for side, rep in r.rtp.items():
        print(
            f"  rtp {side}: {rep.get('started', 0)} streams (peak {rep.get('peak_streams', 0)}), "
            f"{rep.get('sent', 0)} sent, {rep.get('received', 0)} came back (dropped unread), "
            f"late ticks "
            f"{rep.get('late_ticks', 0)}, skipped {rep.get('skipped_ticks', 0)}, expired "
            f"{rep.get('expired', 0)}, replaced {rep.get('replaced', 0)}"
        )
    print(f"  rtpengine ports in use: peak {r.rtpengine_ports_peak} of {r.rtpengine_ports}")
    print(
        f"  UDP receive-buffer drops on the machine, besides the streamers' own: "
        f"{r.udp_rcvbuf_drops}"
    )


def verdict(r: Result) -> bool:
    misses = r.misses()
    print()
    print(
        f"targets (issue 13): >= {TARGET_CONCURRENT} concurrent recorded calls of "
        f"{TARGET_HOLD_S:.0f} s; >= {TARGET_CALLS} recorded calls with 0 missing files and "
        f"every length within +-{TARGET_LENGTH_MS:.0f} ms of the CDR's talk time"
    )
    full = (
        r.concurrency >= TARGET_CONCURRENT
        and r.calls >= TARGET_CALLS
        and r.hold_s >= TARGET_HOLD_S
        and r.talk_from == "cdr"
    )
    if misses:
        print("verdict: FAIL: " + "; ".join(misses))
    elif full:
        print(
            f"verdict: PASS: {r.stored} recorded calls, peak {r.peak_recorded} at once, 0 "
            f"missing, max length error {r.length_err_max_ms:.1f} ms"
        )
    else:
        print(
            f"verdict: PASS for this run ({r.calls} calls, {r.concurrency} up, "
            f"{r.hold_s:g} s); a short run: the issue's targets need the defaults"
        )
    return not misses


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=TARGET_CALLS)
    parser.add_argument("--concurrency", type=int, default=TARGET_CONCURRENT)
    parser.add_argument("--hold-s", type=float, default=TARGET_HOLD_S)
    parser.add_argument(
        "--agents", type=int, default=0, help="default: the concurrency plus 10 %% (at least 5)"
    )
    parser.add_argument("--ring-ms", type=int, default=100, help="the phones ring this long")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="calls/s sipp opens at most (default 2 C / hold)"
    )
    parser.add_argument(
        "--talk-from",
        choices=("cdr", "events"),
        default="cdr",
        help="the talk time the length is judged against: the CDR service's talk_s, or "
        "call.ended - call.answered from the event log (no CDR service then)",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.agents <= 0:
        args.agents = args.concurrency + max(5, args.concurrency // 10)
    if args.calls < args.concurrency:
        parser.error("--calls must be at least --concurrency")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    facts = machine_facts()
    print_facts(facts)
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-rec-"))
    workdir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(workdir).free / 2**30
    print(
        f"load average at start: {os.getloadavg()[0]:.2f}; workdir {workdir} "
        f"({free:.0f} GiB free); {args.agents} agents"
    )
    try:
        result = run(args, workdir)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(result)
    ok = verdict(result)
    if args.json:
        args.json.write_text(json.dumps({"facts": facts, **asdict(result)}, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
