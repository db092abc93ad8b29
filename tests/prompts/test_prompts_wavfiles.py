"""Prompt WAV files: format check, length, joining into one file, pre-warming the cache."""

from __future__ import annotations

import array
import subprocess
import threading
import wave
from pathlib import Path

import pytest

from prompts import (
    EspeakSox,
    PromptError,
    check_prompt_wav,
    concat_wavs,
    prewarm,
    render,
    wav_duration_ms,
)


def write_wav(
    path: Path, samples: list[int], *, rate: int = 8000, channels: int = 1, width: int = 2
) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes(array.array("h", samples * channels).tobytes())
        else:
            w.writeframes(bytes((s >> 8) & 0xFF for s in samples * channels))
    return path


def samples_of(path: Path) -> list[int]:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        return list(array.array("h", w.readframes(w.getnframes())))


def test_a_prompt_wav_passes_the_check_and_has_its_duration(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", [100] * 12000)
    check_prompt_wav(wav)
    assert wav_duration_ms(wav) == 1500


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 16000}, "16000 Hz, 1 channel"),
        ({"channels": 2}, "8000 Hz, 2 channel"),
        ({"width": 1}, "8-bit"),
    ],
)
def test_other_formats_are_refused_with_the_file_and_what_is_wrong(
    tmp_path: Path, kwargs: dict[str, int], message: str
) -> None:
    wav = write_wav(tmp_path / "odd.wav", [100] * 800, **kwargs)
    with pytest.raises(PromptError, match=message) as raised:
        check_prompt_wav(wav)
    assert str(wav) in str(raised.value)
    assert "expected 8000 Hz, mono, 16-bit PCM" in str(raised.value)


def test_missing_empty_and_non_wav_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="no such file"):
        check_prompt_wav(tmp_path / "absent.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(PromptError, match="not a PCM WAV file"):
        check_prompt_wav(tmp_path / "text.wav")
    with pytest.raises(PromptError, match="has no audio"):
        check_prompt_wav(write_wav(tmp_path / "empty.wav", []))
    with pytest.raises(PromptError, match="cannot read as WAV"):
        wav_duration_ms(tmp_path / "text.wav")


def test_a_mu_law_wav_is_refused(tmp_path: Path, tone: Path) -> None:
    """A compressed WAV (here G.711 mu-law, made by sox) is not joined byte by byte."""
    ulaw = tmp_path / "ulaw.wav"
    subprocess.run(["sox", str(tone), "-e", "u-law", str(ulaw)], check=True, timeout=30)
    with pytest.raises(PromptError, match="not a PCM WAV"):
        check_prompt_wav(ulaw)


def test_concat_plays_the_pieces_in_order_and_is_cached(tmp_path: Path) -> None:
    a = write_wav(tmp_path / "a.wav", [1] * 800)
    b = write_wav(tmp_path / "b.wav", [2] * 400)
    cache = tmp_path / "cache"
    joined = concat_wavs([a, b, a], cache)
    assert samples_of(joined) == [1] * 800 + [2] * 400 + [1] * 800
    assert wav_duration_ms(joined) == 250
    assert joined.parent == cache
    assert joined.stat().st_mode & 0o777 == 0o644  # rtpengine may run as another user
    check_prompt_wav(joined)

    mtime = joined.stat().st_mtime_ns
    assert concat_wavs([str(a), str(b), str(a)], cache) == joined
    assert joined.stat().st_mtime_ns == mtime
    assert concat_wavs([b, a], cache) != joined  # order matters
    write_wav(b, [3] * 400)  # a piece recorded afresh: a new file
    assert samples_of(concat_wavs([a, b, a], cache))[800:1200] == [3] * 400


def test_concat_refuses_a_bad_piece_and_writes_nothing(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", [1] * 800)
    bad = write_wav(tmp_path / "bad.wav", [1] * 800, rate=16000)
    cache = tmp_path / "cache"
    with pytest.raises(PromptError, match=r"bad\.wav: 16000 Hz"):
        concat_wavs([good, bad], cache)
    with pytest.raises(PromptError, match=r"absent\.wav: cannot read"):
        concat_wavs([good, tmp_path / "absent.wav"], cache)
    with pytest.raises(PromptError, match="no WAV files"):
        concat_wavs([], cache)
    assert not cache.exists() or not list(cache.iterdir())


def test_concat_joins_rendered_prompts(tmp_path: Path) -> None:
    head = render("您的余额是", "zh", tmp_path)
    amount = render("一百二十三元四角五分", "zh", tmp_path)
    joined = concat_wavs([head, amount], tmp_path)
    assert len(samples_of(joined)) == len(samples_of(head)) + len(samples_of(amount))


def test_concurrent_concats_leave_one_whole_file(tmp_path: Path) -> None:
    pieces = [write_wav(tmp_path / f"{i}.wav", [i] * 8000) for i in range(4)]
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(concat_wavs(pieces, tmp_path / "c")))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert wav_duration_ms(results[0]) == 4000
    assert [p.name for p in (tmp_path / "c").iterdir()] == [results[0].name]  # no temp left


class CountingSynthesiser:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self._lock = threading.Lock()
        self._real = EspeakSox()

    def __call__(self, text: str, voice: str, dest: Path) -> None:
        with self._lock:
            self.texts.append(text)
        self._real(text, voice, dest)


def test_prewarm_renders_what_is_missing_once(tmp_path: Path) -> None:
    render("请稍候", "zh", tmp_path)
    synth = CountingSynthesiser()
    done = prewarm(
        {"zh": ["请稍候", "欢迎致电", "欢迎致电"], "en": ["Welcome.", "Please hold."]},
        tmp_path,
        synthesiser=synth,
    )
    assert (done.rendered, done.cached) == (3, 1)
    assert len(synth.texts) == 3
    again = prewarm({"zh": ["请稍候", "欢迎致电"], "en": ["Welcome."]}, tmp_path, synthesiser=synth)
    assert (again.rendered, again.cached) == (0, 3)
    assert len(synth.texts) == 3
    assert render("Please hold.", "en", tmp_path, synthesiser=synth).is_file()
    assert len(synth.texts) == 3


def test_prewarm_renders_the_good_prompts_and_names_the_bad_ones(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"1 of 2 prompts .* en '  ': prompt text is empty"):
        prewarm({"en": ["Welcome.", "  "]}, tmp_path)
    assert prewarm({"en": ["Welcome."]}, tmp_path).cached == 1
    with pytest.raises(PromptError, match="unknown prompt language"):
        prewarm({"fr": ["Bonjour"]}, tmp_path)
