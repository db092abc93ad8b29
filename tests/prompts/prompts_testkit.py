"""Reading back a rendered WAV: format, length and loudness."""

from __future__ import annotations

import array
import math
import wave
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    sample_width: int
    duration_s: float
    rms: float  # in 16-bit sample units, 0..32767


def read_wav(path: Path) -> WavInfo:
    """Format, length and loudness from the samples themselves (no audioop in 3.13)."""
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
        info = (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
    samples = array.array("h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return WavInfo(info[0], info[1], info[2], info[3] / info[0], rms)
