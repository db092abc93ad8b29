"""The ringback tone an agent hears while the colleague it dialled rings.

The controller answers an internal call before it rings the callee (`connect` answers
a new call first), so the calling phone's own ringback stops at that 200 and, without
this, the agent hears silence until the callee answers. The ACD driver plays this file
to the calling agent's leg right after the callee's INVITE went out; the bridge's
`stop media` ends it when the callee answers (docs/call-control.md, "Internal calls").

The tone is China's (GB 9959, YD/T 1179): 450 Hz, 1 s on, 4 s off, written by Python's
`wave` (no sox needed), long enough for any ring: the ACD gives up on an internal call
after `acd.direct_ring_timeout_ms` (20 s by default).
"""

from __future__ import annotations

import logging
import math
import os
import struct
import tempfile
import wave
from pathlib import Path

__all__ = ["RINGBACK_LEVEL_DBFS", "ringback_file", "ringback_samples", "ringback_tone"]

log = logging.getLogger("controller.ringback")

SAMPLE_RATE = 8000
FREQUENCY_HZ = 450.0
ON_S, OFF_S = 1.0, 4.0
CYCLES = 12  # 60 s: three times the default direct ring timeout
# Between the hold music (-18 dBFS) and the announcements (-3 dBFS), so that a test
# reading the caller's RTP tells them apart.
RINGBACK_LEVEL_DBFS = -10.0
_VERSION = 1  # part of the file name: a changed tone is written afresh


def ringback_samples(*, cycles: int = CYCLES) -> list[int]:
    """The tone as 16-bit samples: `cycles` times 1 s of 450 Hz then 4 s of silence."""
    amplitude = round(32767 * 10 ** (RINGBACK_LEVEL_DBFS / 20))
    on = [
        round(amplitude * math.sin(2 * math.pi * FREQUENCY_HZ * n / SAMPLE_RATE))
        for n in range(int(ON_S * SAMPLE_RATE))
    ]
    off = [0] * int(OFF_S * SAMPLE_RATE)
    return (on + off) * cycles


def ringback_tone(directory: Path | str) -> Path:
    """The path of the ringback WAV (8 kHz mono 16-bit) in `directory`, written once.

    rtpengine opens it by this path, so `directory` must be on the rtpengine host (the
    prompt cache is). Written to a temporary name and renamed, so a replica starting at
    the same time never plays half a file.
    """
    directory = Path(directory)
    dest = directory / f"ringback-cn-{int(FREQUENCY_HZ)}hz-v{_VERSION}.wav"
    if dest.is_file():
        return dest
    directory.mkdir(parents=True, exist_ok=True)
    samples = ringback_samples()
    fd, tmp = tempfile.mkstemp(prefix=".ringback-", suffix=".wav", dir=directory)
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        os.chmod(tmp, 0o644)  # rtpengine may run as another user
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def ringback_file(cache_dir: Path | str | None) -> str | None:
    """The tone in the prompt cache (`--prompt-cache`), or None: without a cache there
    is no place rtpengine is known to read, and the calling agent hears silence."""
    if cache_dir is None:
        return None
    try:
        return str(ringback_tone(cache_dir))
    except OSError as exc:
        log.warning(
            "cannot write the ringback tone in %s (%s): calling agents of internal "
            "calls hear silence while the callee rings",
            cache_dir,
            exc,
        )
        return None
