"""Internal calls the agent's own phone places, and the Release action of a transfer.

Rules (docs/acd.md, "Rules chosen"): the agent who places an internal call is out of
service for the call's length (busy, INTERNAL_CALL) and goes back to where it was when
the call leaves the ACD, whichever way it leaves; a transfer tells the controller to
drop the transferring agent's leg (Release) before any Offer for the next one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acd import Acd, AgentState, ErrorCode, ManualClock, QueueConfig, Release, Result
from tests.acd.acd_testkit import ADMIN, login, rung, sound

BUSY, IDLE = AgentState.BUSY, AgentState.IDLE


def _state(acd: Acd, eid: int) -> tuple[AgentState, str | None]:
    record = acd.agent(eid)
    assert record is not None
    return AgentState(record["state"]), record["reason"]


def test_the_calling_agent_is_busy_for_the_call_and_idle_after_it(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    result = acd.reserve_for_internal_call(
        1002, "i1", caller="user1001", origin=1001, source="ctl#1"
    )
    assert rung(result) == [("i1", 1002)]
    assert _state(acd, 1001) == (BUSY, "INTERNAL_CALL")
    moved = [e for e in result.events if e["kind"] == "agent.state" and e["agent"] == 1001]
    assert [(e["from"], e["to"], e["trigger"], e["call"]) for e in moved] == [
        ("idle", "busy", "place_call", "i1")
    ]  # the log ties the busy time to the call
    assert acd.sourced_calls() == [("i1", "ctl#1", acd.call("i1")["arrived"])]  # type: ignore[index]
    # A queue call now goes to nobody: the callee rings, the caller is busy.
    assert rung(acd.enqueue("q1", "billing")) == []
    acd.answered("i1", 1002)
    sound(acd)
    ended = acd.hangup("i1")
    # The callee has no wrap-up after an internal call, so both are idle at once, and
    # the waiting queue call is offered in the same command.
    placed = next(e for e in ended.events if e["kind"] == "agent.state" and e["agent"] == 1001)
    assert (placed["from"], placed["to"], placed["trigger"], placed["call"]) == (
        "busy",
        "idle",
        "placed_call_end",
        "i1",
    )
    ((call, agent),) = rung(ended)
    assert call == "q1" and agent in (1001, 1002)
    sound(acd)


@pytest.mark.parametrize("how", ["abandon", "undelivered", "reconcile", "end_calls"])
def test_every_way_out_puts_the_calling_agent_back(acd: Acd, clock: ManualClock, how: str) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.reserve_for_internal_call(1002, "i1", origin=1001)
    if how == "abandon":
        acd.hangup("i1")
    elif how == "undelivered":
        clock.advance(acd.config.direct_ring_timeout)
        assert [a.kind for a in acd.tick().actions] == ["cancel_ring", "undelivered"]
    elif how == "reconcile":
        acd.reconcile([])
    else:
        acd.end_calls({"i1": "reconciled: controller gone"})
    assert acd.call("i1") is None
    assert _state(acd, 1001) == (IDLE, "INTERNAL_CALL_ENDED")
    assert _state(acd, 1002)[0] is IDLE
    sound(acd)


def test_an_agent_busy_before_the_call_is_busy_with_its_reason_after_it(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.go_busy(1001, "LUNCH")
    acd.reserve_for_internal_call(1002, "i1", origin=1001)
    assert _state(acd, 1001) == (BUSY, "INTERNAL_CALL")
    acd.hangup("i1")
    assert _state(acd, 1001) == (BUSY, "LUNCH")


def test_from_wrap_up_the_calling_agent_is_idle_after_the_call(
    make_acd: Callable[..., Acd],
) -> None:
    """The call took the rest of its wrap-up; an internal call has no wrap-up of its own."""
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=60.0))
    login(acd, 1001)
    login(acd, 1002)
    acd.enqueue("q1", "billing")
    acd.answered("q1", 1001)
    acd.hangup("q1")
    assert _state(acd, 1001)[0] is AgentState.WRAP_UP
    acd.reserve_for_internal_call(1002, "i1", origin=1001)
    assert _state(acd, 1001) == (BUSY, "INTERNAL_CALL")
    acd.hangup("i1")
    assert _state(acd, 1001) == (IDLE, "INTERNAL_CALL_ENDED")
    sound(acd)


def test_what_happened_during_the_call_wins(acd: Acd) -> None:
    """Its own go_busy, a supervisor's force_busy/force_idle, a logout or the phone
    going away during the call decide where the agent is afterwards."""
    steps: list[tuple[Callable[[Acd], Result], tuple[AgentState, str]]] = [
        (lambda a: a.force_busy(ADMIN, 1001, "COACHING"), (BUSY, "COACHING")),
        (lambda a: a.go_busy(1001, "BREAK"), (BUSY, "BREAK")),
        (lambda a: a.force_idle(ADMIN, 1001), (IDLE, "FORCED_BY:root")),
        (lambda a: a.phone_presence(1001, reachable=False), (BUSY, "PHONE_UNREACHABLE")),
    ]
    for step, after in steps:
        acd = Acd(acd.config, ManualClock(2_000.0))
        login(acd, 1001)
        login(acd, 1002)
        acd.reserve_for_internal_call(1002, "i1", origin=1001)
        assert step(acd).ok
        acd.hangup("i1")
        assert _state(acd, 1001) == after
        sound(acd)
    acd = Acd(acd.config, ManualClock(2_000.0))
    login(acd, 1001)
    login(acd, 1002)
    acd.reserve_for_internal_call(1002, "i1", origin=1001)
    assert acd.logout(1001).ok
    acd.hangup("i1")
    assert acd.agent(1001) is None
    sound(acd)


def test_the_calling_agent_cannot_make_itself_ready_during_the_call(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.reserve_for_internal_call(1002, "i1", origin=1001)
    refused = acd.go_idle(1001)
    assert refused.error is not None and refused.error.code is ErrorCode.NOT_ON_HOOK
    assert "internal call" in refused.error.message
    # Only a placed call sets that reason (its end clears it): nobody may give it.
    login(acd, 1003)
    for bad in (acd.go_busy(1003, "INTERNAL_CALL"), acd.force_busy(ADMIN, 1003, "INTERNAL_CALL")):
        assert bad.error is not None and bad.error.code is ErrorCode.INVALID_ARGUMENT
    assert _state(acd, 1003) == (IDLE, "LOGIN")


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("ringing", ErrorCode.NOT_ON_HOOK),
        ("talking", ErrorCode.NOT_ON_HOOK),
        ("placing", ErrorCode.NOT_ON_HOOK),
        ("itself", ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_an_agent_with_a_call_cannot_place_another(acd: Acd, setup: str, code: ErrorCode) -> None:
    """One call per agent, for the calling agent too; refused before anything changed."""
    login(acd, 1001)
    login(acd, 1002)
    login(acd, 1003)
    callee = 1002
    if setup in ("ringing", "talking"):
        acd.enqueue("q1", "billing")
        assert acd.agent(1001)["call"] == "q1"  # type: ignore[index] # longest idle
        if setup == "talking":
            acd.answered("q1", 1001)
    elif setup == "placing":
        acd.reserve_for_internal_call(1003, "i0", origin=1001)
    else:
        callee = 1001
    before = acd.to_dict()
    result = acd.reserve_for_internal_call(callee, "i1", origin=1001)
    assert result.error is not None and result.error.code is code, result.error
    assert acd.to_dict() == before


def test_a_caller_who_is_not_logged_in_changes_nothing(acd: Acd) -> None:
    login(acd, 1002)
    assert rung(acd.reserve_for_internal_call(1002, "i1", origin=1001)) == [("i1", 1002)]
    acd.answered("i1", 1002)
    acd.hangup("i1")
    sound(acd)


def test_the_origin_survives_a_reload(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.go_busy(1001, "LUNCH")
    acd.reserve_for_internal_call(1002, "i1", origin=1001)
    again = Acd.from_dict(acd.to_dict(), acd.config, clock)
    assert again.call("i1")["origin"] == 1001  # type: ignore[index]
    again.hangup("i1")
    assert _state(again, 1001) == (BUSY, "LUNCH")


# ---------------------------------------------------------------- Release


def _talking(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)


def test_transfer_to_an_agent_releases_the_old_agent_before_offering_the_new(acd: Acd) -> None:
    _talking(acd)
    login(acd, 1002)
    result = acd.transfer("c1", to_agent=1002)
    assert [a.kind for a in result.actions] == ["release", "offer"]
    release = result.actions[0]
    assert release == Release("c1", 1001, 1, "TRANSFERRED", "user1001", "billing")
    assert rung(result) == [("c1", 1002)]


def test_transfer_to_a_queue_with_nobody_idle_is_a_release_alone(
    make_acd: Callable[..., Acd],
) -> None:
    """Without the Release the controller would never learn that the agent is off the
    call: the call waits in the queue (the agent wraps up) and no Offer comes yet."""
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=60.0))
    _talking(acd)
    result = acd.transfer("c1", to_queue="billing")
    assert [a.kind for a in result.actions] == ["release"]
    assert acd.waiting("billing") == ["c1"]
    assert result.actions[0].to_dict() == {
        "kind": "release",
        "call_id": "c1",
        "agent": 1001,
        "seat": 1,
        "reason": "TRANSFERRED",
        "username": "user1001",
        "queue": "billing",
    }


def test_the_agent_who_takes_a_transferred_call_wraps_up_for_its_queue(
    make_acd: Callable[..., Acd],
) -> None:
    """The transfer target rings `direct` (its own ring timeout), but the caller is still
    a customer of the queue: after the call the target wraps up like any queue agent."""
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=60.0))
    _talking(acd)
    login(acd, 1002)
    acd.transfer("c1", to_agent=1002)
    acd.answered("c1", 1002)
    acd.hangup("c1")
    assert _state(acd, 1001)[0] is AgentState.WRAP_UP
    assert _state(acd, 1002)[0] is AgentState.WRAP_UP
    sound(acd)
