"""espeak-ng speaks the text; sox turns its output into what rtpengine plays.

rtpengine's `play media` takes WAV at 8 kHz (DESIGN.md); espeak-ng writes
22,050 Hz. Two subprocesses and two temp files rather than a pipe, so that a
failure names the tool that failed and carries that tool's own stderr.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from ._errors import PromptError

SAMPLE_RATE: Final = 8000
CHANNELS: Final = 1
SAMPLE_WIDTH: Final = 2  # bytes: 16-bit signed PCM, which rtpengine decodes without a codec


class Synthesiser(Protocol):
    """Writes `text`, read by espeak-ng voice `voice`, to `dest` as a finished WAV."""

    def __call__(self, text: str, voice: str, dest: Path) -> None: ...


@dataclass(frozen=True)
class EspeakSox:
    """The production `Synthesiser`. Binaries are fields so tests can break them."""

    espeak: str = "espeak-ng"
    sox: str = "sox"
    timeout_s: float = 30.0

    def __call__(self, text: str, voice: str, dest: Path) -> None:
        with tempfile.TemporaryDirectory(prefix=".espeak-", dir=dest.parent) as work:
            spoken = Path(work) / "espeak.wav"
            # Text on stdin, not argv: a prompt starting with "-" is not an option,
            # and -b 1 says it is UTF-8 whatever the locale.
            self._run(
                self.espeak,
                [self.espeak, "-v", voice, "-b", "1", "-w", str(spoken), "--stdin"],
                stdin=text.encode(),
            )
            if not spoken.is_file() or spoken.stat().st_size == 0:
                raise PromptError(f"{self.espeak} wrote no audio for voice {voice!r}")
            self._run(
                self.sox,
                [
                    self.sox,
                    str(spoken),
                    "-r",
                    str(SAMPLE_RATE),
                    "-c",
                    str(CHANNELS),
                    "-b",
                    str(SAMPLE_WIDTH * 8),
                    "-e",
                    "signed-integer",
                    "-t",
                    "wav",
                    str(dest),
                    # Peak at -3 dBFS: English and Mandarin prompts come out of
                    # espeak-ng at different levels, and callers hear them back to back.
                    "norm",
                    "-3",
                ],
            )

    def _run(self, tool: str, argv: list[str], stdin: bytes | None = None) -> None:
        run_tool(argv, stdin=stdin, timeout_s=self.timeout_s)


def run_tool(argv: list[str], *, stdin: bytes | None = None, timeout_s: float) -> None:
    """Run one audio tool; any failure is a PromptError naming it, with its stderr."""
    tool = argv[0]
    try:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError as exc:
        raise PromptError(
            f"{tool} not found; install the Debian package {Path(tool).name}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise PromptError(f"{tool} took longer than {timeout_s:g} s") from exc
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip() or "(no stderr)"
        raise PromptError(f"{tool} exited with status {done.returncode}: {stderr}")
