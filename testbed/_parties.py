"""sipp parties a test started: stopped after every test, even a failed one."""

from __future__ import annotations

from simulators import SippRun

_RUNS: list[SippRun] = []


def track(run: SippRun) -> SippRun:
    """Register a party so the root conftest stops it when the test ends."""
    _RUNS.append(run)
    return run


def stop_all() -> None:
    while _RUNS:
        _RUNS.pop().stop()
