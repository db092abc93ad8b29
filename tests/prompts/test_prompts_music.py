"""Music on hold: what rtpengine plays, audible, quieter than prompts, cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts import CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH, PromptError, hold_music, render
from prompts._music import MELODY, NOTE_S
from tests.prompts.prompts_testkit import read_wav


def test_hold_music_is_playable_audible_and_below_prompts(tmp_path: Path) -> None:
    music = read_wav(hold_music(tmp_path))
    assert (music.rate, music.channels, music.sample_width) == (SAMPLE_RATE, CHANNELS, SAMPLE_WIDTH)
    assert music.duration_s == pytest.approx(len(MELODY) * NOTE_S, abs=0.05)
    prompt = read_wav(render("Please hold.", "en", tmp_path))
    # Audible, yet clearly under an announcement spoken over it.
    assert 100 < music.rms < prompt.rms / 1.5


def test_hold_music_is_rendered_once(tmp_path: Path) -> None:
    first = hold_music(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert hold_music(tmp_path, sox="/nonexistent/sox") == first
    assert first.stat().st_mtime_ns == stamp


def test_missing_sox_is_named(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="sox not found"):
        hold_music(tmp_path, sox="/nonexistent/sox")
    assert not list(tmp_path.glob("*.wav"))
