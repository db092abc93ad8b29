"""R-SUP-1/2 monitoring sessions in the core: Monitor's checks and refusals, switch,
stop, the controller's reports, sessions ending with their call, persistence and the
snapshot (docs/monitoring.md, docs/acd.md "Monitoring")."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import eventlog
from acd import (
    MONITOR_STOP_REASONS,
    Account,
    Acd,
    AgentState,
    ErrorCode,
    ManualClock,
    MonitorCall,
    MonitorCommand,
    MonitorScope,
    QueueConfig,
    Result,
)
from tests.acd.acd_testkit import ADMIN, START, default_config, sound

QUEUES = (
    QueueConfig("billing", skills={"billing": 1}, ring_timeout=15.0),
    QueueConfig("sales", skills={"sales": 1}, ring_timeout=15.0),
)


def person(
    eid: int, *, team: str | None = None, scope: MonitorScope | None = None, sup: bool = False
) -> Account:
    roles = frozenset({"agent", "supervisor"} if sup else {"agent"})
    return Account(f"user{eid}", eid, roles, {"billing": 5, "sales": 5}, team, scope)


AGENT = person(1001, team="red")
OTHER = person(1002, team="blue")
BY_QUEUE = person(2001, sup=True, scope=MonitorScope(queues=frozenset({"billing"})))
BY_TEAM = person(2002, sup=True, scope=MonitorScope(teams=frozenset({"red"})))
NOBODY = person(2003, sup=True)
EVERYONE = person(2004, sup=True, scope=MonitorScope(everyone=True))


def log_in(acd: Acd, who: Account, role: str = "agent", ready: bool = True) -> None:
    seat = who.employee_id - (1000 if who.employee_id < 2000 else 1900)
    result = acd.login(who, seat=seat, employee_id=who.employee_id, role=role, ready=ready)
    assert result.ok, result.error


def session_ids() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"s{n}"


@pytest.fixture
def make_floor(clock: ManualClock) -> Callable[..., Acd]:
    def make(**overrides: object) -> Acd:
        ids = session_ids()
        acd = Acd(
            default_config(*QUEUES, **{"monitoring": True, **overrides}),
            clock,
            monitor_id=lambda: next(ids),
        )
        log_in(acd, AGENT)
        for sup in (BY_QUEUE, BY_TEAM, NOBODY, EVERYONE):
            log_in(acd, sup, "supervisor", ready=False)  # busy: takes no queue calls
        assert acd.enqueue("c1", "billing", caller="13700001111").ok
        assert acd.answered("c1", 1001).ok
        return acd

    return make


@pytest.fixture
def floor(make_floor: Callable[..., Acd]) -> Acd:
    """1001 (team red) talking on c1 (billing); supervisors 2001..2004 logged in, busy."""
    return make_floor()


def monitor(acd: Acd, who: Account = BY_QUEUE, **kwargs: object) -> Result:
    args: dict[str, object] = {"call_id": "c1", "mode": "listen", **kwargs}
    return acd.monitor(who, who.username, **args)  # type: ignore[arg-type]


def refused(result: Result, code: ErrorCode, *words: str) -> None:
    assert result.error is not None, "not refused"
    assert result.error.code is code, result.error
    for word in words:
        assert word in result.error.message, result.error.message


def test_monitor_makes_a_ringing_session_and_asks_the_controller(floor: Acd) -> None:
    agent_before = floor.agent(1001)
    result = monitor(floor, mode="whisper", record=True, ring_timeout=5.0)
    assert result.ok, result.error
    assert result.actions == [
        MonitorCall(
            call_id="c1",
            session_id="s1",
            username="user2001",
            employee_id=2001,
            mode="whisper",
            ring_timeout=5.0,
            record=True,
            requested_by="user2001",
            agent="user1001",
        )
    ]
    assert floor.agent(1001) == agent_before  # the monitored agent never changes
    session = floor.monitor_session("s1")
    assert session is not None
    assert (session["state"], session["mode"], session["agent"]) == (
        "ringing",
        "whisper",
        "user1001",
    )
    sound(floor)


def test_by_agent_default_ring_timeout_and_its_cap(floor: Acd) -> None:
    for who, agent, asked, got in (
        (BY_QUEUE, "user1001", 0.0, 20.0),
        (BY_TEAM, "1001", 99.0, 20.0),
    ):
        result = floor.monitor(who, who.username, agent=agent, mode="listen", ring_timeout=asked)
        assert result.ok, result.error
        (action,) = result.actions
        assert isinstance(action, MonitorCall)
        assert (action.call_id, action.ring_timeout) == ("c1", got)


def test_two_supervisors_on_one_call_but_one_session_per_supervisor(floor: Acd) -> None:
    assert monitor(floor).ok
    assert monitor(floor, BY_TEAM, mode="barge").ok
    assert len(floor.monitor_sessions()) == 2
    again = monitor(floor, mode="barge")
    refused(again, ErrorCode.AGENT_NOT_AVAILABLE, "already monitors", "s1")
    sound(floor)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(BY_QUEUE, True), (BY_TEAM, True), (EVERYONE, True), (NOBODY, False)],
)
def test_scope_by_queue_team_or_all(floor: Acd, who: Account, allowed: bool) -> None:
    result = monitor(floor, who)
    if allowed:
        assert result.ok, result.error
    else:
        refused(result, ErrorCode.PERMISSION_DENIED, "may monitor nobody")


def test_out_of_scope_says_why(floor: Acd) -> None:
    log_in(floor, OTHER)
    assert floor.enqueue("c2", "sales").ok
    assert floor.answered("c2", 1002).ok
    for who in (BY_QUEUE, BY_TEAM):
        refused(
            monitor(floor, who, call_id="c2"),
            ErrorCode.PERMISSION_DENIED,
            "outside",
            "queue sales",
            "team blue",
        )
    assert monitor(floor, EVERYONE, call_id="c2").ok


def test_an_actor_sending_another_supervisor_needs_the_call_in_its_own_scope(
    floor: Acd,
) -> None:
    log_in(floor, OTHER)
    assert floor.enqueue("c2", "sales").ok
    assert floor.answered("c2", 1002).ok
    refused(
        floor.monitor(BY_QUEUE, "user2004", call_id="c2", mode="listen"),
        ErrorCode.PERMISSION_DENIED,
        "'user2001'",
    )
    result = floor.monitor(ADMIN, "user2004", call_id="c2", mode="listen")  # an admin may
    assert result.ok, result.error
    assert floor.monitor_session("s1") is not None
    assert floor.monitor_session("s1")["requested_by"] == "root"  # type: ignore[index]


def test_refusals(floor: Acd, make_floor: Callable[..., Acd]) -> None:
    stranger = person(1003)
    refused(monitor(floor, stranger), ErrorCode.PERMISSION_DENIED, "not logged in as a supervisor")
    refused(monitor(make_floor(monitoring=False)), ErrorCode.MONITORING_DISABLED)
    refused(
        monitor(floor, mode="intercept"), ErrorCode.INVALID_ARGUMENT, "listen, whisper or barge"
    )
    refused(monitor(floor, mode=""), ErrorCode.INVALID_ARGUMENT)
    refused(monitor(floor, agent="user1001"), ErrorCode.INVALID_ARGUMENT, "one")
    refused(monitor(floor, call_id=""), ErrorCode.INVALID_ARGUMENT, "one")
    refused(monitor(floor, ring_timeout=-1.0), ErrorCode.INVALID_ARGUMENT)
    refused(monitor(floor, call_id="nope"), ErrorCode.UNKNOWN_CALL)
    refused(monitor(floor, call_id="", agent="user1002"), ErrorCode.NOT_LOGGED_IN)
    # The supervisor named: logged in, as a supervisor, not the agent itself.
    refused(floor.monitor(ADMIN, "user1002", call_id="c1"), ErrorCode.NOT_LOGGED_IN)
    refused(floor.monitor(ADMIN, "user1001", call_id="c1"), ErrorCode.PERMISSION_DENIED, "agent")
    assert floor.monitor_sessions() == []
    sound(floor)


def test_the_agent_itself_cannot_monitor_its_call(make_floor: Callable[..., Acd]) -> None:
    acd = make_floor()
    assert acd.hangup("c1").ok
    assert acd.logout(1001, None).ok
    sup_agent = person(1001, team="red", sup=True, scope=MonitorScope(everyone=True))
    log_in(acd, sup_agent, "supervisor")
    assert acd.enqueue("c9", "billing").ok
    assert acd.answered("c9", 1001).ok
    refused(
        acd.monitor(sup_agent, "user1001", call_id="c9"),
        ErrorCode.INVALID_ARGUMENT,
        "cannot monitor itself",
    )


def test_only_an_answered_call_is_monitored(floor: Acd) -> None:
    assert floor.enqueue("c2", "billing").ok  # nobody idle: it waits
    refused(monitor(floor, call_id="c2"), ErrorCode.CALL_NOT_TALKING, "queued")
    log_in(floor, OTHER)  # idle: c2 rings it
    assert floor.agent_state(1002) is AgentState.RESERVED
    refused(monitor(floor, call_id="c2"), ErrorCode.CALL_NOT_TALKING, "ringing")
    refused(monitor(floor, call_id="", agent="user1002"), ErrorCode.CALL_NOT_TALKING)


def test_a_supervisor_on_a_call_cannot_monitor(floor: Acd) -> None:
    assert floor.go_idle(2001, None).ok
    assert floor.enqueue("c2", "billing").ok  # rings the idle supervisor 2001
    assert floor.agent_state(2001) is AgentState.RESERVED
    refused(monitor(floor), ErrorCode.AGENT_NOT_AVAILABLE, "reserved")


def test_switch_changes_the_mode_and_tells_the_controller(floor: Acd) -> None:
    assert monitor(floor).ok
    result = floor.switch_monitor(BY_QUEUE, "s1", "barge")
    assert result.ok, result.error
    assert result.actions == [MonitorCommand("c1", "s1", "barge", "user2001")]
    assert floor.monitor_session("s1")["mode"] == "barge"  # type: ignore[index]
    refused(floor.switch_monitor(BY_QUEUE, "s1", "barge"), ErrorCode.INVALID_TRANSITION, "already")
    refused(floor.switch_monitor(BY_QUEUE, "s1", "shout"), ErrorCode.INVALID_ARGUMENT)
    refused(floor.switch_monitor(BY_QUEUE, "s9", "listen"), ErrorCode.UNKNOWN_MONITOR_SESSION)
    # Someone else's session: an admin, or a supervisor whose scope covers the call.
    assert floor.switch_monitor(ADMIN, "s1", "whisper").ok
    assert floor.switch_monitor(EVERYONE, "s1", "listen").ok
    refused(floor.switch_monitor(NOBODY, "s1", "barge"), ErrorCode.PERMISSION_DENIED, "outside")
    refused(floor.switch_monitor(person(1003), "s1", "barge"), ErrorCode.PERMISSION_DENIED)
    sound(floor)


def test_intercept_once_answered_by_a_supervisor_free_to_take_the_call(floor: Acd) -> None:
    assert monitor(floor).ok
    refused(
        floor.switch_monitor(BY_QUEUE, "s1", "intercept"), ErrorCode.INVALID_TRANSITION, "ringing"
    )
    assert floor.report_monitor("s1", "active").ok
    # Busy (logged in not ready): the controller's reservation would be refused too.
    refused(floor.switch_monitor(BY_QUEUE, "s1", "intercept"), ErrorCode.AGENT_NOT_AVAILABLE)
    assert floor.go_idle(2001, None).ok
    result = floor.switch_monitor(BY_QUEUE, "s1", "intercept")
    assert result.ok, result.error
    assert result.actions == [MonitorCommand("c1", "s1", "intercept", "user2001")]
    # The controller takes the caller over and reports the session's end.
    assert floor.report_monitor("s1", "ended", reason="intercept").ok
    assert floor.monitor_sessions() == []


def test_a_monitoring_supervisor_is_offered_no_queue_call_until_the_session_ends(
    floor: Acd,
) -> None:
    """The supervisor's phone is on the session: a queue call waits rather than ring it."""
    assert monitor(floor).ok
    assert floor.force_idle(ADMIN, 2001).ok  # the supervisor's desk is ready for calls
    assert floor.enqueue("c2", "billing", caller="13700002222").ok
    assert floor.call("c2")["state"] == "queued"  # 2001 is idle, but on the session
    assert floor.agent(2001)["state"] == AgentState.IDLE.value
    stopped = floor.stop_monitor(BY_QUEUE, "s1")
    assert stopped.ok, stopped.error
    assert floor.call("c2")["state"] == "ringing" and floor.call("c2")["ringing"] == [2001]
    sound(floor)


def test_a_supervisor_who_logs_out_leaves_its_sessions(floor: Acd) -> None:
    assert monitor(floor).ok
    assert monitor(floor, BY_TEAM).ok
    out = floor.logout(2001)
    assert out.ok, out.error
    assert (
        MonitorCommand(call_id="c1", session_id="s1", mode="", requested_by="user2001")
        in out.actions
    )
    assert floor.monitor_session("s1") is None
    assert floor.monitor_session("s2") is not None  # the other supervisor's stays
    sound(floor)


def test_stop_ends_the_session_and_frees_the_supervisor(floor: Acd) -> None:
    assert monitor(floor).ok
    result = floor.stop_monitor(BY_QUEUE, "s1")
    assert result.ok, result.error
    assert result.actions == [MonitorCommand("c1", "s1", "", "user2001")]
    assert floor.monitor_sessions() == []
    refused(floor.stop_monitor(BY_QUEUE, "s1"), ErrorCode.UNKNOWN_MONITOR_SESSION)
    # The controller's late report of the end changes nothing; a live one is refused.
    assert floor.report_monitor("s1", "ended", reason="requested").ok
    refused(floor.report_monitor("s1", "active"), ErrorCode.UNKNOWN_MONITOR_SESSION)
    assert monitor(floor, mode="barge").ok  # free for another session
    sound(floor)


def test_reports_answer_switch_move_and_end(floor: Acd, clock: ManualClock) -> None:
    assert monitor(floor).ok
    clock.advance(3)
    assert floor.report_monitor("s1", "active").ok
    view = floor.snapshot()["monitors"]
    assert view == [
        {
            "session_id": "s1",
            "supervisor": "user2001",
            "agent": "user1001",
            "call_id": "c1",
            "mode": "listen",
            "state": "active",
            "since": 0.0,
        }
    ]
    clock.advance(2)
    assert floor.snapshot()["monitors"][0]["since"] == 2.0
    same = floor.report_monitor("s1", "active")  # idempotent: no change, no event
    assert same.ok
    assert same.events == []
    assert floor.report_monitor("s1", "active", mode="whisper").ok  # a keypad switch
    assert floor.monitor_session("s1")["mode"] == "whisper"  # type: ignore[index]
    # An attended transfer: the controller moves the session to the call that goes on.
    assert floor.reserve_for_internal_call(2004, "c1.consult1").ok is False  # busy
    log_in(floor, OTHER)
    assert floor.reserve_for_internal_call(1002, "c1.consult1").ok
    assert floor.answered("c1.consult1", 1002).ok
    refused(floor.report_monitor("s1", "active", call_id="c7"), ErrorCode.UNKNOWN_CALL)
    assert floor.report_monitor("s1", "active", call_id="c1.consult1", agent="user1002").ok
    assert floor.hangup("c1").ok  # the old call ends: the session is elsewhere now
    (row,) = floor.snapshot()["monitors"]
    assert (row["call_id"], row["agent"]) == ("c1.consult1", "user1002")
    refused(floor.report_monitor("s1", "ended", reason="bored"), ErrorCode.INVALID_ARGUMENT)
    refused(floor.report_monitor("s1", "ended"), ErrorCode.INVALID_ARGUMENT)
    refused(floor.report_monitor("s1", "gone"), ErrorCode.INVALID_ARGUMENT)
    refused(floor.report_monitor("s1", "active", mode="intercept"), ErrorCode.INVALID_ARGUMENT)
    assert floor.report_monitor("s1", "ended", reason="supervisor_hangup").ok
    assert floor.monitor_sessions() == []
    sound(floor)


def test_a_call_that_ends_ends_its_sessions_ringing_or_active(floor: Acd) -> None:
    assert monitor(floor).ok
    assert monitor(floor, BY_TEAM).ok
    assert floor.report_monitor("s2", "active").ok
    result = floor.hangup("c1")
    assert result.ok
    ended = [e for e in result.events if e["kind"] == "monitor.session"]
    assert {(e["monitor"], e["reason"]) for e in ended} == {
        ("s1", "call_ended"),
        ("s2", "call_ended"),
    }
    assert floor.monitor_sessions() == []
    assert floor.agent_state(1001) is AgentState.IDLE  # wrap-up 0, as without monitoring
    sound(floor)


def test_a_blind_transfer_keeps_the_session_and_the_view_follows_the_agent(floor: Acd) -> None:
    assert monitor(floor).ok
    log_in(floor, OTHER)
    assert floor.transfer("c1", to_agent=1002).ok
    assert floor.answered("c1", 1002).ok
    (row,) = floor.snapshot()["monitors"]
    assert row["agent"] == "user1002"


def test_reconcile_and_end_calls_end_the_sessions(floor: Acd) -> None:
    assert monitor(floor).ok
    assert floor.end_calls({"c1": "reconciled: controller x gone"}).ok
    assert floor.monitor_sessions() == []


def test_sessions_survive_to_dict_and_from_dict(floor: Acd, clock: ManualClock) -> None:
    assert monitor(floor, record=True).ok
    assert floor.report_monitor("s1", "active", mode="barge").ok
    data = floor.to_dict()
    again = Acd.from_dict(data, floor.config, clock)
    assert again.to_dict() == data
    assert again.monitor_session("s1") == floor.monitor_session("s1")
    refused(monitor(again), ErrorCode.AGENT_NOT_AVAILABLE, "already monitors")
    # A session whose call is gone (an older replica ended it) is dropped on load.
    orphan = dict(data, calls=[])
    orphan["agents"] = [a for a in data["agents"] if a["employee_id"] != 1001]
    assert Acd.from_dict(orphan, floor.config, clock).monitor_sessions() == []
    # States written before sessions existed load.
    older = {k: v for k, v in data.items() if k != "monitors"}
    assert Acd.from_dict(older, floor.config, clock).monitor_sessions() == []


def test_team_and_scope_are_kept_from_login_and_stored_only_when_set(floor: Acd) -> None:
    assert floor.agent(1001)["team"] == "red"  # type: ignore[index]
    assert floor.agent(2001)["supervises"] == {"queues": ["billing"], "teams": [], "all": False}  # type: ignore[index]
    assert "supervises" not in floor.agent(2003)  # type: ignore[operator]
    assert "team" not in floor.agent(2003)  # type: ignore[operator]


def test_stop_reasons_are_the_event_logs() -> None:
    assert MONITOR_STOP_REASONS == eventlog.MONITOR_STOP_REASONS
    assert START > 0
