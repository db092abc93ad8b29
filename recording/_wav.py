"""A recording's WAV file, written so that the final name only ever holds a whole file."""

from __future__ import annotations

import contextlib
import os
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recording._convert import RATE


def write_wav(path: Path, pcm: npt.NDArray[np.int16]) -> None:
    """8 kHz 16-bit PCM; `pcm` is (frames, channels) or (frames,) for mono.

    Written to `<name>.tmp` beside `path`, flushed and fsynced, then renamed onto `path`
    (and the directory fsynced, so the rename survives a crash). Any error (ENOSPC...)
    removes the temporary file and propagates: `path` is never a partial file."""
    samples = np.asarray(pcm)
    if samples.ndim == 1:
        samples = samples.reshape(-1, 1)
    if samples.ndim != 2 or samples.dtype != np.int16:
        raise ValueError(f"{path}: pcm must be int16 (frames, channels), not {samples.dtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as file:
            with wave.open(file, "wb") as out:
                out.setnchannels(samples.shape[1])
                out.setsampwidth(2)
                out.setframerate(RATE)
                out.writeframes(samples.astype("<i2", copy=False).tobytes())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
