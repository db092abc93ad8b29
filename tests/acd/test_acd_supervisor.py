"""R-SUP-3 supervisor commands and their permission check; R-SUP-4 live view."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acd import Account, Acd, AgentState, ErrorCode, ManualClock, QueueConfig, Result
from tests.acd.acd_testkit import ADMIN, account, login, rung, sound

SUP = account(2001, roles=("agent", "supervisor"))


def commands(acd: Acd, actor: Account) -> list[Result]:
    return [
        acd.force_logout(actor, 1001),
        acd.force_busy(actor, 1001),
        acd.force_idle(actor, 1001),
    ]


def test_agent_cannot_use_supervisor_commands(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    for result in commands(acd, account(1002)):
        assert result.error is not None
        assert result.error.code is ErrorCode.PERMISSION_DENIED
    assert acd.agent_state(1001) is AgentState.IDLE


def test_supervisor_logged_in_as_agent_is_denied(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 2001, role="agent", seat=100)  # has the supervisor role but did not log in with it
    for result in commands(acd, SUP):
        assert result.error is not None
        assert result.error.code is ErrorCode.PERMISSION_DENIED


def test_supervisor_not_logged_in_is_denied(acd: Acd) -> None:
    login(acd, 1001)
    for result in commands(acd, SUP):
        assert result.error is not None
        assert result.error.code is ErrorCode.PERMISSION_DENIED


def test_logged_in_supervisor_can_force_busy_idle_logout(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 2001, role="supervisor", seat=100)
    assert acd.force_busy(SUP, 1001, "COACHING").ok
    assert acd.agent(1001)["reason"] == "COACHING"  # type: ignore[index]
    assert acd.force_idle(SUP, 1001).ok
    assert acd.agent_state(1001) is AgentState.IDLE
    result = acd.force_logout(SUP, 1001)
    assert result.ok and not result.deferred
    assert acd.agent_state(1001) is AgentState.LOGGED_OUT
    assert result.events[-1]["reason"] == "FORCED_BY:user2001"


def test_admin_account_needs_no_desk_login(acd: Acd) -> None:
    login(acd, 1001)
    assert acd.force_busy(ADMIN, 1001).ok
    assert acd.agent_state(1001) is AgentState.BUSY


def test_forced_commands_on_logged_out_agent(acd: Acd) -> None:
    for result in commands(acd, ADMIN):
        assert result.error is not None
        assert result.error.code is ErrorCode.NOT_LOGGED_IN


def test_force_busy_takes_back_a_ringing_call(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.go_busy(1002, "LUNCH")
    acd.enqueue("c1", "billing")
    result = acd.force_busy(ADMIN, 1001)
    assert acd.agent_state(1001) is AgentState.BUSY
    assert acd.waiting("billing") == ["c1"]
    assert [a.kind for a in result.actions] == ["cancel_ring"]
    sound(acd)


def test_force_busy_while_talking_applies_after_the_call(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd(QueueConfig("billing", skills={"billing": 1}, wrap_up=10))
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    result = acd.force_busy(ADMIN, 1001, "QA_REVIEW")
    assert result.ok and result.deferred
    assert acd.agent_state(1001) is AgentState.TALKING
    acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.BUSY  # no wrap-up: straight to not ready
    assert acd.agent(1001)["reason"] == "QA_REVIEW"  # type: ignore[index]


def test_force_logout_while_talking_is_deferred(acd: Acd) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    result = acd.force_logout(ADMIN, 1001)
    assert result.deferred
    acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.LOGGED_OUT


@pytest.mark.parametrize("answer", [False, True])
def test_force_idle_refused_for_agents_on_a_call(acd: Acd, answer: bool) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    if answer:
        acd.answered("c1", 1001)
    result = acd.force_idle(ADMIN, 1001)
    assert result.error is not None
    assert result.error.code is ErrorCode.INVALID_TRANSITION


def test_snapshot_shows_agents_and_queues(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001)
    login(acd, 1002)
    acd.go_busy(1002, "LUNCH")
    clock.advance(5)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    clock.advance(10)
    acd.enqueue("c2", "billing")
    clock.advance(7)
    acd.enqueue("c3", "billing")
    clock.advance(3)
    view = acd.snapshot()
    agents = {a["employee_id"]: a for a in view["agents"]}
    assert agents[1001]["state"] == "talking"
    assert agents[1001]["time_in_state"] == pytest.approx(20)
    assert agents[1001]["call"] == "c1"
    assert agents[1002]["state"] == "busy"
    assert agents[1002]["reason"] == "LUNCH"
    assert agents[1002]["time_in_state"] == pytest.approx(25)
    (queue,) = view["queues"]
    assert queue["waiting"] == 2
    assert queue["longest_wait"] == pytest.approx(10)
    assert queue["talking"] == 1
    assert (queue["agents_logged_in"], queue["agents_idle"]) == (2, 0)
    assert rung(acd.go_idle(1002)) == [("c2", 1002)]


def test_force_busy_reason_is_checked(acd: Acd) -> None:
    login(acd, 1001)
    result = acd.force_busy(ADMIN, 1001, "")
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT
    assert acd.agent_state(1001) is AgentState.IDLE
