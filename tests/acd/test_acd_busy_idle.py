"""R-AG-10 busy/idle and phone presence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acd import Acd, AgentState, ErrorCode, ManualClock, QueueConfig
from tests.acd.acd_testkit import login, rung, sound


def test_busy_blocks_calls_and_idle_returns_to_service(acd: Acd) -> None:
    login(acd, 1001)
    result = acd.go_busy(1001, "LUNCH")
    assert result.ok
    assert acd.agent(1001)["reason"] == "LUNCH"  # type: ignore[index]
    assert rung(acd.enqueue("c1", "billing")) == []
    assert acd.waiting("billing") == ["c1"]
    assert rung(acd.go_idle(1001)) == [("c1", 1001)]
    sound(acd)


def test_busy_can_change_its_reason(acd: Acd) -> None:
    login(acd, 1001)
    acd.go_busy(1001, "LUNCH")
    result = acd.go_busy(1001, "TRAINING")
    assert [(e["from"], e["to"], e["reason"]) for e in result.events] == [
        ("busy", "busy", "TRAINING")
    ]


def test_idle_when_idle_is_a_quiet_no_op(acd: Acd) -> None:
    login(acd, 1001)
    result = acd.go_idle(1001)
    assert result.ok and result.events == []


@pytest.mark.parametrize("answer", [False, True])
def test_busy_refused_unless_on_hook(acd: Acd, answer: bool) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    if answer:
        acd.answered("c1", 1001)
    result = acd.go_busy(1001, "LUNCH")
    assert result.error is not None
    assert result.error.code is ErrorCode.NOT_ON_HOOK
    assert acd.agent_state(1001) is (AgentState.TALKING if answer else AgentState.RESERVED)


def test_idle_refused_while_talking(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    result = acd.go_idle(1001)
    assert result.error is not None
    assert result.error.code is ErrorCode.INVALID_TRANSITION


def test_busy_allowed_in_wrap_up(make_acd: Callable[..., Acd], clock: ManualClock) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=10))
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.WRAP_UP
    assert acd.go_busy(1001, "PAPERWORK").ok
    clock.advance(20)
    acd.tick()
    assert acd.agent_state(1001) is AgentState.BUSY  # wrap-up timer no longer applies


@pytest.mark.parametrize("reason", ["", "X" * 65])
def test_busy_reason_must_be_sensible(acd: Acd, reason: str) -> None:
    login(acd, 1001)
    result = acd.go_busy(1001, reason)
    assert result.error is not None
    assert result.error.code is ErrorCode.INVALID_ARGUMENT


def test_busy_and_idle_need_a_login(acd: Acd) -> None:
    for result in (acd.go_busy(1001, "LUNCH"), acd.go_idle(1001), acd.heartbeat(1001, "s1")):
        assert result.error is not None
        assert result.error.code is ErrorCode.NOT_LOGGED_IN


# ---------------------------------------------------------------- phone presence


def test_unreachable_phone_makes_agent_not_ready(acd: Acd) -> None:
    login(acd, 1001)
    result = acd.phone_presence(1001, reachable=False)
    assert [(e["to"], e["reason"]) for e in result.events] == [("busy", "PHONE_UNREACHABLE")]
    assert rung(acd.enqueue("c1", "billing")) == []
    refused = acd.go_idle(1001)
    assert refused.error is not None
    assert refused.error.code is ErrorCode.PHONE_UNREACHABLE
    back = acd.phone_presence(1001, reachable=True)
    assert [(e["from"], e["to"]) for e in back.events if e["kind"] == "agent.state"] == [
        ("busy", "idle"),
        ("idle", "reserved"),
    ]
    assert rung(back) == [("c1", 1001)]


def test_phone_loss_while_ringing_returns_call_to_queue(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    result = acd.phone_presence(1001, reachable=False)
    assert acd.agent_state(1001) is AgentState.BUSY
    assert acd.waiting("billing") == ["c1"]
    assert [a.kind for a in result.actions] == ["cancel_ring"]
    assert acd.agent(1001)["no_answers"] == 0  # type: ignore[index]
    sound(acd)


def test_phone_loss_while_talking_applies_after_the_call(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    acd.phone_presence(1001, reachable=False)
    assert acd.agent_state(1001) is AgentState.TALKING
    acd.hangup("c1")
    assert acd.agent(1001)["reason"] == "PHONE_UNREACHABLE"  # type: ignore[index]


def test_phone_back_during_call_cancels_the_pending_not_ready(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    acd.phone_presence(1001, reachable=False)
    acd.phone_presence(1001, reachable=True)
    acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.IDLE


def test_phone_loss_keeps_the_agents_own_busy_reason(acd: Acd) -> None:
    login(acd, 1001)
    acd.go_busy(1001, "LUNCH")
    acd.phone_presence(1001, reachable=False)
    assert acd.agent(1001)["reason"] == "LUNCH"  # type: ignore[index]
    acd.phone_presence(1001, reachable=True)
    assert acd.agent_state(1001) is AgentState.BUSY  # the agent was busy by choice


def test_phone_presence_for_unknown_agent_is_refused(acd: Acd) -> None:
    result = acd.phone_presence(1234, reachable=False)
    assert result.error is not None
    assert result.error.code is ErrorCode.NOT_LOGGED_IN
