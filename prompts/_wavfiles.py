"""Prompt WAV files: checking their format, their length, and joining several into one.

rtpengine's `play media` plays one file per command, and a second `play media`
cuts the first. A sentence built of pieces ("您的余额是" + the amount + a recorded
"谢谢") is therefore joined into one WAV and played with one command. Joining
copies PCM frames, so every piece must already be in the prompt format: 8 kHz,
mono, 16-bit signed PCM, which is also what a recorded WAV that replaces a TTS
prompt must be (the flow validator checks it with `check_prompt_wav`).
"""

from __future__ import annotations

import hashlib
import json
import wave
from collections.abc import Sequence
from pathlib import Path

from ._cache import RENDERER_VERSION, write_atomically
from ._engine import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH
from ._errors import PromptError

_FORMAT = f"{SAMPLE_RATE} Hz, mono, {SAMPLE_WIDTH * 8}-bit PCM"  # CHANNELS is 1


def check_prompt_wav(path: Path | str) -> None:
    """`PromptError` naming `path` and what is wrong unless it is a readable WAV that
    rtpengine can play as a prompt (8 kHz, mono, 16-bit PCM) with some audio in it."""
    _read_format(Path(path))


def wav_duration_ms(path: Path | str) -> int:
    """How long the WAV at `path` plays, in whole milliseconds."""
    file = Path(path)
    try:
        with wave.open(str(file), "rb") as w:
            return w.getnframes() * 1000 // w.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise PromptError(f"{file}: cannot read as WAV: {exc}") from exc


def concat_wavs(paths: Sequence[Path | str], cache_dir: Path | str) -> Path:
    """One cached WAV playing the prompt WAVs `paths` one after the other.

    Named by a hash of the pieces' contents, so a piece rendered or recorded afresh
    makes a new file and the same sequence is joined once. Written like `render`'s
    cache: a temp file renamed into place, readable by rtpengine's user.
    """
    files = [Path(p) for p in paths]
    if not files:
        raise PromptError("no WAV files to join")
    digest = hashlib.sha256(json.dumps(["concat", RENDERER_VERSION]).encode())
    for file in files:
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise PromptError(f"{file}: cannot read: {exc.strerror or exc}") from exc
        digest.update(hashlib.sha256(content).digest())
    directory = Path(cache_dir)
    dest = directory / f"seq-{digest.hexdigest()[:32]}.wav"
    if dest.is_file():
        return dest
    frames = [_read_frames(file) for file in files]  # every format checked before writing
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(dest, lambda tmp: _write(tmp, frames))
    return dest


def _read_format(file: Path) -> int:
    """The number of frames in `file`, after checking it is a prompt WAV."""
    if not file.is_file():
        raise PromptError(f"{file}: no such file")
    try:
        with wave.open(str(file), "rb") as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            frames = w.getnframes()
    except (OSError, EOFError, wave.Error) as exc:
        # wave.Error covers compressed WAVs too ("unknown format: 7" is mu-law).
        raise PromptError(f"{file}: not a PCM WAV file ({exc}); expected {_FORMAT}") from exc
    if fmt != (SAMPLE_RATE, CHANNELS, SAMPLE_WIDTH):
        rate, channels, width = fmt
        raise PromptError(
            f"{file}: {rate} Hz, {channels} channel(s), {width * 8}-bit; expected {_FORMAT}"
            f" (convert with: sox IN -r {SAMPLE_RATE} -c {CHANNELS} -b {SAMPLE_WIDTH * 8}"
            " -e signed-integer OUT.wav)"
        )
    if frames == 0:
        raise PromptError(f"{file}: has no audio")
    return frames


def _read_frames(file: Path) -> bytes:
    _read_format(file)
    with wave.open(str(file), "rb") as w:
        return w.readframes(w.getnframes())


def _write(dest: Path, pieces: list[bytes]) -> None:
    with wave.open(str(dest), "wb") as w:
        w.setnchannels(CHANNELS)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(SAMPLE_RATE)
        for frames in pieces:
            w.writeframes(frames)
