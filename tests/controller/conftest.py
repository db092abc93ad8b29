"""Fixtures: one rtpengine per module, one controller per test, a test tone, clean teardown."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.harness import (
    Controller,
    Rtpengine,
    assert_clean,
    running_controller,
    running_rtpengine,
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rtpengine]:
    with running_rtpengine(tmp_path_factory.mktemp("rtpengine")) as running:
        yield running


@pytest.fixture(scope="session")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 8 kHz, 16-bit mono 440 Hz WAV, made with sox for this run."""
    sox = shutil.which("sox")
    if sox is None:
        pytest.fail("sox is not installed; run scripts/install")
    path = tmp_path_factory.mktemp("prompts") / "tone.wav"
    subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
                    "synth", "3", "sine", "440", "vol", "0.5"], check=True, timeout=30)
    return path


@pytest.fixture
def workdir(keep_on_failure: Path) -> Path:
    return keep_on_failure


@pytest.fixture
def controller(workdir: Path, engine: Rtpengine) -> Iterator[Controller]:
    """The controller process with agents 1001 and 1002; checks clean teardown after."""
    with running_controller(workdir, engine, ("1001", "1002")) as running:
        yield running
        assert_clean(running, engine)
        running.close()
        running.process.terminate()
        assert running.process.wait(timeout=10) == 0
        assert "Traceback" not in running.log_text(), running.log_text()[-3000:]
