"""Shared fixtures: a real stack per module, and logs kept for failed tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from testbed import artifact_dir, stop_all

TESTS = Path(__file__).resolve().parent

# What starts a service process (Kamailio, rtpengine, redis-server, sipp, ClickHouse,
# PostgreSQL, Streamlit, Chromium, a controller, an ACD replica, the CDR service) gets the
# `integration` marker here, so `pytest -m "not integration"` starts none. A
# `pytestmark` in a conftest.py is not applied to its tests; this hook is.
# Every test of the whole stack (tests/integration/) runs against real processes:
PROCESS_DIRS: Final = (TESTS / "integration",)
# Elsewhere a package's folder holds its pure unit tests and its component tests side
# by side, so the marker goes by what a test uses. Every test using one of these
# fixtures (directly or through another fixture) starts a process:
PROCESS_FIXTURES: Final = frozenset(
    {
        "ksr_api",  # tests/routing: Kamailio, for its KEMI function list
        "redis_url",  # tests/eventlog: redis-server
        "redis_server",  # tests/acdsvc: redis-server (its replicas run on it)
        "engine",  # tests/controller and its acd_driver/: rtpengine (and the controller)
        "redis_port",  # tests/controller/acd_driver: redis-server (and the ACD replica)
        "postgres_url",  # tests/bizdata: a PostgreSQL cluster (testbed.running_postgres)
        "billing_api",  # tests/bizdata: the example operator HTTP API (docs/examples/)
        "desktop_server",  # tests/desktop: redis-server, an ACD replica, the desktop over TLS
        "mixer_process",  # tests/mixer: python -m mixer
    }
)
# Modules that start a process inside the test itself (no fixture to see):
PROCESS_MODULES: Final = frozenset(
    TESTS / name
    for name in (
        "analytics/test_analytics_clickhouse.py",  # clickhouse-server
        "benchmarks/test_monitor_mixing_smoke.py",  # rtpengine and a mixer
        "analytics/test_analytics_service.py",  # redis-server and the CDR service
        "dashboards/test_dashboards_browser.py",  # Streamlit, Chromium, the CDR service
        "dashboards/test_dashboards_live.py",  # redis-server
        "dashboards/test_recordings_browser.py",  # Streamlit, Chromium
        "controller/test_event_publisher.py",  # redis-server, restarted mid-test
        "controller/test_sippy_fixes.py",  # a controller process refusing a taken port
        "recorder/test_recorder_service.py",  # redis-server, rtpengine, the recorder
        "recording/test_rtpengine_pcap.py",  # rtpengine writing pcap recordings
        "mixer/test_mixer_process.py",  # python -m mixer (also a second, small one)
        "mixer/test_mixer_rtpengine.py",  # rtpengine and python -m mixer
    )
)


def starts_processes(item: pytest.Item) -> bool:
    path = item.path
    return (
        any(path.is_relative_to(folder) for folder in PROCESS_DIRS)
        or path in PROCESS_MODULES
        or not PROCESS_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if starts_processes(item):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def _stop_sipp_parties() -> Iterator[None]:
    """Stop any sipp party (testbed.track) a test left running."""
    yield
    stop_all()


@pytest.fixture(scope="session")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 8 kHz, 16-bit mono 440 Hz WAV, made with sox for this run."""
    sox = shutil.which("sox")
    if sox is None:
        pytest.fail("sox is not installed; run scripts/install")
    path = tmp_path_factory.mktemp("prompts") / "tone.wav"
    subprocess.run(
        [
            sox,
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            "3",
            "sine",
            "440",
            "vol",
            "0.5",
        ],
        check=True,
        timeout=30,
    )
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
