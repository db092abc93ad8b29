"""write_wav: an 8 kHz 16-bit WAV under its final name, whole or not at all."""

from __future__ import annotations

import errno
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from recording import write_wav


def test_stereo_and_mono_round_trip(tmp_path: Path) -> None:
    stereo = np.array([[1, -1], [32767, -32768], [0, 5]], dtype=np.int16)
    path = tmp_path / "2026" / "12" / "07" / "ref.wav"
    write_wav(path, stereo)
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 2, 2)
        got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(got, stereo)
    write_wav(tmp_path / "mono.wav", stereo[:, :1])
    write_wav(tmp_path / "flat.wav", stereo[:, 0])
    for name in ("mono.wav", "flat.wav"):
        with wave.open(str(tmp_path / name), "rb") as w:
            assert (w.getnchannels(), w.getnframes()) == (1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026", "flat.wav", "mono.wav"]


def test_a_full_disk_leaves_no_file_under_the_final_name_nor_a_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ref.wav"

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left") as raised:
        write_wav(path, np.zeros((8000, 2), dtype=np.int16))
    assert raised.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_whole_file_already_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ref.wav"
    write_wav(path, np.ones((100, 2), dtype=np.int16))
    before = path.read_bytes()

    def failing_replace(_src: object, _dst: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="I/O error"):
        write_wav(path, np.zeros((8000, 2), dtype=np.int16))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ref.wav"]


def test_samples_that_are_not_int16_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="int16"):
        write_wav(tmp_path / "x.wav", np.zeros((10, 2), dtype=np.float64))
    assert not (tmp_path / "x.wav").exists()
