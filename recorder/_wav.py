"""Writing a recording's WAV (`recording.write_wav`: a temporary name, fsynced, renamed,
so the final name only ever holds a whole file), telling a full disk from other errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import recording


class DiskFullError(OSError):
    """The WAV could not be written for lack of space; nothing of it is left."""


def write_wav_atomically(path: Path, pcm: Any) -> int:
    """Write `pcm` (int16, frames x channels) to `path`; the file's size. DiskFullError on
    ENOSPC/EDQUOT, OSError otherwise; either way no partial file is left."""
    try:
        recording.write_wav(path, pcm)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(exc.errno, f"{path}: {os.strerror(exc.errno)}") from exc
        raise
    return path.stat().st_size
