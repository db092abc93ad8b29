"""R-AG-1 login, R-AG-2 logout, session leases."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acd import Acd, AgentState, ErrorCode, ManualClock, QueueConfig
from tests.acd.acd_testkit import account, kinds, login, rung, sound


def test_login_makes_agent_idle_and_returns_a_session(acd: Acd) -> None:
    result = login(acd, 1001)
    assert result.session_id
    assert acd.agent_state(1001) is AgentState.IDLE
    event = result.events[0]
    assert event["kind"] == "agent.state"
    assert (event["agent"], event["from"], event["to"]) == (1001, "logged_out", "idle")
    assert acd.agent(1001)["skills"] == {"billing": 5}  # type: ignore[index]
    sound(acd)


def test_login_not_ready_starts_busy(acd: Acd) -> None:
    login(acd, 1001, ready=False)
    assert acd.agent_state(1001) is AgentState.BUSY


@pytest.mark.parametrize(
    ("seat", "employee_id", "role", "code"),
    [
        (0, 1001, "agent", ErrorCode.SEAT_OUT_OF_RANGE),
        (501, 1001, "agent", ErrorCode.SEAT_OUT_OF_RANGE),
        (1, 999, "agent", ErrorCode.EMPLOYEE_ID_OUT_OF_RANGE),
        (1, 10_000, "agent", ErrorCode.EMPLOYEE_ID_OUT_OF_RANGE),
        (1, 1001, "supervisor", ErrorCode.ROLE_INVALID),  # the account is only an agent
        (1, 1001, "admin", ErrorCode.ROLE_INVALID),  # not a desk role
        (1, 1001, "janitor", ErrorCode.ROLE_INVALID),
        (1, 1002, "agent", ErrorCode.EMPLOYEE_ID_MISMATCH),  # not this account's ID
    ],
)
def test_login_range_and_role_checks(
    acd: Acd, seat: int, employee_id: int, role: str, code: ErrorCode
) -> None:
    result = acd.login(account(1001), seat=seat, employee_id=employee_id, role=role)
    assert result.error is not None
    assert result.error.code is code
    assert result.error.message
    assert acd.agent_state(employee_id) is AgentState.LOGGED_OUT


@pytest.mark.parametrize("skills", [{"billing": 6}, {"outage": 1}, {"billing": 0}])
def test_skills_must_be_within_what_the_admin_allows(acd: Acd, skills: dict[str, int]) -> None:
    result = acd.login(account(1001), seat=1, employee_id=1001, role="agent", skills=skills)
    assert result.error is not None
    assert result.error.code is ErrorCode.SKILL_NOT_ALLOWED


def test_login_may_request_fewer_skills_at_lower_levels(acd: Acd) -> None:
    acct = account(1001, skills={"billing": 5, "outage": 3})
    result = acd.login(acct, seat=1, employee_id=1001, role="agent", skills={"billing": 2})
    assert result.ok
    assert acd.agent(1001)["skills"] == {"billing": 2}  # type: ignore[index]


def test_second_login_of_same_employee_is_refused(acd: Acd) -> None:
    login(acd, 1001)
    result = acd.login(account(1001), seat=7, employee_id=1001, role="agent")
    assert result.error is not None
    assert result.error.code is ErrorCode.ALREADY_LOGGED_IN
    assert acd.agent(1001)["seat"] == 1  # type: ignore[index]


def test_login_to_an_occupied_seat_is_refused(acd: Acd) -> None:
    login(acd, 1001, seat=5)
    result = acd.login(account(1002), seat=5, employee_id=1002, role="agent")
    assert result.error is not None
    assert result.error.code is ErrorCode.SEAT_OCCUPIED


def test_refusal_changes_nothing_and_can_raise(acd: Acd) -> None:
    login(acd, 1001)
    before = acd.to_dict()
    result = acd.login(account(1001), seat=2, employee_id=1001, role="agent")
    assert acd.to_dict() == before
    assert result.events == [] and result.actions == []
    with pytest.raises(Exception, match="ALREADY_LOGGED_IN"):
        result.raise_for_error()


def test_supervisor_can_log_in_as_supervisor(acd: Acd) -> None:
    login(acd, 1001, role="supervisor")
    assert acd.agent(1001)["role"] == "supervisor"  # type: ignore[index]


# ---------------------------------------------------------------- logout


def test_logout_frees_seat_and_employee(acd: Acd) -> None:
    session = login(acd, 1001, seat=5).session_id
    result = acd.logout(1001, session)
    assert result.ok and not result.deferred
    assert acd.agent_state(1001) is AgentState.LOGGED_OUT
    assert acd.agent(1001) is None
    assert acd.login(account(1002), seat=5, employee_id=1002, role="agent").ok
    sound(acd)


def test_logout_when_not_logged_in_is_refused(acd: Acd) -> None:
    result = acd.logout(1001)
    assert result.error is not None
    assert result.error.code is ErrorCode.NOT_LOGGED_IN


def test_logout_removes_agent_from_every_queue(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd(
        QueueConfig("billing", skills={"billing": 1}), QueueConfig("outage", skills={"outage": 1})
    )
    login(acd, 1001, skills={"billing": 1, "outage": 1})
    acd.logout(1001).raise_for_error()
    acd.enqueue("c1", "billing").raise_for_error()
    acd.enqueue("c2", "outage").raise_for_error()
    assert acd.waiting("billing") == ["c1"]
    assert acd.waiting("outage") == ["c2"]
    assert all(q["agents_logged_in"] == 0 for q in acd.snapshot()["queues"])


def test_logout_while_ringing_sends_call_back_to_queue_front(acd: Acd) -> None:
    login(acd, 1001)
    assert rung(acd.enqueue("c1", "billing")) == [("c1", 1001)]
    acd.enqueue("c2", "billing")
    result = acd.logout(1001)
    assert result.ok and not result.deferred
    assert [(a.kind, a.call_id) for a in result.actions] == [("cancel_ring", "c1")]
    assert acd.waiting("billing") == ["c1", "c2"]
    assert acd.call("c1")["state"] == "queued"  # type: ignore[index]
    login(acd, 1002)
    # The returned call is served before the one that arrived after it.
    assert acd.call("c1")["ringing"] == [1002]  # type: ignore[index]
    sound(acd)


def test_logout_while_talking_is_deferred_until_hangup(acd: Acd, clock: ManualClock) -> None:
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    result = acd.logout(1001)
    assert result.ok and result.deferred
    assert "agent.pending" in kinds(result)
    assert acd.agent_state(1001) is AgentState.TALKING
    acd.enqueue("c2", "billing")  # not offered to a leaving agent (it is talking anyway)
    clock.advance(30)
    end = acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.LOGGED_OUT
    states = [(e["from"], e["to"]) for e in end.events if e["kind"] == "agent.state"]
    assert states == [("talking", "logged_out")]
    sound(acd)


def test_logout_with_a_stale_session_is_refused(acd: Acd) -> None:
    login(acd, 1001)
    result = acd.logout(1001, "not-my-session")
    assert result.error is not None
    assert result.error.code is ErrorCode.STALE_SESSION
    assert acd.agent_state(1001) is AgentState.IDLE


# ---------------------------------------------------------------- leases


@pytest.fixture
def leased(make_acd: Callable[..., Acd]) -> Acd:
    return make_acd(
        QueueConfig("billing", skills={"billing": 1}, ring_timeout=60), lease_seconds=30.0
    )


def test_heartbeat_keeps_the_session(leased: Acd, clock: ManualClock) -> None:
    acd = leased
    session = login(acd, 1001).session_id
    assert session is not None
    for _ in range(10):
        clock.advance(20)
        assert acd.heartbeat(1001, session).ok
    assert acd.agent_state(1001) is AgentState.IDLE


def test_expired_lease_logs_the_agent_out(leased: Acd, clock: ManualClock) -> None:
    acd = leased
    session = login(acd, 1001, seat=9).session_id
    assert session is not None
    assert acd.next_deadline() == clock.now() + 30
    clock.advance(29.9)
    assert acd.tick().events == []
    clock.advance(0.1)
    result = acd.tick()
    assert [(e["to"], e["reason"]) for e in result.events] == [("logged_out", "LEASE_EXPIRED")]
    # A crashed desktop does not lock its agent out: log in again, on any seat.
    assert acd.login(account(1001), seat=9, employee_id=1001, role="agent").ok


def test_heartbeat_after_expiry_finds_no_session(leased: Acd, clock: ManualClock) -> None:
    acd = leased
    session = login(acd, 1001).session_id
    assert session is not None
    clock.advance(31)
    result = acd.heartbeat(1001, session)  # no tick in between: commands run timers first
    assert result.error is not None
    assert result.error.code is ErrorCode.NOT_LOGGED_IN
    assert "agent.state" in kinds(result)


def test_old_desktop_cannot_renew_a_new_session(leased: Acd, clock: ManualClock) -> None:
    acd = leased
    old = login(acd, 1001).session_id
    clock.advance(31)
    acd.tick()
    login(acd, 1001)
    assert old is not None
    result = acd.heartbeat(1001, old)
    assert result.error is not None
    assert result.error.code is ErrorCode.STALE_SESSION


def test_lease_expiry_while_ringing_requeues_the_call(leased: Acd, clock: ManualClock) -> None:
    acd = leased
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    clock.advance(30)
    result = acd.tick()
    assert acd.agent_state(1001) is AgentState.LOGGED_OUT
    assert acd.waiting("billing") == ["c1"]
    assert [(a.kind, a.agent) for a in result.actions] == [("cancel_ring", 1001)]
    sound(acd)


def test_lease_expiry_while_talking_waits_for_the_call(leased: Acd, clock: ManualClock) -> None:
    acd = leased
    login(acd, 1001)
    acd.enqueue("c1", "billing")
    acd.answered("c1", 1001)
    clock.advance(45)
    result = acd.tick()
    assert acd.agent_state(1001) is AgentState.TALKING
    assert [e["pending"] for e in result.events if e["kind"] == "agent.pending"] == ["logout"]
    assert acd.tick().events == []  # not re-announced on every tick
    acd.hangup("c1")
    assert acd.agent_state(1001) is AgentState.LOGGED_OUT
