"""A session's recording as it is made: an N-channel 8 kHz 16-bit WAV written tick by
tick, whose final name only ever holds a whole file.

Frames go to `<name>.tmp` beside the target; `finish` patches the header, fsyncs,
renames onto the target and fsyncs the directory (as `recording.write_wav` does for
the recorder's WAVs). `finish` runs off the media thread: an fsync can take longer
than a tick.
"""

from __future__ import annotations

import contextlib
import os
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

RATE = 8000


class WavWriter:
    def __init__(self, path: Path, channels: int) -> None:
        self.path = path
        self.channels = channels
        self.frames = 0
        self.error: str | None = None  # set when a write failed: the file is lost
        self.temporary = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = open(self.temporary, "wb")  # noqa: SIM115 - closed by finish/abort
        try:
            self._wave = wave.open(self._file, "wb")  # noqa: SIM115 - closed by finish/abort
            self._wave.setnchannels(channels)
            self._wave.setsampwidth(2)
            self._wave.setframerate(RATE)
        except BaseException:
            self.abort()
            raise

    @property
    def duration_ms(self) -> int:
        return self.frames * 1000 // RATE

    def write(self, samples: npt.NDArray[np.int16]) -> None:
        """`samples` is (frames, channels) int16. A failed write (disk full) marks the
        recording failed and drops the rest; `finish` then reports it."""
        if self.error is not None:
            return
        try:
            self._wave.writeframesraw(samples.astype("<i2", copy=False).tobytes())
        except (OSError, ValueError) as exc:  # ValueError: the file was closed under it
            self.error = f"writing {self.temporary}: {getattr(exc, 'strerror', None) or exc}"
            return
        self.frames += samples.shape[0]

    def finish(self) -> None:
        """The whole file under its name; `OSError` (the temporary removed) otherwise."""
        if self.error is not None:
            self.abort()
            raise OSError(self.error)
        try:
            self._wave.close()  # patches the header's sizes; leaves our file open
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.temporary, self.path)
        except BaseException:
            self.abort()
            raise
        descriptor = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def abort(self) -> None:
        """Close and remove the temporary file (nothing under the final name)."""
        wave_file = getattr(self, "_wave", None)
        if wave_file is not None:
            with contextlib.suppress(Exception):  # a full disk fails this too
                wave_file.close()
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.temporary.unlink()
