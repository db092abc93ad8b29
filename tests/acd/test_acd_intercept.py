"""R-SUP-3 intercept: a supervisor takes a call over from its agent. The core only
checks and asks the call's controller (InterceptCall); every refusal has its code."""

from __future__ import annotations

import math

import pytest

from acd import Acd, AgentState, ErrorCode, InterceptCall
from tests.acd.acd_testkit import ADMIN, account, login, sound

SUP = account(2001, roles=("agent", "supervisor"))


def talking(acd: Acd, call_id: str = "c1", agent: int = 1001) -> None:
    assert acd.enqueue(call_id, "billing", caller="13700001111").ok
    assert acd.answered(call_id, agent).ok


@pytest.fixture
def floor(acd: Acd) -> Acd:
    """1001 talking on c1, supervisor 2001 logged in as one and idle, 1002 idle."""
    login(acd, 1001)
    talking(acd)
    login(acd, 2001, role="supervisor", seat=100)
    login(acd, 1002)
    return acd


def test_by_call_or_by_agent_asks_the_controller_and_changes_nothing(floor: Acd) -> None:
    before = floor.to_dict()
    by_call = floor.intercept(SUP, "user2001", call_id="c1")
    assert by_call.ok, by_call.error
    assert by_call.actions == [
        InterceptCall(
            call_id="c1",
            username="user2001",
            employee_id=2001,
            ring_timeout=20.0,
            requested_by="user2001",
        )
    ]
    assert by_call.events == []
    # The wallboard names agents by account or employee ID; an admin needs no desk.
    for agent in ("user1001", "1001"):
        by_agent = floor.intercept(ADMIN, "2001", agent=agent, ring_timeout=5.0)
        assert by_agent.ok, by_agent.error
        (action,) = by_agent.actions
        assert isinstance(action, InterceptCall)
        assert (action.call_id, action.username, action.ring_timeout, action.requested_by) == (
            "c1",
            "user2001",
            5.0,
            "root",
        )
    assert floor.to_dict() == before  # the controller's reservation does the rest
    assert floor.agent_state(2001) is AgentState.IDLE
    sound(floor)


def test_a_ringing_call_can_be_intercepted_and_a_long_ring_timeout_is_cut(acd: Acd) -> None:
    login(acd, 1001)
    login(acd, 2001, role="supervisor", seat=100)
    assert acd.enqueue("c1", "billing").ok  # offered to 1001 (idle the longest)
    assert acd.agent_state(1001) is AgentState.RESERVED
    result = acd.intercept(SUP, "user2001", agent="user1001", ring_timeout=600.0)
    assert result.ok, result.error
    (action,) = result.actions
    assert isinstance(action, InterceptCall) and action.ring_timeout == 20.0


@pytest.mark.parametrize(
    ("actor", "setup"),
    [
        (account(1002), "plain agent"),
        (SUP, "supervisor logged in as an agent"),
        (SUP, "supervisor not logged in"),
    ],
)
def test_only_a_supervisor_desk_or_an_admin_may_intercept(
    acd: Acd, actor: object, setup: str
) -> None:
    login(acd, 1001)
    talking(acd)
    login(acd, 1002)
    if setup == "supervisor logged in as an agent":
        login(acd, 2001, seat=100)  # the account has the role but did not log in with it
    login(acd, 2003, role="supervisor", seat=103)  # a supervisor to ring
    result = acd.intercept(actor, "user2003", call_id="c1")  # type: ignore[arg-type]
    assert result.error is not None and result.error.code is ErrorCode.PERMISSION_DENIED
    assert result.actions == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, ErrorCode.INVALID_ARGUMENT),  # neither call nor agent
        ({"call_id": "c1", "agent": "user1001"}, ErrorCode.INVALID_ARGUMENT),  # both
        ({"call_id": "c1", "ring_timeout": -1.0}, ErrorCode.INVALID_ARGUMENT),
        ({"call_id": "c1", "ring_timeout": math.nan}, ErrorCode.INVALID_ARGUMENT),
        ({"call_id": "nosuch"}, ErrorCode.UNKNOWN_CALL),
        ({"agent": "user1009"}, ErrorCode.NOT_LOGGED_IN),  # the agent is not logged in
        ({"agent": "user1002"}, ErrorCode.CALL_NOT_TALKING),  # idle, on no call
    ],
)
def test_refusals_about_the_call(floor: Acd, kwargs: dict[str, object], code: ErrorCode) -> None:
    result = floor.intercept(SUP, "user2001", **kwargs)  # type: ignore[arg-type]
    assert result.error is not None and result.error.code is code, result.error
    assert result.actions == []


def test_a_call_waiting_in_its_queue_has_no_agent_to_take_it_from(acd: Acd) -> None:
    login(acd, 2001, role="supervisor", seat=100)
    assert acd.force_busy(ADMIN, 2001, "MEETING").ok  # nobody to offer the call to
    login(acd, 1001, ready=False)
    assert acd.enqueue("c1", "billing").ok
    result = acd.intercept(ADMIN, "user2001", call_id="c1")
    assert result.error is not None and result.error.code is ErrorCode.CALL_NOT_TALKING


def test_an_ended_call_is_unknown_and_says_so(floor: Acd) -> None:
    assert floor.hangup("c1").ok
    result = floor.intercept(SUP, "user2001", call_id="c1")
    assert result.error is not None and result.error.code is ErrorCode.UNKNOWN_CALL
    assert "already ended" in result.error.message


def test_a_call_a_supervisor_already_took_is_refused(floor: Acd) -> None:
    login(floor, 2002, role="supervisor", seat=102)
    assert floor.reserve_for_internal_call(2002, "c1.intercept1", kind="intercept").ok
    assert floor.answered("c1.intercept1", 2002).ok
    result = floor.intercept(SUP, "user2001", call_id="c1.intercept1")
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT


def test_an_internal_call_between_agents_is_refused(floor: Acd) -> None:
    assert floor.reserve_for_internal_call(1002, "i1").ok
    assert floor.answered("i1", 1002).ok
    result = floor.intercept(SUP, "user2001", agent="user1002")
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT
    assert "internal call between agents" in result.error.message
    assert result.actions == []


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("unknown", ErrorCode.NOT_LOGGED_IN),
        ("logged out", ErrorCode.NOT_LOGGED_IN),
        ("as agent", ErrorCode.PERMISSION_DENIED),
        ("busy", ErrorCode.AGENT_NOT_AVAILABLE),
        ("ringing", ErrorCode.AGENT_NOT_AVAILABLE),
        ("same person", ErrorCode.INVALID_ARGUMENT),
    ],
)
def test_refusals_about_the_supervisor(acd: Acd, setup: str, code: ErrorCode) -> None:
    login(acd, 1001)
    talking(acd)
    supervisor = "user2001"
    if setup == "as agent":
        login(acd, 2001, seat=100)
    elif setup == "busy":
        login(acd, 2001, role="supervisor", seat=100, ready=False)
    elif setup == "ringing":
        login(acd, 2001, role="supervisor", seat=100)
        assert acd.reserve_for_internal_call(2001, "other.intercept1", kind="intercept").ok
    elif setup == "same person":
        # A supervisor's desk on the call itself (it took a queue call as any agent).
        login(acd, 2001, role="supervisor", seat=100)
        assert acd.enqueue("c2", "billing").ok
        assert acd.answered("c2", 2001).ok
        result = acd.intercept(ADMIN, supervisor, agent="user2001")
        assert result.error is not None and result.error.code is code, result.error
        return
    elif setup == "logged out":
        login(acd, 2001, role="supervisor", seat=100)
        assert acd.logout(2001).ok
    elif setup == "unknown":
        supervisor = "nobody"
    before = acd.to_dict()
    result = acd.intercept(ADMIN, supervisor, call_id="c1")
    assert result.error is not None and result.error.code is code, result.error
    assert result.actions == [] and acd.to_dict() == before
