"""The ticks a packet read now is placed against: by the clock (its slack) and the first
tick not run yet (late or not), apart when the loop was held up (an Engine in process)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mixer._engine import TICK_S, Engine
from mixer._settings import MixerSettings
from testbed import mixer_config


@pytest.fixture
def engine() -> Iterator[Engine]:
    node = mixer_config({}, ports=9)
    settings = MixerSettings(
        "test", "127.0.0.1", 0, "127.0.0.1", node["port_min"], node["port_max"], 2, 30.0
    )
    engine = Engine(settings)
    yield engine
    engine.close()


def test_on_time_both_are_the_next_tick(engine: Engine) -> None:
    engine._open_tick = 40
    engine._next_due = time.monotonic() + TICK_S
    assert engine._ticks_now() == (40, 40)


def test_a_held_up_loop_keeps_its_open_tick_for_the_catch_up(engine: Engine) -> None:
    engine._open_tick = 40
    engine._next_due = time.monotonic() - 2.5 * TICK_S  # ticks 40-42 are due, 43 is next
    assert engine._ticks_now() == (43, 40)  # a frame for tick 40 is not late
