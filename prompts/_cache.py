"""Where a rendered prompt lives, and how it gets there without a torn file.

A prompt is rendered once and played many times (every caller in a queue hears
the same announcement), so files are named by a hash of everything that
changes the audio. Two processes may render the same prompt at once (ACD
replicas, the media tier); each writes a private temp file and renames it into
place, so a reader sees either no file or a whole one, never a partial one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

# Bump when the audio for the same text changes (new sox effects, new text
# normalisation rules) so old cache entries are no longer used.
RENDERER_VERSION: Final = 1


def cache_key(*, text: str, language: str, voice: str, speakable: str) -> str:
    """A file-name-safe key for one prompt.

    `speakable` (the text espeak-ng is given) is part of the key as well as
    `text`: an upgrade of cn2an or pypinyin that reads a prompt differently
    then renders it afresh instead of playing the old reading.
    """
    material = json.dumps([RENDERER_VERSION, language, voice, text, speakable])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def cache_path(cache_dir: Path, language: str, key: str) -> Path:
    return cache_dir / f"{language}-{key}.wav"


def write_atomically(dest: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` for a temp file beside `dest`, then rename it to `dest`."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}-", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file 0600; rtpengine may run as another user and
        # must be able to read the prompts.
        tmp.chmod(0o644)
        # Flush before the rename, so a crash cannot leave a named but empty file.
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        tmp.replace(dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
