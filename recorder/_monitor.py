"""A monitoring session's recording (docs/monitoring.md, "Recording a session"): the
mixer writes the WAV itself, at <recording.dir>/monitor/<YYYY-MM-DD>/<ref>.wav (8 kHz,
16-bit, three channels: the caller, the agent, the supervisors), written to a temporary
name and renamed once complete. The recorder only finds it and measures it."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

MONITOR_DIR: Final = "monitor"
# What the mixer writes; anything else is indexed all the same and logged.
MONITOR_CHANNELS: Final = 3


def monitor_wav_candidates(ref: str, started_ts: float, stopped_ts: float) -> list[str]:
    """Where under recording.dir the session's WAV may be, most likely first: the
    controller names the day (UTC) when it asks the mixer to record, a moment before
    recording.started, so the started day, then the days around it up to the stop."""
    first = datetime.fromtimestamp(started_ts, UTC).date()
    last = datetime.fromtimestamp(max(stopped_ts, started_ts), UTC).date()
    days = [first, first - timedelta(days=1)]
    day = first
    while day < last:
        day += timedelta(days=1)
        days.append(day)
    return [f"{MONITOR_DIR}/{d:%Y-%m-%d}/{ref}.wav" for d in days]


def find_monitor_wav(wav_dir: Path, ref: str, started_ts: float, stopped_ts: float) -> str | None:
    """The session's WAV relative to recording.dir, None while it is not there."""
    for relative in monitor_wav_candidates(ref, started_ts, stopped_ts):
        if (wav_dir / relative).is_file():
            return relative
    return None


@dataclass(frozen=True)
class WavInfo:
    duration_ms: int
    channels: int
    rate: int


def wav_info(path: Path) -> WavInfo:
    """The WAV's length and layout from its header; ValueError (naming the file) for a
    file that is not a PCM WAV, OSError for one that cannot be read."""
    try:
        with wave.open(str(path), "rb") as w:
            frames, rate, channels = w.getnframes(), w.getframerate(), w.getnchannels()
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file: {exc}") from None
    if rate <= 0:
        raise ValueError(f"{path}: sample rate {rate}")
    return WavInfo(duration_ms=round(frames * 1000 / rate), channels=channels, rate=rate)
