"""Fixtures for the ACD core tests: a manual clock and a small call center."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acd import Acd, ManualClock, QueueConfig
from tests.acd.acd_testkit import START, default_config


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def make_acd(clock: ManualClock) -> Callable[..., Acd]:
    def make(*queues: QueueConfig, **kwargs: object) -> Acd:
        return Acd(default_config(*queues, **kwargs), clock)

    return make


@pytest.fixture
def acd(make_acd: Callable[..., Acd]) -> Acd:
    return make_acd()
