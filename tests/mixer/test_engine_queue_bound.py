"""How many frames an input may queue: jitter_frames, plus what the catch-up ticks of a
loop that was held up will take (an Engine in process, no packets)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mixer._engine import TICK_S, Engine
from mixer._mixing import FRAME
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


def test_on_time_the_bound_is_jitter_frames(engine: Engine) -> None:
    engine._next_due = time.monotonic() + TICK_S
    assert engine._queue_bound() == 2 * FRAME


def test_a_held_up_loop_keeps_a_frame_for_each_due_tick(engine: Engine) -> None:
    engine._next_due = time.monotonic() - 2.5 * TICK_S  # three ticks are due
    assert engine._queue_bound() == (2 + 3) * FRAME
    engine._next_due = time.monotonic() - 60 * TICK_S  # beyond the catch-up: skipped
    assert engine._queue_bound() == (2 + 5) * FRAME
