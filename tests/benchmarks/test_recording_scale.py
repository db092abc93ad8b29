"""The recording benchmark's own checks (benchmarks/recording_scale.py): what it calls a
good file, a gap, swapped channels, and the peak of concurrent recordings."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from benchmarks.recording_scale import (
    AGENT_HZ,
    CALLER_HZ,
    Recording,
    check_wav,
    peak_concurrent,
)

RATE = 8000


def _tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _write(path: Path, left: np.ndarray, right: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.column_stack([left, right]).astype("<i2").tobytes())
    return path


def test_a_good_file_passes_with_its_length(tmp_path: Path) -> None:
    left = _tone(CALLER_HZ, 5.0)
    left[: RATE // 5] = 0  # the caller's media starts at the bridge: not a gap
    rec = Recording("r", "c", 0.0)
    check_wav(_write(tmp_path / "a.wav", left, _tone(AGENT_HZ, 5.0)), rec)
    assert rec.problems == []
    assert rec.length_s == 5.0
    assert abs(rec.left_lead_s - 0.2) < 0.03


def test_swapped_channels_and_a_gap_are_problems(tmp_path: Path) -> None:
    right = _tone(CALLER_HZ, 5.0)
    right[2 * RATE : 3 * RATE] = 0  # a second lost in the middle
    rec = Recording("r", "c", 0.0)
    check_wav(_write(tmp_path / "b.wav", _tone(AGENT_HZ, 5.0), right), rec)
    assert any("left channel" in p for p in rec.problems)
    assert any("right channel" in p for p in rec.problems)
    assert any("gaps" in p for p in rec.problems)


def test_mono_is_a_format_problem(tmp_path: Path) -> None:
    path = tmp_path / "m.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(_tone(CALLER_HZ, 1.0).tobytes())
    rec = Recording("r", "c", 0.0)
    check_wav(path, rec)
    assert rec.problems and rec.problems[0].startswith("format")


def test_peak_concurrent_counts_overlaps_and_a_stop_before_a_start() -> None:
    recs = [Recording("a", "1", 0.0, stopped=10.0), Recording("b", "2", 5.0, stopped=15.0)]
    recs += [Recording("c", "3", 10.0, stopped=20.0)]  # starts as `a` stops
    assert peak_concurrent(recs) == 2
    recs.append(Recording("d", "4", 12.0))  # never stopped: still running
    assert peak_concurrent(recs) == 3
