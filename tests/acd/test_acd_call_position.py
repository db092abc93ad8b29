"""`Acd.call_position`: a queued call's place and expected wait, read-only (music on hold)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from acd import Acd, ManualClock, QueueConfig
from tests.acd.acd_testkit import default_config, login, sound

BILLING = QueueConfig("billing", skills={"billing": 1}, ring_timeout=15.0, wrap_up=10.0)
SALES = QueueConfig("sales", skills={"sales": 1}, ring_timeout=15.0)


@pytest.fixture
def two_queues(make_acd: Callable[..., Acd]) -> Acd:
    return make_acd(BILLING, SALES)


def test_positions_follow_the_core_order_priority_first(two_queues: Acd) -> None:
    acd = two_queues
    login(acd, 1001, ready=False)  # staffed but busy: calls wait
    login(acd, 1002, skills={"sales": 1}, ready=False)
    acd.enqueue("a", "billing").raise_for_error()
    acd.enqueue("b", "billing").raise_for_error()
    acd.enqueue("vip", "billing", priority=5).raise_for_error()
    acd.enqueue("s", "sales").raise_for_error()
    got = {cid: acd.call_position(cid) for cid in ("a", "b", "vip", "s")}
    assert {
        cid: (p["position"], p["queue_length"], p["waiting"])  # type: ignore[index]
        for cid, p in got.items()
    } == {"vip": (1, 3, True), "a": (2, 3, True), "b": (3, 3, True), "s": (1, 1, True)}
    assert acd.call_position("nope") is None
    sound(acd)


def test_query_changes_nothing_and_applies_no_timer(two_queues: Acd, clock: ManualClock) -> None:
    acd = two_queues
    login(acd, 1001)
    acd.enqueue("c1", "billing")  # rings 1001 at once
    before = acd.to_dict()
    clock.advance(60)  # the ring timeout (15 s) is overdue, but a query must not apply it
    position = acd.call_position("c1")
    assert position is not None
    assert (position["state"], position["waiting"], position["position"]) == ("ringing", False, 0)
    assert position["expected_wait"] is None
    assert acd.to_dict() == before


def test_expected_wait_from_the_age_of_calls_in_progress(
    two_queues: Acd, clock: ManualClock
) -> None:
    acd = two_queues
    login(acd, 1001)
    login(acd, 1002)
    login(acd, 1003, ready=False)  # busy: not serving, so not counted
    acd.enqueue("t1", "billing")
    acd.answered("t1", 1001).raise_for_error()
    clock.advance(60)
    acd.enqueue("t2", "billing")
    acd.answered("t2", 1002).raise_for_error()
    clock.advance(60)
    acd.enqueue("w1", "billing")
    acd.enqueue("w2", "billing")
    clock.advance(5)  # t1 has lasted 125 s, t2 65 s: H = 95 + 10 wrap-up; N = 2
    first, second = acd.call_position("w1"), acd.call_position("w2")
    assert first is not None and second is not None
    assert first["expected_wait"] == pytest.approx(1 * 105 / 2)
    assert second["expected_wait"] == pytest.approx(2 * 105 / 2)
    assert first["waited"] == pytest.approx(5.0)
    sound(acd)


def test_no_estimate_while_nobody_talks(two_queues: Acd) -> None:
    acd = two_queues
    login(acd, 1001, ready=False)
    acd.enqueue("w", "billing")
    position = acd.call_position("w")
    assert position is not None
    assert (position["position"], position["expected_wait"]) == (1, None)


def test_expected_wait_from_the_talk_times_of_finished_calls(
    two_queues: Acd, clock: ManualClock
) -> None:
    """Finished calls of 100 s then 20 s: average 100 + 0.25 x (20 - 100) = 80 s; the
    call in progress (lasting 500 s by then) no longer counts. Sales keeps no history."""
    acd = two_queues
    login(acd, 1001)
    for call_id, talk in (("h1", 100.0), ("h2", 20.0)):
        acd.enqueue(call_id, "billing")
        acd.answered(call_id, 1001).raise_for_error()
        clock.advance(talk)
        acd.hangup(call_id).raise_for_error()
        clock.advance(10)  # the wrap-up
        acd.tick()
    login(acd, 1002)
    acd.enqueue("long", "billing")
    acd.answered("long", 1001).raise_for_error()
    acd.enqueue("busy2", "billing")
    acd.answered("busy2", 1002).raise_for_error()
    acd.enqueue("w1", "billing")
    clock.advance(500)
    position = acd.call_position("w1")
    assert position is not None
    assert position["expected_wait"] == pytest.approx(1 * (80 + 10) / 2)  # N = 2 talking

    # The history survives a restart (a new leader loads the state from Redis).
    restored = Acd.from_dict(
        json.loads(json.dumps(acd.to_dict())), default_config(BILLING, SALES), clock
    )
    again = restored.call_position("w1")
    assert again is not None and again["expected_wait"] == pytest.approx(45.0)
    sound(acd)
