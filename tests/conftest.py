"""Shared fixtures: a real stack per module, and logs kept for failed tests."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def artifact_dir(node_id: str) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", node_id)


@pytest.fixture
def keep_on_failure(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A work directory that is copied to test-artifacts/ when the test fails."""
    yield tmp_path
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shutil.copytree(tmp_path, artifact_dir(request.node.nodeid), dirs_exist_ok=True)
