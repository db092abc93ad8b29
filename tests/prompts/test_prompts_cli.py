"""`python -m prompts`: render one prompt from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts.__main__ import main

from .prompts_testkit import read_wav


def test_renders_to_out_and_prints_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.wav"
    code = main(
        [
            "您的余额是123.45元",
            "--lang",
            "zh",
            "--out",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--show-text",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.strip() == str(out.resolve())
    assert "yi4 bai3 er4 shi2 san1 dian3 si4 wu3 yuan2" in captured.err
    assert read_wav(out).rate == 8000
    assert len(list((tmp_path / "cache").glob("zh-*.wav"))) == 1


def test_prints_cached_path_without_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Hello", "--lang", "en", "--cache-dir", str(tmp_path)]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed.parent == tmp_path.resolve()


def test_error_exits_2_with_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["  ", "--lang", "en", "--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: prompt text is empty\n"
