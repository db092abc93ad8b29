"""Fixtures: one rtpengine per module, one controller per test, a test tone, clean teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed import (
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
