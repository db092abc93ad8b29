"""A call ID is unique forever: once a call has left the ACD, a command naming it again is
a retry (its first reply was lost in a fail-over) and must not create the call again."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from acd import (
    BUILTIN_STRATEGIES,
    Acd,
    AcdConfig,
    ConfigError,
    ErrorCode,
    ManualClock,
    QueueConfig,
    validate_config,
)
from tests.acd.acd_testkit import ADMIN, default_config, login, sound

RETENTION = 600.0


def _served(acd: Acd, call_id: str = "c1") -> None:
    """Enqueue, ring 1001, answer, hang up: the call is gone."""
    assert acd.enqueue(call_id, "billing").ok
    assert acd.answered(call_id, 1001).ok
    assert acd.hangup(call_id).ok
    assert acd.call(call_id) is None


def test_enqueue_after_the_call_ended_is_refused_and_changes_nothing(
    acd: Acd, clock: ManualClock
) -> None:
    login(acd, 1001)
    _served(acd)
    clock.advance(5)
    before = acd.to_dict()
    again = acd.enqueue("c1", "billing")
    assert again.error is not None and again.error.code is ErrorCode.CALL_EXISTS
    assert "already ended" in again.error.message
    assert not again.events and not again.actions
    assert acd.to_dict() == before  # no second call.queued, no ring
    assert acd.ended_at("c1") == clock.now() - 5
    sound(acd)


def test_a_live_call_still_says_it_is_in_the_acd(acd: Acd) -> None:
    assert acd.enqueue("c1", "billing").ok
    again = acd.enqueue("c1", "billing")
    assert again.error is not None and again.error.code is ErrorCode.CALL_EXISTS
    assert "already in the ACD" in again.error.message
    assert acd.ended_at("c1") is None


def test_internal_call_with_an_ended_id_is_refused(acd: Acd) -> None:
    login(acd, 1001)
    _served(acd)
    again = acd.reserve_for_internal_call(1001, "c1")
    assert again.error is not None and again.error.code is ErrorCode.CALL_EXISTS
    assert "already ended" in again.error.message


def test_commands_on_an_ended_call_say_it_ended(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    _served(acd)
    for result in (
        acd.answered("c1", 1001),
        acd.no_answer("c1", 1001),
        acd.hangup("c1"),
        acd.transfer("c1", to_queue="billing"),
        acd.transfer("c1", to_agent=1002),
    ):
        assert result.error is not None and result.error.code is ErrorCode.UNKNOWN_CALL
        assert result.error.message == "call 'c1' already ended"
    unknown = acd.hangup("never")
    assert unknown.error is not None and unknown.error.message == "no call 'never'"
    sound(acd)


def test_every_way_out_of_the_acd_is_remembered(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(
        QueueConfig(
            "billing",
            skills={"billing": 1},
            ring_timeout=15.0,
            max_wait=30.0,
            overflow_target="voicemail",
        ),
        QueueConfig("sales", skills={"sales": 1}, ring_timeout=15.0),
    )
    login(acd, 1001)
    assert acd.enqueue("abandoned", "sales").ok  # nobody has sales: waits
    assert acd.hangup("abandoned").ok
    assert acd.enqueue("reconciled", "sales").ok
    assert acd.reconcile([]).ok
    assert acd.reserve_for_internal_call(1001, "undelivered").ok
    clock.advance(acd.config.direct_ring_timeout)
    assert acd.tick().actions[-1].call_id == "undelivered"  # Undelivered
    assert acd.enqueue("ringing", "billing").ok
    assert acd.enqueue("routed", "billing").ok  # waits behind "ringing", then max wait
    clock.advance(30)
    assert any(a.call_id == "routed" for a in acd.tick().actions)  # Route to voicemail
    assert acd.hangup("ringing").ok
    for call_id in ("abandoned", "reconciled", "undelivered", "routed", "ringing"):
        assert acd.call(call_id) is None
        assert acd.ended_at(call_id) is not None, call_id
        refused = acd.enqueue(call_id, "sales")
        assert refused.error is not None and refused.error.code is ErrorCode.CALL_EXISTS
    sound(acd)


def test_ended_ids_are_forgotten_after_the_retention(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(ended_call_retention=RETENTION)
    login(acd, 1001)
    _served(acd, "old")
    clock.advance(RETENTION / 2)
    _served(acd, "newer")
    clock.advance(RETENTION / 2 - 0.001)
    assert acd.enqueue("old", "billing").error is not None  # still remembered
    clock.advance(0.001)  # "old" ended exactly one retention ago: forgotten
    assert acd.ended_cutoff() < acd.ended_at("old")  # type: ignore[operator]
    assert acd.enqueue("old", "billing").ok
    assert acd.ended_at("old") is None and acd.call("old") is not None
    assert acd.ended_cutoff() == clock.now() - RETENTION
    assert acd.enqueue("newer", "billing").error is not None
    assert [cid for cid, _ in acd.to_dict()["ended"]] == ["newer"]
    sound(acd)


def test_retention_zero_remembers_nothing(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(ended_call_retention=0.0)
    login(acd, 1001)
    _served(acd)
    assert acd.ended_at("c1") is None
    assert acd.enqueue("c1", "billing").ok


def test_ended_ids_survive_serialisation_but_stay_out_of_meta(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001)
    _served(acd, "a")
    clock.advance(1)
    _served(acd, "b")
    data = json.loads(json.dumps(acd.to_dict()))
    assert data["ended"] == [["a", clock.now() - 1], ["b", clock.now()]]
    assert "ended" not in acd.meta()  # written on every commit: must stay small
    again = Acd.from_dict(data, acd.config, clock)
    assert again.to_dict() == acd.to_dict()
    refused = again.enqueue("a", "billing")
    assert refused.error is not None and refused.error.code is ErrorCode.CALL_EXISTS
    older = {k: v for k, v in data.items() if k != "ended"}  # state written before this
    assert Acd.from_dict(older, acd.config, clock).enqueue("a", "billing").ok


def test_state_with_a_live_call_recorded_as_ended_is_rejected(acd: Acd, clock: ManualClock) -> None:
    assert acd.enqueue("c1", "billing").ok
    data = acd.to_dict()
    data["ended"] = [["c1", 1.0]]
    with pytest.raises(ValueError, match="recorded as ended"):
        Acd.from_dict(data, acd.config, clock)


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_negative_retention_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError, match="ended_call_retention"):
        validate_config(AcdConfig(ended_call_retention=bad), BUILTIN_STRATEGIES)


def test_supervisor_force_commands_are_unaffected(acd: Acd) -> None:
    login(acd, 1001)
    _served(acd)
    assert acd.force_busy(ADMIN, 1001).ok


def test_default_retention_is_ten_minutes() -> None:
    assert AcdConfig().ended_call_retention == 600.0
    assert default_config().ended_call_retention == 600.0
