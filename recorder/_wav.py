"""Writing a WAV so that it is whole or absent: a temporary name beside the target,
fsynced, renamed; on any failure (a full disk above all) the temporary file goes."""

from __future__ import annotations

import errno
import os
import wave
from pathlib import Path

SAMPLE_RATE = 8000


class DiskFullError(OSError):
    """The WAV could not be written for lack of space; nothing of it is left."""


def write_wav_atomically(path: Path, pcm: bytes, *, channels: int) -> int:
    """Write 16-bit PCM at 8 kHz to `path`; the file's size. Raises DiskFullError on
    ENOSPC/EDQUOT, OSError otherwise; either way no partial file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            with wave.open(raw, "wb") as out:
                out.setnchannels(channels)
                out.setsampwidth(2)
                out.setframerate(SAMPLE_RATE)
                out.writeframes(pcm)
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(exc.errno, f"{path}: {os.strerror(exc.errno)}") from exc
        raise
    return path.stat().st_size


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
