"""The recorder process (`python -m recorder`) on real parts: redis-server, rtpengine
writing pcaps into a spool, the SQLite business store.

Each test plays the controller: it sets up a call in rtpengine, starts and stops its
recording through the ng protocol while RTP flows from a caller and an agent, and writes
the recording events to the log; then it waits (with deadlines) for what the recorder
must do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

import bizdata
import recording
from controller import RtpengineNg
from eventlog import (
    RECORDING_FAILED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    RECORDING_STORED,
    VOICEMAIL_LEFT,
    Event,
    EventLog,
    replay,
)
from simulators import RtpEndpoint, free_port
from testbed import ROOT, redis_server, running_rtpengine, wait_until

STREAM = "rt:events"
PREFIX = "rt:"
CALLER_MARK, AGENT_MARK, MIXER_MARK = 0x11, 0x22, 0x33
# The monitoring mixer of the config (mixer0, on this host): never started here; its
# RTP comes from an address of its own, so any packet from there is the mixer's.
MIXER_HOST = "127.0.0.5"
MIXER_NG_PORT = 2299

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)


@dataclass
class Recorder:
    process: subprocess.Popen[bytes]
    listen: str
    log: Path

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://{self.listen}/metrics", timeout=2) as response:
            return str(response.read().decode())

    def metric(self, series: str) -> float:
        for line in self.metrics().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0

    def healthy(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://{self.listen}/healthz", timeout=1) as response:
                return bool(json.loads(response.read())["ok"])
        except OSError:
            return False


@dataclass
class Rig:
    tmp: Path
    redis: redis.Redis
    engine: Any
    ng_port: int
    spool: Path
    wav_dir: Path
    voicemail_dir: Path
    recorder: Recorder

    @property
    def media_node(self) -> str:
        return f"127.0.0.1:{self.ng_port}"

    def events(self, kind: str) -> list[Event]:
        return [d.event for d in replay(self.redis, stream=STREAM) if d.event.kind == kind]


def write_config(
    path: Path,
    *,
    run: Path,
    ng_port: int,
    redis_port: int,
    store: Path,
    spool: Path,
    wav_dir: Path,
    voicemail_dir: Path,
    listen: str,
    min_free_mb: int = 0,
) -> None:
    path.write_text(
        f"""\
version: 1
node: {{run_dir: {run}, name: rt}}
rtpengine:
  nodes: [{{ng: "127.0.0.1:{ng_port}", managed: false}}]
redis: {{listen: "127.0.0.1:{redis_port}", managed: false}}
acd: {{events_stream: "{STREAM}", redis_prefix: "{PREFIX}"}}
bizdata: {{url: "sqlite:///{store}"}}
recording:
  spool_dir: {spool}
  dir: {wav_dir}
  missing_after_ms: 1000
  min_free_mb: {min_free_mb}
  retention_days: 30
  listen: "{listen}"
voicemail: {{dir: {voicemail_dir}}}
monitoring:
  mixers:
    - {{ng: "127.0.0.1:{MIXER_NG_PORT}", interface: {MIXER_HOST}, port_min: 1024,
       port_max: 65535, managed: false}}
"""
    )


@contextmanager
def running_recorder(config: Path, workdir: Path, listen: str, *args: str) -> Iterator[Recorder]:
    log = workdir / f"recorder-{listen.rsplit(':', 1)[1]}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recorder",
                "--config",
                str(config),
                "--disk-interval-ms",
                "50",
                "--retention-interval-s",
                "0.2",
                *args,
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    recorder = Recorder(process, listen, log)
    try:
        wait_until(recorder.healthy, timeout=20, what="the recorder's /healthz says ok")
        yield recorder
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("recorder")
    store = tmp / "bizdata.sqlite"
    bizdata.migrate(f"sqlite:///{store}")
    engine = bizdata.open_engine(f"sqlite:///{store}")
    spool, wav_dir, voicemail_dir = tmp / "spool", tmp / "wav", tmp / "voicemail"
    spool.mkdir()
    with (
        redis_server(tmp / "redis") as redis_port,
        running_rtpengine(tmp, recording_dir=spool) as rtpengine,
    ):
        ng_port = rtpengine.ng_port
        listen = f"127.0.0.1:{free_port()}"
        config = tmp / "callcenter.yaml"
        write_config(
            config,
            run=tmp / "run",
            ng_port=ng_port,
            redis_port=redis_port,
            store=store,
            spool=spool,
            wav_dir=wav_dir,
            voicemail_dir=voicemail_dir,
            listen=listen,
        )
        client = redis.Redis(port=redis_port)
        with running_recorder(config, tmp, listen) as recorder:
            yield Rig(tmp, client, engine, ng_port, spool, wav_dir, voicemail_dir, recorder)
        client.close()
    engine.dispose()


class Call:
    """A call through rtpengine, with a caller and an agent sending RTP, as the
    controller would set it up; it writes the recording events the controller would."""

    def __init__(
        self, rig: Rig, *, reason: str = "always", name: str = "", media_node: str = ""
    ) -> None:
        self.rig = rig
        self.media_node = media_node or rig.media_node
        self.call_id = f"call-{uuid.uuid4().hex[:12]}"
        self.ref = uuid.uuid4().hex
        self.reason, self.name = reason, name
        self.ng = RtpengineNg("127.0.0.1", rig.ng_port, timeout=2.0)
        self.caller, self.agent = RtpEndpoint(), RtpEndpoint()
        to_agent = self.ng.offer(self.call_id, "caller", None, OFFER.format(port=self.caller.port))
        to_caller = self.ng.answer(
            self.call_id, "caller", "agent", OFFER.format(port=self.agent.port)
        )
        self.port_facing_agent = _media_port(to_agent)
        self.port_facing_caller = _media_port(to_caller)
        self.log = EventLog(rig.redis, stream=STREAM)
        self.segments = 0
        self.started_ts = 0.0

    def start(self) -> None:
        self.started_ts = time.time()
        self.ng.start_recording(self.call_id, self.ref, 0)
        self.segments = 1
        self.emit(
            RECORDING_STARTED,
            ts=self.started_ts,
            ref=self.ref,
            name=self.name,
            reason=self.reason,
            media_node=self.media_node,
            caller="13800000000",
            agent="" if self.reason == "voicemail" else "1001",
            queue="billing",
            number="4008",
            caller_port=str(self.port_facing_caller),
        )

    def talk(self, caller_packets: int, agent_packets: int) -> None:
        """The caller, then the agent, speaking in real time (20 ms packets)."""
        if caller_packets:
            self.caller.send(
                ("127.0.0.1", self.port_facing_caller),
                marker=CALLER_MARK,
                count=caller_packets,
                interval_s=0.02,
            )
        if agent_packets:
            self.agent.send(
                ("127.0.0.1", self.port_facing_agent),
                marker=AGENT_MARK,
                count=agent_packets,
                interval_s=0.02,
            )

    def stop(self, *, ts: float | None = None, segments: int | None = None) -> float:
        self.ng.stop_recording(self.call_id)
        stopped = time.time() if ts is None else ts
        self.emit(
            RECORDING_STOPPED,
            ts=stopped,
            ref=self.ref,
            segments=str(self.segments if segments is None else segments),
        )
        return stopped

    def emit(self, kind: str, *, ts: float, **fields: str) -> Event:
        event = Event.new(kind, correlation_id=self.call_id, node="ctl-test", ts=ts, **fields)
        self.log.append(event)
        return event

    def close(self) -> None:
        self.ng.delete(self.call_id)
        self.ng.close()
        self.caller.close()
        self.agent.close()


def _media_port(sdp: str) -> int:
    line = next(x for x in sdp.splitlines() if x.startswith("m=audio "))
    return int(line.split()[1])


def row_status(rig: Rig, ref: str) -> str | None:
    try:
        return str(bizdata.get_recording(rig.engine, ref)["status"])
    except bizdata.NotFound:
        return None


def channel_energy(pcm: np.ndarray, start_s: float, end_s: float) -> float:
    part = pcm[int(start_s * 8000) : int(end_s * 8000)].astype(np.float64)
    return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0


def test_a_stopped_recording_becomes_a_stereo_wav_caller_left(rig: Rig) -> None:
    call = Call(rig)
    try:
        call.start()
        call.talk(caller_packets=40, agent_packets=40)  # 0.8 s each
        stopped = call.stop()
    finally:
        call.close()
    wait_until(
        lambda: row_status(rig, call.ref) in ("stored", "failed"),
        timeout=15,
        what="the recording is converted",
    )
    row = bizdata.get_recording(rig.engine, call.ref)
    assert row["status"] == "stored", row
    day = datetime.fromtimestamp(call.started_ts, UTC)
    assert row["file"] == f"{day:%Y/%m/%d}/{call.ref}.wav"
    wav = rig.wav_dir / row["file"]
    with wave.open(str(wav)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        frames = w.getnframes()
        pcm = np.frombuffer(w.readframes(frames), dtype="<i2").reshape(-1, 2)
    assert frames == round((stopped - call.started_ts) * 8000)
    assert row["duration_ms"] == round((stopped - call.started_ts) * 1000)
    # The caller spoke first (left), then the agent (right).
    left, right = pcm[:, 0], pcm[:, 1]
    assert channel_energy(left, 0.1, 0.7) > 100 > channel_energy(right, 0.1, 0.7)
    span = frames / 8000
    assert channel_energy(right, span - 0.7, span - 0.1) > 100
    assert not list((rig.spool / "metadata").glob(f"*{call.call_id}*"))
    assert not list((rig.spool / "pcaps").glob(f"*{call.call_id}*"))
    stored = [e for e in rig.events(RECORDING_STORED) if e.data["ref"] == call.ref]
    assert len(stored) == 1 and stored[0].data["file"] == row["file"]
    assert stored[0].correlation_id == call.call_id
    assert rig.recorder.metric("recorder_recordings_stored_total") >= 1
    assert rig.recorder.metric("recorder_conversion_seconds_count") >= 1


def test_events_delivered_again_change_nothing(rig: Rig) -> None:
    call = Call(rig)
    try:
        call.start()
        call.talk(caller_packets=10, agent_packets=10)
        call.stop()
    finally:
        call.close()
    wait_until(lambda: row_status(rig, call.ref) == "stored", timeout=15, what="stored")
    before = bizdata.get_recording(rig.engine, call.ref)
    # The same entries again (a re-delivery: same event ids), and a second stop.
    mine = [
        d.event
        for d in replay(rig.redis, stream=STREAM)
        if d.event.data.get("ref") == call.ref
        and d.event.kind in (RECORDING_STARTED, RECORDING_STOPPED)
    ]
    log = EventLog(rig.redis, stream=STREAM)
    for event in mine:
        log.append(event)
    marker = call.emit(RECORDING_STOPPED, ts=time.time(), ref=call.ref, segments="1")
    wait_until(
        lambda: _group_caught_up(rig, marker),
        timeout=10,
        what="the recorder read past the repeated events",
    )
    assert bizdata.get_recording(rig.engine, call.ref) == before
    assert len([e for e in rig.events(RECORDING_STORED) if e.data["ref"] == call.ref]) == 1


def test_a_recording_older_than_retention_is_not_indexed_again(rig: Rig) -> None:
    """A new group reads the whole log: a recording whose row retention deleted stays gone."""
    ref = uuid.uuid4().hex
    old = time.time() - 40 * 86_400  # retention_days: 30
    log = EventLog(rig.redis, stream=STREAM)
    common = {"correlation_id": "old-call", "node": "ctl-test"}
    log.append(
        Event.new(
            RECORDING_STARTED,
            **common,
            ts=old,
            ref=ref,
            name="",
            reason="always",
            media_node=rig.media_node,
            caller="1",
            agent="1001",
            queue="",
            number="4008",
            caller_port="30000",
        )
    )
    marker = Event.new(RECORDING_STOPPED, **common, ts=old + 30, ref=ref, segments="1")
    log.append(marker)
    wait_until(lambda: _group_caught_up(rig, marker), timeout=10, what="the recorder read them")
    assert row_status(rig, ref) is None


def _group_caught_up(rig: Rig, event: Event) -> bool:
    groups = rig.redis.xinfo_groups(STREAM)
    group = next(g for g in groups if g["name"] in (b"recorder.rt", "recorder.rt"))
    return bool(group["pending"] == 0 and group["lag"] == 0)


def test_a_missing_segment_fails_the_recording_as_missing(rig: Rig) -> None:
    failures = rig.recorder.metric('recorder_recordings_failed_total{reason="missing"}')
    call = Call(rig)
    try:
        call.start()
        call.talk(caller_packets=5, agent_packets=5)
        call.stop(segments=2)  # says two; rtpengine wrote one
    finally:
        call.close()
    wait_until(lambda: row_status(rig, call.ref) == "failed", timeout=15, what="failed")
    row = bizdata.get_recording(rig.engine, call.ref)
    assert row["failure"] == "missing"
    failed = [e for e in rig.events(RECORDING_FAILED) if e.data["ref"] == call.ref]
    assert [e.data["reason"] for e in failed] == ["missing"]
    assert "1 of 2 segments" in failed[0].data["detail"]
    wait_until(
        lambda: (
            rig.recorder.metric('recorder_recordings_failed_total{reason="missing"}')
            == failures + 1
        ),
        timeout=5,
        what="the missing counter",
    )
    assert "missing" in rig.recorder.log.read_text()


def test_retention_deletes_an_old_recording_and_keeps_one_on_hold(rig: Rig) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    refs = [uuid.uuid4().hex, uuid.uuid4().hex]
    for ref in refs:
        bizdata.recording_started(
            rig.engine,
            ref=ref,
            call_id=f"old-{ref[:6]}",
            name="",
            reason="always",
            media_node=rig.media_node,
            caller="13800000000",
            agent="1001",
            queue="billing",
            number="4008",
            started_at=old,
        )
        bizdata.recording_stopped(rig.engine, ref, at=old + timedelta(seconds=30), segments=1)
        relative = f"{old:%Y/%m/%d}/{ref}.wav"
        (rig.wav_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (rig.wav_dir / relative).write_bytes(b"RIFF")
        bizdata.recording_stored(rig.engine, ref, file=relative, duration_ms=30_000)
    expired, held = refs
    bizdata.set_legal_hold(rig.engine, held, hold=True, by="supervisor1")
    wait_until(lambda: row_status(rig, expired) is None, timeout=10, what="retention")
    assert not (rig.wav_dir / f"{old:%Y/%m/%d}/{expired}.wav").exists()
    assert (rig.wav_dir / f"{old:%Y/%m/%d}/{held}.wav").exists()
    assert row_status(rig, held) == "stored"
    log = bizdata.recording_access_log(rig.engine, ref=expired)
    assert [(e["actor"], e["action"]) for e in log] == [("retention", "delete")]


@dataclass
class SecondRecorder:
    """Another recorder beside the rig's, in its own group (node name) for its own media
    node (an alias of the rig's rtpengine) and store: the rig's recorder ignores its calls."""

    config: Path
    workdir: Path
    listen: str
    media_node: str
    engine: Any

    @classmethod
    def make(
        cls,
        rig: Rig,
        tmp_path: Path,
        name: str,
        *,
        wav_dir: Path | None = None,
        min_free_mb: int = 0,
        host: str = "127.0.0.2",
    ) -> SecondRecorder:
        listen = f"127.0.0.1:{free_port()}"
        config = tmp_path / f"{name}.yaml"
        store = tmp_path / f"{name}.sqlite"
        bizdata.migrate(f"sqlite:///{store}")
        write_config(
            config,
            run=tmp_path / "run",
            ng_port=rig.ng_port,
            redis_port=rig.redis.connection_pool.connection_kwargs["port"],
            store=store,
            spool=rig.spool,
            wav_dir=wav_dir or tmp_path / "wav",
            voicemail_dir=tmp_path / "vm",
            listen=listen,
            min_free_mb=min_free_mb,
        )
        config.write_text(config.read_text().replace("name: rt}", f"name: {name}}}"))
        engine = bizdata.open_engine(f"sqlite:///{store}")
        return cls(config, tmp_path, listen, f"{host}:{rig.ng_port}", engine)

    def running(self) -> Any:
        return running_recorder(
            self.config, self.workdir, self.listen, "--media-node", self.media_node
        )

    def status(self, ref: str) -> str | None:
        try:
            return str(bizdata.get_recording(self.engine, ref)["status"])
        except bizdata.NotFound:
            return None


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_wav_disk_fails_the_recording_and_sets_the_key(rig: Rig, tmp_path: Path) -> None:
    """A 256 KiB tmpfs as the WAV directory: below min_free_mb at once (the key, the
    event with ref "", the gauge), and a 20 s stereo WAV (640 KB) does not fit."""
    with tmpfs(tmp_path / "small", "256k") as small:
        second = SecondRecorder.make(rig, tmp_path, "full", wav_dir=small, min_free_mb=1)
        node, engine = second.media_node, second.engine
        key = f"{PREFIX}recording:disk_full:{node}"
        try:
            with second.running() as recorder:
                wait_until(lambda: rig.redis.exists(key), timeout=5, what="the disk-full key")
                assert 0 < rig.redis.pttl(key) <= 5000
                wait_until(
                    lambda: recorder.metric(f'recorder_disk_full{{path="{small}"}}') == 1,
                    timeout=5,
                    what="the disk-full gauge",
                )
                state = [
                    e
                    for e in rig.events(RECORDING_FAILED)
                    if e.data["ref"] == "" and str(small) in e.data["detail"]
                ]
                assert len(state) == 1 and state[0].data["reason"] == "disk_full"
                call = Call(rig, media_node=node)
                try:
                    call.start()
                    call.talk(caller_packets=10, agent_packets=10)
                    call.stop(ts=call.started_ts + 20.0)  # a 20 s timeline
                finally:
                    call.close()

                wait_until(
                    lambda: second.status(call.ref) == "failed",
                    timeout=15,
                    what="the recording fails for disk space",
                )
                assert bizdata.get_recording(engine, call.ref)["failure"] == "disk_full"
                assert not [p for p in small.rglob("*") if p.is_file()], "a partial file"
                assert recorder.metric('recorder_recordings_failed_total{reason="disk_full"}') >= 2
                assert rig.redis.exists(key)
        finally:
            engine.dispose()


def test_a_pcap_that_ends_early_keeps_its_wav_but_fails_short(rig: Rig) -> None:
    call = Call(rig)
    try:
        call.start()
        call.talk(caller_packets=10, agent_packets=10)
        stopped = call.stop(ts=time.time() + 3.0)  # 3 s past the last packet
    finally:
        call.close()
    wait_until(lambda: row_status(rig, call.ref) == "failed", timeout=15, what="failed")
    row = bizdata.get_recording(rig.engine, call.ref)
    assert row["failure"] == "short" and row["file"]
    with wave.open(str(rig.wav_dir / row["file"])) as w:
        assert w.getnframes() == round((stopped - call.started_ts) * 8000)
    failed = [e for e in rig.events(RECORDING_FAILED) if e.data["ref"] == call.ref]
    assert [e.data["reason"] for e in failed] == ["short"]
    assert not [e for e in rig.events(RECORDING_STORED) if e.data["ref"] == call.ref]


def test_a_voicemail_message_is_a_mono_wav_in_its_box(rig: Rig) -> None:
    call = Call(rig, reason="voicemail", name="billing")
    try:
        call.start()
        call.talk(caller_packets=60, agent_packets=0)  # 1.2 s of the caller
        stopped = call.stop()
    finally:
        call.close()
    wait_until(lambda: row_status(rig, call.ref) == "stored", timeout=15, what="stored")
    messages = bizdata.list_voicemail(rig.engine, boxes=["billing"], include_heard=True)
    mine = [m for m in messages if m["recording_ref"] == call.ref]
    assert len(mine) == 1
    message = mine[0]
    assert message["file"] == f"billing/{message['message_id']}.wav"
    assert message["duration_ms"] == round((stopped - call.started_ts) * 1000)
    with wave.open(str(rig.voicemail_dir / message["file"])) as w:
        assert (w.getnchannels(), w.getframerate()) == (1, 8000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert channel_energy(pcm, 0.1, 1.0) > 100
    left = [e for e in rig.events(VOICEMAIL_LEFT) if e.data["ref"] == call.ref]
    assert len(left) == 1 and left[0].data["message_id"] == message["message_id"]
    assert left[0].data["box"] == "billing" and left[0].data["caller"] == "13800000000"


def test_a_voicemail_under_a_second_is_dropped_with_its_files(rig: Rig) -> None:
    call = Call(rig, reason="voicemail", name="billing")
    try:
        call.start()
        call.talk(caller_packets=10, agent_packets=0)
        call.stop(ts=call.started_ts + 0.5)
    finally:
        call.close()
    wait_until(lambda: row_status(rig, call.ref) is None, timeout=15, what="the row dropped")
    assert not [
        m
        for m in bizdata.list_voicemail(rig.engine, include_heard=True)
        if m["recording_ref"] == call.ref
    ]
    assert not list((rig.spool / "metadata").glob(f"*{call.call_id}*"))
    assert not [e for e in rig.events(VOICEMAIL_LEFT) if e.data["ref"] == call.ref]


def test_a_recorder_restarted_mid_recording_still_puts_the_caller_left(
    rig: Rig, tmp_path: Path
) -> None:
    """Memory lost between start and stop: the recording comes back from the index, and
    its caller port from recording.started in the log."""
    second = SecondRecorder.make(rig, tmp_path, "again", host="127.0.0.3")
    call = Call(rig, media_node=second.media_node)
    try:
        with second.running():
            call.start()
            wait_until(lambda: second.status(call.ref) == "recording", timeout=10, what="indexed")
        call.talk(caller_packets=30, agent_packets=30)
        call.stop()
    finally:
        call.close()
    with second.running():
        wait_until(lambda: second.status(call.ref) == "stored", timeout=15, what="stored")
    row = bizdata.get_recording(second.engine, call.ref)
    with wave.open(str(tmp_path / "wav" / row["file"])) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    span = len(pcm) / 8000
    assert channel_energy(pcm[:, 0], span - 1.1, span - 0.7) > 100  # the caller, left
    assert channel_energy(pcm[:, 1], span - 0.5, span - 0.1) > 100  # the agent, right
    assert channel_energy(pcm[:, 1], span - 1.1, span - 0.7) < 100
    second.engine.dispose()


def test_a_stopped_recording_left_by_a_crash_is_converted_at_start(
    rig: Rig, tmp_path: Path
) -> None:
    """The stop was acknowledged, the WAV never made (the process died): the `stopped` row
    is taken up again when the recorder starts."""
    second = SecondRecorder.make(rig, tmp_path, "crashed", host="127.0.0.4")
    call = Call(rig, media_node=second.media_node)
    try:
        call.start()  # recording.started in the log (its caller port)
        call.talk(caller_packets=20, agent_packets=20)
        call.ng.stop_recording(call.call_id)  # no recording.stopped in the log
        stopped = time.time()
    finally:
        call.close()
    bizdata.recording_started(
        second.engine,
        ref=call.ref,
        call_id=call.call_id,
        name="",
        reason="always",
        media_node=second.media_node,
        caller="13800000000",
        agent="1001",
        queue="billing",
        number="4008",
        started_at=datetime.fromtimestamp(call.started_ts, UTC),
    )
    bizdata.recording_stopped(
        second.engine, call.ref, at=datetime.fromtimestamp(stopped, UTC), segments=1
    )
    with second.running():
        wait_until(lambda: second.status(call.ref) == "stored", timeout=15, what="stored")
    row = bizdata.get_recording(second.engine, call.ref)
    with wave.open(str(tmp_path / "wav" / row["file"])) as w:
        assert w.getnchannels() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert channel_energy(pcm[:, 0], 0.1, 0.3) > 100 > channel_energy(pcm[:, 1], 0.1, 0.3)
    second.engine.dispose()


# -- monitoring (docs/monitoring.md, "Recording a session") ------------------------------


def monitor_started(rig: Rig, ref: str, call_id: str, ts: float) -> None:
    EventLog(rig.redis, stream=STREAM).append(
        Event.new(
            RECORDING_STARTED,
            correlation_id=call_id,
            node="ctl-test",
            ts=ts,
            ref=ref,
            name="sess-1",
            reason="monitor",
            media_node="mixer0",
            caller="13800000000",
            agent="1001",
            queue="",
            number="",
            caller_port="",
        )
    )


def monitor_stopped(rig: Rig, ref: str, call_id: str, ts: float) -> None:
    EventLog(rig.redis, stream=STREAM).append(
        Event.new(
            RECORDING_STOPPED, correlation_id=call_id, node="ctl-test", ts=ts, ref=ref, segments="1"
        )
    )


def test_a_session_recording_the_mixer_wrote_is_indexed_with_the_wavs_length(rig: Rig) -> None:
    """No pcaps to wait for: the recorder finds the mixer's 3-channel WAV (here written
    just after the stop, as a slow shared volume shows it) and indexes it as stored."""
    ref, call_id = uuid.uuid4().hex, f"call-{uuid.uuid4().hex[:12]}"
    now = time.time()
    monitor_started(rig, ref, call_id, now - 3.0)
    wait_until(lambda: row_status(rig, ref) == "recording", timeout=10, what="indexed")
    monitor_stopped(rig, ref, call_id, now)
    relative = f"monitor/{datetime.fromtimestamp(now - 3.0, UTC):%Y-%m-%d}/{ref}.wav"
    pcm = np.zeros((round(2.75 * 8000), 3), dtype=np.int16)
    pcm[:, 2] = 1000  # the supervisors' channel
    (rig.wav_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    recording.write_wav(rig.wav_dir / relative, pcm)
    wait_until(lambda: row_status(rig, ref) in ("stored", "failed"), timeout=10, what="stored")
    row = bizdata.get_recording(rig.engine, ref)
    assert (row["status"], row["file"], row["reason"]) == ("stored", relative, "monitor")
    assert (row["duration_ms"], row["name"], row["call_id"]) == (2750, "sess-1", call_id)
    stored = [e for e in rig.events(RECORDING_STORED) if e.data["ref"] == ref]
    assert [(e.data["file"], e.data["duration_ms"]) for e in stored] == [(relative, "2750")]
    assert (rig.wav_dir / relative).is_file()  # the mixer's file stays where it is


def test_a_session_recording_whose_file_never_comes_fails_missing(rig: Rig) -> None:
    ref, call_id = uuid.uuid4().hex, f"call-{uuid.uuid4().hex[:12]}"
    now = time.time()
    monitor_started(rig, ref, call_id, now - 1.0)
    monitor_stopped(rig, ref, call_id, now)
    wait_until(lambda: row_status(rig, ref) == "failed", timeout=10, what="failed")
    assert time.time() - now >= 1.0  # recording.missing_after_ms: 1000
    assert bizdata.get_recording(rig.engine, ref)["failure"] == "missing"
    (failed,) = [e for e in rig.events(RECORDING_FAILED) if e.data["ref"] == ref]
    assert failed.data["reason"] == "missing" and "from mixer mixer0" in failed.data["detail"]


def test_a_monitored_calls_recording_leaves_out_what_came_from_the_mixer(rig: Rig) -> None:
    """rtpengine records what the mixer sent it too (the parties' mix): the recorder's
    conversion leaves out packets from the mixer's address and port range."""
    ignored = rig.recorder.metric("recorder_mixer_packets_ignored_total")
    call = Call(rig)
    mixer = RtpEndpoint(host=MIXER_HOST)
    try:
        call.start()
        call.talk(caller_packets=30, agent_packets=30)  # 0.6 s each
        mixer.send(
            ("127.0.0.1", call.port_facing_agent), marker=MIXER_MARK, count=30, interval_s=0.02
        )
        stopped = call.stop()
    finally:
        mixer.close()
        call.close()
    wait_until(lambda: row_status(rig, call.ref) in ("stored", "failed"), timeout=15, what="done")
    row = bizdata.get_recording(rig.engine, call.ref)
    assert row["status"] == "stored", row
    with wave.open(str(rig.wav_dir / row["file"])) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    span = stopped - call.started_ts
    # The caller, then the agent; the mixer's last 0.6 s is on neither channel.
    assert channel_energy(pcm[:, 0], 0.1, 0.5) > 100
    assert channel_energy(pcm[:, 1], 0.7, 1.1) > 100
    assert channel_energy(pcm[:, 0], span - 0.5, span - 0.1) == 0
    assert channel_energy(pcm[:, 1], span - 0.5, span - 0.1) == 0
    assert rig.recorder.metric("recorder_mixer_packets_ignored_total") >= ignored + 25
