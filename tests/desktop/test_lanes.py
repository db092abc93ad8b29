"""The desktop's action lanes: one agent's actions in the ACD's order, another agent's
not held up behind a slow one (an offer waiting on the store)."""

from __future__ import annotations

import threading
from functools import partial

from desktop._events import Lanes
from testbed import wait_until


def test_one_keys_jobs_run_in_order_and_a_slow_key_holds_up_no_other() -> None:
    lanes = Lanes(2, "test-lanes")
    lanes.start()
    done: list[tuple[int, int]] = []
    release = threading.Event()
    try:
        # Key 0's first job blocks (a lookup waiting on the store); key 1 goes on.
        def slow_first() -> None:
            release.wait(10)
            done.append((0, 0))

        lanes.submit(0, slow_first)
        for n in range(1, 4):
            lanes.submit(0, partial(done.append, (0, n)))
        for n in range(3):
            lanes.submit(1, partial(done.append, (1, n)))
        wait_until(lambda: len(done) == 3, timeout=5, what="key 1's jobs")
        assert done == [(1, 0), (1, 1), (1, 2)]
        release.set()
        wait_until(lambda: len(done) == 7, timeout=5, what="key 0's jobs")
        assert [n for key, n in done if key == 0] == [0, 1, 2, 3]
    finally:
        release.set()
        lanes.stop()


def test_a_failing_job_does_not_stop_its_lane() -> None:
    lanes = Lanes(1, "test-lanes")
    lanes.start()
    done: list[int] = []
    try:

        def fails() -> None:
            raise RuntimeError("a handler's bug")

        lanes.submit(7, fails)
        lanes.submit(7, partial(done.append, 1))
        wait_until(lambda: done == [1], timeout=5, what="the job after the failure")
    finally:
        lanes.stop()
