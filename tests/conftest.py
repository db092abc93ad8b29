"""Shared fixtures: a real stack per module, and logs kept for failed tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.parties import stop_all

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def artifact_dir(node_id: str) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", node_id)


@pytest.fixture(autouse=True)
def _stop_sipp_parties() -> Iterator[None]:
    """Stop any sipp party (tests.support.parties.track) a test left running."""
    yield
    stop_all()


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
def keep_on_failure(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A work directory that is copied to test-artifacts/ when the test fails."""
    yield tmp_path
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shutil.copytree(tmp_path, artifact_dir(request.node.nodeid), dirs_exist_ok=True)
