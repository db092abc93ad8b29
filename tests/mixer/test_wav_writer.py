"""A recording's WAV as it is written: only a whole file ever has the final name."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from mixer._wav_writer import WavWriter


def test_frames_then_finish(tmp_path: Path) -> None:
    target = tmp_path / "monitor" / "2026-12-07" / "ref.wav"
    writer = WavWriter(target, channels=3)
    block = np.tile(np.array([[1, -2, 3]], dtype=np.int16), (160, 1))
    writer.write(block)
    writer.write(block)
    assert not target.exists() and writer.temporary.exists()
    writer.finish()
    assert target.exists() and not writer.temporary.exists()
    assert writer.duration_ms == 40
    with wave.open(str(target)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            3,
            2,
            8000,
            320,
        )
        samples = np.frombuffer(w.readframes(320), dtype="<i2").reshape(-1, 3)
    assert samples[0].tolist() == [1, -2, 3]


def test_a_failed_write_loses_the_file_not_the_mixer(tmp_path: Path) -> None:
    target = tmp_path / "lost.wav"
    writer = WavWriter(target, channels=1)
    writer._file.close()  # as if the disk went away: the next write fails
    writer.write(np.zeros((160, 1), np.int16))
    assert writer.error is not None
    with pytest.raises(OSError):
        writer.finish()
    assert not target.exists() and not writer.temporary.exists()


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "x.wav", channels=2)
    writer.abort()
    assert list(tmp_path.iterdir()) == []
