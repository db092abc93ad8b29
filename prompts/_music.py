"""Music on hold: a short, quiet melody that rtpengine loops under queue announcements.

Synthesised by sox (no audio files in the repository, no licensing question) and
cached like a prompt. A pentatonic line of plucked notes: it cannot clash with
itself when looped. Its peak is -18 dBFS against -3 for prompts: plucked notes are
dense (crest factor ~3, speech ~10), so this keeps its loudness (RMS) under the
announcements and a caller hears "you are number 3" clearly.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Final

from ._cache import RENDERER_VERSION, write_atomically
from ._engine import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH, run_tool

# Notes of a C-major pentatonic line (two bars, answered an octave lower), in sox's
# note names; each lasts NOTE_S seconds.
MELODY: Final = (
    "C4",
    "D4",
    "E4",
    "G4",
    "A4",
    "G4",
    "E4",
    "D4",
    "E4",
    "G4",
    "A4",
    "C5",
    "A4",
    "G4",
    "E4",
    "D4",
    "C4",
    "E4",
    "D4",
    "C4",
    "A3",
    "C4",
    "D4",
    "C4",
)
NOTE_S: Final = 0.5
LEVEL_DBFS: Final = -18


def hold_music(cache_dir: Path | str, *, sox: str = "sox", timeout_s: float = 30.0) -> Path:
    """The path of the cached hold-music WAV (8 kHz mono 16-bit), rendered once."""
    directory = Path(cache_dir)
    # Named by everything that shapes the audio, so a changed melody renders afresh.
    material = json.dumps([RENDERER_VERSION, MELODY, NOTE_S, LEVEL_DBFS, SAMPLE_RATE])
    dest = directory / f"music-on-hold-{hashlib.sha256(material.encode()).hexdigest()[:16]}.wav"
    if dest.is_file():
        return dest
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(dest, lambda tmp: _synthesise(tmp, sox, timeout_s))
    return dest


def _synthesise(dest: Path, sox: str, timeout_s: float) -> None:
    fmt = [
        "-r",
        str(SAMPLE_RATE),
        "-c",
        str(CHANNELS),
        "-b",
        str(SAMPLE_WIDTH * 8),
        "-e",
        "signed-integer",
    ]
    with tempfile.TemporaryDirectory(prefix=".moh-", dir=dest.parent) as work:
        notes = []
        for i, note in enumerate(MELODY):
            path = Path(work) / f"{i:02d}.wav"
            # A plucked string with a short fade: soft attack, no click between notes.
            run_tool(
                [
                    sox,
                    "-n",
                    *fmt,
                    str(path),
                    "synth",
                    str(NOTE_S),
                    "pluck",
                    note,
                    "fade",
                    "0.01",
                    str(NOTE_S),
                    "0.1",
                ],
                timeout_s=timeout_s,
            )
            notes.append(str(path))
        run_tool(
            [sox, *notes, *fmt, "-t", "wav", str(dest), "norm", str(LEVEL_DBFS)],
            timeout_s=timeout_s,
        )
