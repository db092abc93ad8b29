"""The recorder's pure parts: folding recording events (idempotent), the disk watch's
transitions, the metrics text, the settings from a config, the launch arguments."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import bizdata
from configuration import RunLayout, load_config
from eventlog import (
    RECORDING_PAUSED,
    RECORDING_RESUMED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    Event,
)
from recorder import (
    DiskWatch,
    Metrics,
    SeenEvents,
    SettingsError,
    apply,
    recording_from_started,
    rtpengine_recording_args,
    settings_from_config,
    voicemail_message_id,
)
from recorder._fold import shortfall
from recorder._monitor import WavInfo, find_monitor_wav, monitor_wav_candidates, wav_info
from recorder._retention import apply_retention
from recording import SourceRange, write_wav

REF = "ab" * 16
T0 = 1_800_000_000.0


def started(*, reason: str = "always", port: str = "30000", ts: float = T0) -> Event:
    return Event.new(
        RECORDING_STARTED,
        correlation_id="call-1",
        ts=ts,
        ref=REF,
        name="" if reason != "voicemail" else "billing",
        reason=reason,
        media_node="127.0.0.1:2223",
        caller="13800000000",
        agent="1001",
        queue="billing",
        number="4008",
        caller_port=port,
    )


def paused(ts: float) -> Event:
    return Event.new(RECORDING_PAUSED, ts=ts, ref=REF, reason="sensitive")


def resumed(ts: float) -> Event:
    return Event.new(RECORDING_RESUMED, ts=ts, ref=REF)


def stopped(ts: float, segments: str = "2") -> Event:
    return Event.new(RECORDING_STOPPED, ts=ts, ref=REF, segments=segments)


def test_started_gives_the_recording_and_its_caller_port() -> None:
    rec = recording_from_started(started())
    assert (rec.ref, rec.call_id, rec.caller_port, rec.started_ts) == (REF, "call-1", 30000, T0)
    assert not rec.voicemail and recording_from_started(started(reason="voicemail")).voicemail


def test_a_caller_port_that_is_no_number_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"caller_port 'x' is not a port"):
        recording_from_started(started(port="x"))


def test_pause_resume_stop_fold_into_spans_and_a_duration() -> None:
    rec = recording_from_started(started())
    assert apply(rec, paused(T0 + 2)) and apply(rec, resumed(T0 + 5))
    assert apply(rec, stopped(T0 + 9.5))
    assert rec.pause_spans() == [(T0 + 2, T0 + 5)]
    assert (rec.duration_ms(), rec.segments) == (9500, 2)


def test_every_event_again_changes_nothing() -> None:
    rec = recording_from_started(started())
    events = [paused(T0 + 1), resumed(T0 + 2), paused(T0 + 3), stopped(T0 + 4)]
    for event in events:
        assert apply(rec, event)
    before = (list(rec.pause_spans()), rec.stopped_ts, rec.segments)
    for event in events:  # re-delivered, in order and out of it
        assert not apply(rec, event)
    assert not apply(rec, resumed(T0 + 2))
    assert (rec.pause_spans(), rec.stopped_ts, rec.segments) == before


def test_a_stop_while_paused_closes_the_pause_at_the_stop() -> None:
    rec = recording_from_started(started())
    apply(rec, paused(T0 + 3))
    assert not apply(rec, paused(T0 + 3.5))  # already paused
    apply(rec, stopped(T0 + 6, "1"))
    assert rec.pause_spans() == [(T0 + 3, T0 + 6)]


def test_bad_segments_are_refused() -> None:
    rec = recording_from_started(started())
    with pytest.raises(ValueError, match="segments 'two' is not a number"):
        apply(rec, stopped(T0 + 1, "two"))


def test_seen_events_forget_the_oldest() -> None:
    seen = SeenEvents(size=2)
    for event_id in ("a", "b", "c"):
        seen.add(event_id)
    assert "a" not in seen and "b" in seen and "c" in seen


def test_the_disk_watch_reports_the_change_into_low_space_once() -> None:
    free = {Path("/spool"): 500 * 2**20, Path("/wav"): 500 * 2**20}
    watch = DiskWatch(list(free), min_free_mb=64, free=lambda p: free[p])
    assert watch.check().low == frozenset()
    free[Path("/wav")] = 10 * 2**20
    state = watch.check()
    assert state.newly_low == (Path("/wav"),) and state.low == {Path("/wav")}
    assert watch.check().newly_low == ()  # still low: no second report
    free[Path("/wav")] = 100 * 2**20
    state = watch.check()
    assert state.recovered == (Path("/wav"),) and not state.low


def test_an_unreadable_directory_counts_as_full() -> None:
    def broken(path: Path) -> int:
        raise OSError("gone")

    assert DiskWatch([Path("/x")], 1, free=broken).check().low == {Path("/x")}


def test_metrics_text_has_every_series() -> None:
    metrics = Metrics()
    metrics.count_stored()
    metrics.count_failed("missing")
    metrics.count_failed("missing")
    metrics.observe_conversion(0.25)
    metrics.set_disk_full("/w", True)
    metrics.set_pending(3)
    metrics.count_ignored(150)
    text = metrics.render()
    assert "recorder_recordings_stored_total 1\n" in text
    assert 'recorder_recordings_failed_total{reason="missing"} 2\n' in text
    assert "recorder_conversion_seconds_sum 0.25\n" in text
    assert "recorder_conversion_seconds_count 1\n" in text
    assert 'recorder_disk_full{path="/w"} 1\n' in text
    assert "recorder_pending 3\n" in text
    assert "recorder_mixer_packets_ignored_total 150\n" in text


def test_voicemail_message_ids_are_stable_per_ref() -> None:
    assert voicemail_message_id(REF) == voicemail_message_id(REF)
    assert voicemail_message_id(REF) != voicemail_message_id("cd" * 16)
    assert len(voicemail_message_id(REF)) == 32


CONFIG = """\
version: 1
node: {{run_dir: run, name: host-a}}
rtpengine:
  nodes:
    - ng: 127.0.0.1:2223
    - ng: 192.0.2.10:2223
acd: {{redis_prefix: "t1:", events_stream: "t1:events"}}
{bizdata}
recording: {{spool_dir: spool, dir: /srv/wav, retention_days: 7}}
voicemail: {{dir: vm}}
"""


def test_settings_resolve_paths_in_the_run_dir_and_serve_the_local_rtpengines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(CONFIG.format(bizdata="bizdata: {}"))
    settings = settings_from_config(path)
    run = (tmp_path / "run").resolve()
    assert settings.spool_dir == run / "spool"
    assert settings.wav_dir == Path("/srv/wav")
    assert settings.voicemail_dir == run / "vm"
    assert settings.media_nodes == ("127.0.0.1:2223",)  # 192.0.2.10 is not this host
    assert settings.group == "recorder.host-a"
    assert settings.disk_full_key("127.0.0.1:2223") == "t1:recording:disk_full:127.0.0.1:2223"
    assert settings.stream == "t1:events"
    assert settings.store_url.endswith(str(run / "data" / "bizdata.sqlite"))
    named = settings_from_config(path, media_nodes=("192.0.2.10:2223",), node="b")
    assert named.media_nodes == ("192.0.2.10:2223",) and named.group == "recorder.b"


def test_settings_refuse_a_config_without_the_store(tmp_path: Path) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(CONFIG.format(bizdata=""))
    with pytest.raises(SettingsError, match=r"needs a `bizdata:` section"):
        settings_from_config(path)


def test_rtpengine_writes_raw_pcaps_into_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(CONFIG.format(bizdata="bizdata: {}"))
    config = load_config(path)
    layout = RunLayout(tmp_path / "run")
    assert rtpengine_recording_args(config, layout) == [
        "--recording-method=pcap",
        "--recording-format=raw",
        f"--recording-dir={(tmp_path / 'run' / 'spool').resolve()}",
    ]


def test_shortfall_compares_the_last_packet_with_the_end_of_the_last_segment() -> None:
    rec = recording_from_started(started())
    apply(rec, stopped(T0 + 10, "1"))
    assert shortfall(rec, truncated=False, last_packet_ts=T0 + 9.5) is None
    assert "2.5 s before the end" in str(shortfall(rec, truncated=False, last_packet_ts=T0 + 7.5))
    assert "cut short" in str(shortfall(rec, truncated=True, last_packet_ts=T0 + 10))
    assert "no RTP packet" in str(shortfall(rec, truncated=False, last_packet_ts=None))


def test_a_recording_stopped_while_paused_ends_where_the_pause_began() -> None:
    rec = recording_from_started(started())
    apply(rec, paused(T0 + 4))
    apply(rec, stopped(T0 + 10, "1"))
    assert shortfall(rec, truncated=False, last_packet_ts=T0 + 3.9) is None
    assert shortfall(rec, truncated=False, last_packet_ts=T0 + 2) is not None


# -- monitoring sessions' recordings (docs/monitoring.md, "Recording a session") ---------


def test_a_monitor_recording_has_no_caller_port_and_folds_like_any() -> None:
    event = started(reason="monitor", port="")
    rec = recording_from_started(event)
    assert rec.monitor and not rec.voicemail and rec.caller_port == 0
    assert apply(rec, stopped(T0 + 42.5, "1"))
    assert (rec.duration_ms(), rec.segments) == (42500, 1)
    assert not recording_from_started(started()).monitor


def test_the_mixers_wav_is_looked_for_on_the_days_it_can_be_named_for(tmp_path: Path) -> None:
    # 2027-01-15 23:59:59.9 UTC: the controller may have named the day a moment before.
    late = 1_800_057_599.9
    assert monitor_wav_candidates(REF, late, late + 0.5) == [
        f"monitor/2027-01-15/{REF}.wav",
        f"monitor/2027-01-14/{REF}.wav",
        f"monitor/2027-01-16/{REF}.wav",
    ]
    assert find_monitor_wav(tmp_path, REF, late, late + 0.5) is None
    wav = tmp_path / "monitor" / "2027-01-16" / f"{REF}.wav"
    wav.parent.mkdir(parents=True)
    write_wav(wav, np.zeros((12_000, 3), dtype=np.int16))
    assert find_monitor_wav(tmp_path, REF, late, late + 0.5) == f"monitor/2027-01-16/{REF}.wav"
    assert wav_info(wav) == WavInfo(duration_ms=1500, channels=3, rate=8000)


def test_a_file_that_is_not_a_wav_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnope")
    with pytest.raises(ValueError, match=r"bad\.wav: not a PCM WAV file"):
        wav_info(bad)


MONITORING = """\
monitoring:
  mixers:
    - {ng: "127.0.0.1:2240", interface: 127.0.0.5, port_min: 41000, port_max: 41999}
    - {ng: "192.0.2.10:2240", interface: 192.0.2.10, name: far, managed: false}
"""


def test_settings_serve_the_local_mixers_and_ignore_every_mixers_packets(tmp_path: Path) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(CONFIG.format(bizdata="bizdata: {}") + MONITORING)
    settings = settings_from_config(path)
    assert settings.mixers == ("mixer0",)  # 192.0.2.10 is not this host
    assert settings.served == {"127.0.0.1:2223", "mixer0"}
    assert settings.ignore_sources == (
        SourceRange("127.0.0.5", 41000, 41999),
        SourceRange("192.0.2.10", 40000, 40999),
    )
    named = settings_from_config(path, mixers=("far",))
    assert named.mixers == ("far",) and "far" in named.served
    plain = tmp_path / "plain.yaml"
    plain.write_text(CONFIG.format(bizdata="bizdata: {}"))
    assert settings_from_config(plain).ignore_sources == ()


def test_retention_deletes_this_recorders_mixers_session_recordings(tmp_path: Path) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(CONFIG.format(bizdata="bizdata: {}") + MONITORING)
    settings = dataclasses.replace(settings_from_config(path), wav_dir=tmp_path / "wav")
    bizdata.migrate(settings.store_url)
    engine = bizdata.open_engine(settings.store_url)
    old = datetime.now(UTC) - timedelta(days=30)
    try:
        for ref, mixer in (("1" * 32, "mixer0"), ("2" * 32, "far")):
            bizdata.recording_started(
                engine,
                ref=ref,
                call_id="call-1",
                name="sess",
                reason="monitor",
                media_node=mixer,
                caller="",
                agent="1001",
                queue="",
                number="",
                started_at=old,
            )
            bizdata.recording_stopped(engine, ref, at=old + timedelta(seconds=30), segments=1)
            file = f"monitor/{old:%Y-%m-%d}/{ref}.wav"
            (settings.wav_dir / file).parent.mkdir(parents=True, exist_ok=True)
            write_wav(settings.wav_dir / file, np.zeros((80, 3), dtype=np.int16))
            bizdata.recording_stored(engine, ref, file=file, duration_ms=10)
        # mixer0 is this host's; "far" is another recorder's to delete.
        assert apply_retention(engine, settings) == ["1" * 32]
        assert not (settings.wav_dir / f"monitor/{old:%Y-%m-%d}/{'1' * 32}.wav").exists()
        assert (settings.wav_dir / f"monitor/{old:%Y-%m-%d}/{'2' * 32}.wav").exists()
    finally:
        engine.dispose()
