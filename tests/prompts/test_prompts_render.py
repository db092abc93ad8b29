"""`render` with the real espeak-ng and sox: format, audibility, cache, errors."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from prompts import EspeakSox, PromptError, render

from .prompts_testkit import read_wav

RMS_FLOOR = 300  # espeak-ng speech normalised to -3 dBFS measures about 2,500


class CountingSynthesiser:
    """The real synthesiser, counting how often it is asked to render."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._real = EspeakSox()

    def __call__(self, text: str, voice: str, dest: Path) -> None:
        self.calls.append((text, voice))
        self._real(text, voice, dest)


def fake_tool(tmp_path: Path, name: str, stderr: str, status: int) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit {status}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("text", "language"),
    [("您的余额是123.45元", "zh"), ("Your balance is 123.45 yuan.", "en")],
)
def test_wav_is_what_rtpengine_plays_and_is_speech(
    tmp_path: Path, text: str, language: str
) -> None:
    path = render(text, language, tmp_path)
    wav = read_wav(path)
    assert (wav.rate, wav.channels, wav.sample_width) == (8000, 1, 2)
    assert wav.duration_s > 0.5
    assert wav.rms > RMS_FLOOR
    assert path.parent == tmp_path
    assert path.name.startswith(f"{language}-")
    assert path.stat().st_mode & 0o777 == 0o644  # rtpengine may run as another user


def test_cache_hit_returns_same_file_without_rendering(tmp_path: Path) -> None:
    synth = CountingSynthesiser()
    first = render("请稍候", "zh", tmp_path, synthesiser=synth)
    mtime = first.stat().st_mtime_ns
    second = render("请稍候", "zh", tmp_path, synthesiser=synth)
    assert second == first
    assert first.stat().st_mtime_ns == mtime
    assert synth.calls == [("qing3 shao1 hou4", "cmn-latn-pinyin")]


def test_different_text_or_language_is_a_different_file(tmp_path: Path) -> None:
    paths = {
        render("1", "en", tmp_path),
        render("2", "en", tmp_path),
        render("1", "zh", tmp_path),
    }
    assert len(paths) == 3


def test_cache_dir_is_created(tmp_path: Path) -> None:
    path = render("Hello", "en", tmp_path / "a" / "b")
    assert path.is_file()


def test_concurrent_renders_of_one_prompt_leave_one_whole_file(tmp_path: Path) -> None:
    results: list[Path] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            results.append(render("Please hold.", "en", tmp_path))
        except BaseException as exc:  # collected so the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert sorted(os.listdir(tmp_path)) == [results[0].name]  # no temp files left
    assert read_wav(results[0]).duration_s > 0.3


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(PromptError, match="empty"):
        render(text, "en", tmp_path)


def test_unknown_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="unknown prompt language 'fr'; expected one of zh, en"):
        render("Bonjour", "fr", tmp_path)


def test_missing_espeak_is_named(tmp_path: Path) -> None:
    synth = EspeakSox(espeak=str(tmp_path / "no-such-espeak-ng"))
    with pytest.raises(PromptError, match="no-such-espeak-ng not found"):
        render("Hello", "en", tmp_path / "cache", synthesiser=synth)


def test_missing_sox_is_named(tmp_path: Path) -> None:
    synth = EspeakSox(sox=str(tmp_path / "no-such-sox"))
    with pytest.raises(PromptError, match="no-such-sox not found"):
        render("Hello", "en", tmp_path / "cache", synthesiser=synth)


def test_failing_espeak_reports_its_stderr_and_leaves_no_file(tmp_path: Path) -> None:
    espeak = fake_tool(tmp_path, "espeak-ng", "Error: The specified voice does not exist.", 1)
    cache = tmp_path / "cache"
    with pytest.raises(PromptError, match=r"exited with status 1: Error: The specified voice"):
        render("Hello", "en", cache, synthesiser=EspeakSox(espeak=espeak))
    assert os.listdir(cache) == []


def test_failing_sox_reports_its_stderr(tmp_path: Path) -> None:
    sox = fake_tool(tmp_path, "sox", "sox FAIL formats: no handler", 2)
    with pytest.raises(PromptError, match="exited with status 2: sox FAIL formats: no handler"):
        render("Hello", "en", tmp_path / "cache", synthesiser=EspeakSox(sox=sox))
