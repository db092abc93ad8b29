"""The queue machine's commands: `Acd`, the ACD core's public face.

Every public method is a command. It reads the clock once, first applies any
timers that have fallen due (lease expiry, ring timeout, wrap-up end, max
wait), then either refuses without changing anything or changes the state
and returns the events and call-controller actions that change produced.
Nothing here does I/O; the gRPC service, the Redis store and the SIP side
wrap this object.

A command here checks its arguments and the state it may act on, then makes
the change with the shared transitions of `Machine` (`_machine.py`), which
also holds the state. Timers, persistence, consistency checks and read-only
views live in `_timers.py`, `_persistence.py`, `_invariants.py` and `_views.py`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _persistence, _views
from ._actions import (
    InterceptCall,
    MonitorCall,
    MonitorCommand,
    PlayMessageCall,
    RecordingCommand,
    Release,
    Result,
)
from ._call_data import call_data_problem
from ._clock import Clock
from ._config import ROLES, Account, AcdConfig, validate_config
from ._errors import ConfigError, ErrorCode, Refusal
from ._invariants import problems
from ._machine import INTERNAL_CALL, PHONE_UNREACHABLE, Machine, random_session_secret
from ._monitoring import (
    INTERCEPT,
    MONITOR_ACTIVE,
    MONITOR_ENDED,
    MONITOR_MODES,
    MONITOR_REPORT_STATES,
    MONITOR_RINGING,
    MONITOR_STOP_REASONS,
    SWITCH_MODES,
    new_monitor_id,
)
from ._persistence import STATE_VERSION
from ._recording import (
    MESSAGE_REPEATS,
    OPS,
    RECORDING_OFF,
    RECORDING_STATES,
    message_problem,
    new_recording_ref,
    recording_name_problem,
    recording_next,
)
from ._records import AgentRecord, CallRecord, MonitorSession
from ._states import AgentState, CallState, Trigger, refusal_for
from ._strategies import Strategy

__all__ = ["STATE_VERSION", "Acd"]

_MAX_REASON = 64
_CALL_KINDS = frozenset({"internal", "intercept"})
# A call's own skill requirements: names as an account's skills are named, and few.
MAX_SKILL_NAME = 64
MAX_CALL_SKILLS = 16


def call_skills_problem(skills: Mapping[str, int]) -> str | None:
    """Why a call's skill requirements are unusable, or None. The one rule: the call
    controller asks it before it sends an Enqueue, the ACD when it takes one."""
    if len(skills) > MAX_CALL_SKILLS:
        return f"a call needs at most {MAX_CALL_SKILLS} skills, not {len(skills)}"
    for skill, level in skills.items():
        if not isinstance(skill, str) or not 1 <= len(skill) <= MAX_SKILL_NAME:
            return f"a skill name is 1..{MAX_SKILL_NAME} characters, not {skill!r}"
        if isinstance(level, bool) or not isinstance(level, int) or level < 1:
            return f"skill {skill!r} needs an integer level >= 1, not {level!r}"
    return None


class Acd(Machine):
    """The ACD core. Construct with the admin config and a clock; drive with commands."""

    # ------------------------------------------------------------------ agent commands

    def login(
        self,
        account: Account,
        *,
        seat: int,
        employee_id: int,
        role: str,
        skills: Mapping[str, int] | None = None,
        ready: bool = True,
    ) -> Result:
        """R-AG-1. `skills=None` takes every skill the account allows, at its allowed level.

        `ready=False` logs in as busy (reason LOGIN), as many desks do at shift start.
        """
        self._begin()
        lo, hi = self._config.seat_range
        if not lo <= seat <= hi:
            return self._refuse(ErrorCode.SEAT_OUT_OF_RANGE, f"seat {seat} is not in {lo}..{hi}")
        lo, hi = self._config.employee_id_range
        if not lo <= employee_id <= hi:
            return self._refuse(
                ErrorCode.EMPLOYEE_ID_OUT_OF_RANGE,
                f"employee ID {employee_id} is not in {lo}..{hi}",
            )
        if account.employee_id != employee_id:
            return self._refuse(
                ErrorCode.EMPLOYEE_ID_MISMATCH,
                f"account {account.username!r} belongs to employee {account.employee_id}",
            )
        if role not in ROLES or role not in account.roles:
            return self._refuse(
                ErrorCode.ROLE_INVALID, f"account {account.username!r} may not log in as {role!r}"
            )
        requested = dict(account.skills if skills is None else skills)
        for skill, level in requested.items():
            allowed = account.skills.get(skill)
            if allowed is None or not 1 <= level <= allowed:
                return self._refuse(
                    ErrorCode.SKILL_NOT_ALLOWED,
                    f"skill {skill!r} at level {level} is not allowed for {account.username!r}",
                )
        code = refusal_for(Trigger.LOGIN, self._state_of(employee_id))
        if code is not None:
            return self._refuse(code, f"employee {employee_id} is already logged in")
        if seat in self._seats:
            return self._refuse(
                ErrorCode.SEAT_OCCUPIED, f"seat {seat} is taken by employee {self._seats[seat]}"
            )

        self._sessions += 1
        # The session ID is the desk's only proof of identity on Heartbeat, SetBusy,
        # SetIdle and Logout, which need no service token: a counter alone could be
        # guessed, so it carries 128 random bits (the counter keeps it readable in logs;
        # simulations and twin tests inject a deterministic `session_secret`).
        session = f"s{self._sessions}-{self._session_secret()}"
        now = self._now
        agent = AgentRecord(
            employee_id=employee_id,
            username=account.username,
            seat=seat,
            role=role,
            skills=requested,
            session=session,
            state=AgentState.LOGGED_OUT,
            since=now,
            lease_until=now + self._config.lease_seconds,
            idle_since=now,
            logged_in_at=now,
            team=account.team,
            # Only a supervisor's desk monitors (the scope is looked at nowhere else).
            supervises=account.supervises if role == "supervisor" else None,
        )
        self._agents[employee_id] = agent
        self._seats[seat] = employee_id
        if ready:
            self._move(agent, Trigger.LOGIN, AgentState.IDLE, "LOGIN")
        else:
            self._move(agent, Trigger.LOGIN, AgentState.BUSY, "LOGIN")
        return self._finish(session_id=session)

    def heartbeat(self, employee_id: int, session_id: str) -> Result:
        """Renew the session lease. A heartbeat after the lease ran out finds no session."""
        self._begin()
        agent, refusal = self._own_session(employee_id, session_id)
        if agent is None:
            return self._refused(refusal)
        agent.lease_until = self._now + self._config.lease_seconds
        self._dirty_agents.add(employee_id)
        return self._finish()

    def logout(self, employee_id: int, session_id: str | None = None) -> Result:
        """R-AG-2. Leaves every queue. While talking, the logout waits for the call to end."""
        self._begin()
        agent, refusal = self._own_session(employee_id, session_id)
        if agent is None:
            return self._refused(refusal)
        deferred = self._leave(agent, Trigger.LOGOUT, "LOGOUT")
        return self._finish(deferred=deferred)

    def go_busy(self, employee_id: int, reason: str, session_id: str | None = None) -> Result:
        """R-AG-10. Not ready; refused with NOT_ON_HOOK unless idle, in wrap-up or busy."""
        self._begin()
        agent, refusal = self._own_session(employee_id, session_id)
        if agent is None:
            return self._refused(refusal)
        bad = self._check_reason(reason)
        if bad is not None:
            return self._refused(bad)
        code = refusal_for(Trigger.GO_BUSY, agent.state)
        if code is not None:
            return self._refuse(code, f"employee {employee_id} is {agent.state}, not on hook")
        self._move(agent, Trigger.GO_BUSY, AgentState.BUSY, reason)
        return self._finish()

    def go_idle(self, employee_id: int, session_id: str | None = None) -> Result:
        """R-AG-10. Back to service (also ends wrap-up early)."""
        self._begin()
        agent, refusal = self._own_session(employee_id, session_id)
        if agent is None:
            return self._refused(refusal)
        if agent.state is AgentState.BUSY and agent.reason == INTERNAL_CALL:
            # Its phone is in a call the agent placed: ready would mean a second call.
            # The call's end makes it idle; a supervisor's force_idle still works.
            return self._refuse(
                ErrorCode.NOT_ON_HOOK, f"employee {employee_id} is on an internal call"
            )
        refused = self._to_idle(agent, Trigger.GO_IDLE, "READY")
        return self._refused(refused) if refused else self._finish()

    def phone_presence(self, employee_id: int, *, reachable: bool) -> Result:
        """The agent's phone (un)registered or stopped/started answering OPTIONS.

        Unreachable makes the agent not ready (busy, PHONE_UNREACHABLE); a
        ringing call goes back to its queue; a call in progress is left alone
        and the agent goes not ready when it ends. Reachable again returns the
        agent to idle only if the phone was the reason for being busy.
        """
        self._begin()
        agent = self._agents.get(employee_id)
        if agent is None:
            return self._refuse(ErrorCode.NOT_LOGGED_IN, f"employee {employee_id} is not logged in")
        if agent.phone_ok == reachable:
            return self._finish()
        agent.phone_ok = reachable
        self._dirty_agents.add(employee_id)
        if not reachable:
            self._force_busy(agent, Trigger.PHONE_LOST, PHONE_UNREACHABLE)
        elif agent.state is AgentState.BUSY and agent.reason == PHONE_UNREACHABLE:
            self._move(agent, Trigger.PHONE_BACK, AgentState.IDLE, "PHONE_REACHABLE")
        elif agent.after_call == "busy" and agent.after_call_reason == PHONE_UNREACHABLE:
            agent.after_call = agent.after_call_reason = None
        return self._finish()

    # ------------------------------------------------------------ supervisor commands

    def force_logout(self, actor: Account, employee_id: int) -> Result:
        """R-SUP-3. Same rule as logout: a talking agent leaves when the call ends."""
        self._begin()
        agent, refusal = self._supervised(actor, employee_id)
        if agent is None:
            return self._refused(refusal)
        deferred = self._leave(agent, Trigger.FORCE_LOGOUT, f"FORCED_BY:{actor.username}")
        return self._finish(deferred=deferred)

    def force_busy(self, actor: Account, employee_id: int, reason: str = "SUPERVISOR") -> Result:
        """R-SUP-3. Unlike the agent's own busy, works at any time: a ringing call is
        taken back to the queue, and a talking agent goes busy when the call ends."""
        self._begin()
        agent, refusal = self._supervised(actor, employee_id)
        if agent is None:
            return self._refused(refusal)
        bad = self._check_reason(reason)
        if bad is not None:
            return self._refused(bad)
        deferred = self._force_busy(agent, Trigger.FORCE_BUSY, reason)
        return self._finish(deferred=deferred)

    def force_idle(self, actor: Account, employee_id: int) -> Result:
        """R-SUP-3. Busy or wrap-up to idle. Refused for ringing/talking agents."""
        self._begin()
        agent, refusal = self._supervised(actor, employee_id)
        if agent is None:
            return self._refused(refusal)
        refused = self._to_idle(agent, Trigger.FORCE_IDLE, f"FORCED_BY:{actor.username}")
        return self._refused(refused) if refused else self._finish()

    def intercept(
        self,
        actor: Account,
        supervisor: str,
        *,
        call_id: str = "",
        agent: str = "",
        ring_timeout: float = 0.0,
    ) -> Result:
        """R-SUP-3: `supervisor` (an account) takes a call over from its agent.

        The call is named by `call_id` or by `agent` (account or employee ID: what the
        wallboard shows), exactly one of them; it must be ringing or talking with an
        agent (a queue or internal call). The supervisor must be logged in with the
        supervisor role, idle, and not the agent on the call. Nothing changes here: the
        result carries an InterceptCall for the controller that owns the call, whose
        intercept then reserves the supervisor (`reserve_for_internal_call`, kind
        "intercept"), so the one-call rule is checked again when it matters.
        `ring_timeout` 0 means `direct_ring_timeout`, which also caps it.
        """
        self._begin()
        denied = self._may_supervise(actor)
        if denied is not None:
            return self._refused(denied)
        if bool(call_id) == bool(agent):
            return self._refuse(ErrorCode.INVALID_ARGUMENT, "name the call or its agent (one)")
        if not ring_timeout >= 0:  # also refuses NaN
            return self._refuse(ErrorCode.INVALID_ARGUMENT, "a ring timeout is >= 0 seconds")
        call = self._call_to_intercept(call_id, agent)
        if isinstance(call, Refusal):
            return self._refused(call)
        call_id = call.call_id
        taker = self._logged_in(supervisor)
        if taker is None:
            return self._refuse(
                ErrorCode.NOT_LOGGED_IN, f"supervisor {supervisor!r} is not logged in"
            )
        if taker.role != "supervisor":
            return self._refuse(
                ErrorCode.PERMISSION_DENIED,
                f"{supervisor!r} is logged in as {taker.role}; only a supervisor can intercept",
            )
        if taker.employee_id == call.agent or taker.employee_id in call.ringing:
            return self._refuse(
                ErrorCode.INVALID_ARGUMENT, f"{supervisor!r} is the agent on call {call_id!r}"
            )
        code = refusal_for(Trigger.RESERVE, taker.state)
        if code is not None:
            return self._refuse(
                code, f"supervisor {supervisor!r} is {taker.state}, cannot take a call"
            )
        limit = self._config.direct_ring_timeout
        self._actions.append(
            InterceptCall(
                call_id=call_id,
                username=taker.username,
                employee_id=taker.employee_id,
                ring_timeout=min(ring_timeout, limit) if ring_timeout else limit,
                requested_by=actor.username,
            )
        )
        return self._finish()

    # ------------------------------------------------- monitoring (R-SUP-1/2)

    def monitor(
        self,
        actor: Account,
        supervisor: str,
        *,
        call_id: str = "",
        agent: str = "",
        mode: str = "listen",
        record: bool = False,
        ring_timeout: float = 0.0,
    ) -> Result:
        """R-SUP-1/2: `supervisor` (an account) listens to, whispers to or barges in on
        (`mode`) an answered call, named by `call_id` or by its `agent` (account or
        employee ID), exactly one. Makes a session (state ringing) and a MonitorCall for
        the controller that owns the call, which rings the supervisor; the session is
        active once it reports the answer (`report_monitor`). Nothing else changes: the
        monitored agent keeps its state. `ring_timeout` 0 means `monitor_ring_timeout`,
        which also caps it. The refusals: docs/acd.md, "Monitoring".
        """
        self._begin()
        denied = self._may_supervise(actor)
        if denied is not None:
            return self._refused(denied)
        if not self._config.monitoring:
            return self._refuse(
                ErrorCode.MONITORING_DISABLED, "monitoring needs a mixer (monitoring.mixers)"
            )
        if mode not in MONITOR_MODES:
            return self._refuse(
                ErrorCode.INVALID_ARGUMENT,
                f"a monitoring mode is listen, whisper or barge, not {mode!r}",
            )
        if bool(call_id) == bool(agent):
            return self._refuse(ErrorCode.INVALID_ARGUMENT, "name the call or its agent (one)")
        if not ring_timeout >= 0:  # also refuses NaN
            return self._refuse(ErrorCode.INVALID_ARGUMENT, "a ring timeout is >= 0 seconds")
        call = self._call_to_monitor(call_id, agent)
        if isinstance(call, Refusal):
            return self._refused(call)
        talker = self._agents[call.agent] if call.agent is not None else None
        if talker is None:  # pragma: no cover - a talking call has its agent (invariants)
            raise RuntimeError(f"talking call {call.call_id} has no agent")
        listener = self._logged_in(supervisor)
        if listener is None:
            return self._refuse(
                ErrorCode.NOT_LOGGED_IN, f"supervisor {supervisor!r} is not logged in"
            )
        refusal = self._monitor_refusal(actor, listener, call, talker)
        if refusal is not None:
            return self._refused(refusal)
        limit = self._config.monitor_ring_timeout
        session = MonitorSession(
            session_id=self._monitor_id(),
            call_id=call.call_id,
            supervisor=listener.username,
            supervisor_id=listener.employee_id,
            agent=talker.username,
            mode=mode,
            state=MONITOR_RINGING,
            since=self._now,
            started=self._now,
            requested_by=actor.username,
            record=record,
        )
        self._monitors[session.session_id] = session
        self._monitor_changed(session)
        self._actions.append(
            MonitorCall(
                call_id=call.call_id,
                session_id=session.session_id,
                username=listener.username,
                employee_id=listener.employee_id,
                mode=mode,
                ring_timeout=min(ring_timeout, limit) if ring_timeout else limit,
                record=record,
                requested_by=actor.username,
                agent=talker.username,
            )
        )
        return self._finish()

    def switch_monitor(self, actor: Account, session_id: str, mode: str) -> Result:
        """Change a session's mode (listen, whisper, barge), or hand the call to its
        supervisor (intercept: only once answered, with the supervisor free to take a
        call). The mode changes here at once and a MonitorCommand goes to the call's
        controller, whose report has the last word. INVALID_TRANSITION for the mode the
        session already has."""
        self._begin()
        session, refusal = self._session_for(actor, session_id)
        if session is None:
            return self._refused(refusal)
        if mode not in SWITCH_MODES:
            return self._refuse(
                ErrorCode.INVALID_ARGUMENT,
                f"switch to listen, whisper, barge or intercept, not {mode!r}",
            )
        if mode == session.mode:
            return self._refuse(
                ErrorCode.INVALID_TRANSITION, f"session {session_id!r} is already in {mode}"
            )
        if mode == INTERCEPT:
            refused = self._intercept_refusal(session)
            if refused is not None:
                return self._refused(refused)
        session.mode = mode
        self._monitor_changed(session)
        self._actions.append(
            MonitorCommand(
                call_id=session.call_id,
                session_id=session_id,
                mode=mode,
                requested_by=actor.username,
            )
        )
        return self._finish()

    def stop_monitor(self, actor: Account, session_id: str) -> Result:
        """End a session now (reason "requested"): a MonitorCommand with no mode tells
        the call's controller to hang the supervisor up; caller and agent talk on."""
        self._begin()
        session, refusal = self._session_for(actor, session_id)
        if session is None:
            return self._refused(refusal)
        self._stop_monitor(session, actor.username)
        return self._finish()

    def report_monitor(
        self,
        session_id: str,
        state: str,
        *,
        mode: str = "",
        call_id: str = "",
        agent: str = "",
        reason: str = "",
    ) -> Result:
        """The call's controller says what became of a session: "active" (answered; a
        keypad switch: `mode`; a transfer: the ACD call it is on now, `call_id`, and
        its `agent`), "ringing", or "ended" with a `reason` (MONITOR_STOP_REASONS).
        Empty fields change nothing. Idempotent. "ended" for a session the ACD no
        longer has is accepted and changes nothing (it ended here first: StopMonitor,
        its call ended); any other state for one is UNKNOWN_MONITOR_SESSION, on which
        the controller hangs the supervisor up. Refused: INVALID_ARGUMENT (an unknown
        state, mode or reason; intercept is ended with reason intercept), UNKNOWN_CALL
        (a call_id the ACD does not have).
        """
        self._begin()
        if state not in MONITOR_REPORT_STATES:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, f"unknown monitor state {state!r}")
        if state == MONITOR_ENDED and reason not in MONITOR_STOP_REASONS:
            return self._refuse(
                ErrorCode.INVALID_ARGUMENT,
                f"a session ends for one of {sorted(MONITOR_STOP_REASONS)}, not {reason!r}",
            )
        if mode and mode not in MONITOR_MODES:
            return self._refuse(
                ErrorCode.INVALID_ARGUMENT,
                f"a session's mode is listen, whisper or barge, not {mode!r}",
            )
        session = self._monitors.get(session_id)
        if session is None:
            if state == MONITOR_ENDED:
                return self._finish()
            return self._refuse(
                ErrorCode.UNKNOWN_MONITOR_SESSION, f"no live monitoring session {session_id!r}"
            )
        if state == MONITOR_ENDED:
            self._end_monitor(session, reason)
            return self._finish()
        if call_id and call_id != session.call_id and call_id not in self._calls:
            return self._refused(self._unknown_call(call_id))
        before = session.to_dict()
        if state != session.state:
            session.state, session.since = state, self._now
        session.mode = mode or session.mode
        session.call_id = call_id or session.call_id
        session.agent = agent or session.agent
        if session.to_dict() != before:
            self._monitor_changed(session)
        return self._finish()

    def _monitor_changed(self, session: MonitorSession) -> None:
        # Named by an event, so the engine writes the session's record (not logged).
        self._emit(
            "monitor.session", monitor=session.session_id, state=session.state, mode=session.mode
        )

    def _call_to_monitor(self, call_id: str, agent: str) -> CallRecord | Refusal:
        """The answered call named, or the one `agent` talks on."""
        if agent:
            on_call = self._logged_in(agent)
            if on_call is None:
                return Refusal(ErrorCode.NOT_LOGGED_IN, f"agent {agent!r} is not logged in")
            if on_call.call is None or on_call.state is not AgentState.TALKING:
                return Refusal(
                    ErrorCode.CALL_NOT_TALKING, f"agent {agent!r} is {on_call.state}, not talking"
                )
            call_id = on_call.call
        call = self._calls.get(call_id)
        if call is None:
            return self._unknown_call(call_id)
        if call.state is not CallState.TALKING or call.agent is None:
            return Refusal(
                ErrorCode.CALL_NOT_TALKING,
                f"call {call_id!r} is {call.state}: only an answered call is monitored",
            )
        return call

    def _monitor_refusal(
        self, actor: Account, listener: AgentRecord, call: CallRecord, talker: AgentRecord
    ) -> Refusal | None:
        """Why `listener` may not monitor `call` (talker: its agent) for `actor`."""
        supervisor = listener.username
        if listener.role != "supervisor":
            return Refusal(
                ErrorCode.PERMISSION_DENIED,
                f"{supervisor!r} is logged in as {listener.role}; only a supervisor monitors",
            )
        if listener.employee_id == talker.employee_id:
            return Refusal(
                ErrorCode.INVALID_ARGUMENT,
                f"{supervisor!r} is the agent on call {call.call_id!r}: cannot monitor itself",
            )
        if listener.state in (AgentState.RESERVED, AgentState.TALKING):
            return Refusal(
                ErrorCode.AGENT_NOT_AVAILABLE,
                f"supervisor {supervisor!r} is {listener.state} on call {listener.call!r}",
            )
        held = next(
            (m for m in self._monitors.values() if m.supervisor_id == listener.employee_id), None
        )
        if held is not None:
            return Refusal(
                ErrorCode.AGENT_NOT_AVAILABLE,
                f"supervisor {supervisor!r} already monitors call {held.call_id!r} "
                f"(session {held.session_id}): stop or switch that one",
            )
        scopes = [(listener.username, listener.supervises)]
        if not actor.is_admin and actor.username != listener.username:
            # A supervisor sending someone else to listen may do so only where it could
            # listen itself.
            scopes.append((actor.username, actor.supervises))
        for who, scope in scopes:
            if scope is None:
                return Refusal(
                    ErrorCode.PERMISSION_DENIED,
                    f"{who!r} may monitor nobody (the account has no supervises)",
                )
            if not scope.covers(call.queue, talker.team):
                return Refusal(
                    ErrorCode.PERMISSION_DENIED,
                    f"call {call.call_id!r} (queue {call.queue or 'none'}, agent "
                    f"{talker.username!r} of team {talker.team or 'none'}) is outside "
                    f"{who!r}'s supervises",
                )
        return None

    def _session_for(
        self, actor: Account, session_id: str
    ) -> tuple[MonitorSession | None, Refusal | None]:
        """The live session an actor may switch or stop: an admin, its supervisor, who
        asked for it, or a supervisor whose scope covers its call."""
        denied = self._may_supervise(actor)
        if denied is not None:
            return None, denied
        if not self._config.monitoring:
            return None, Refusal(
                ErrorCode.MONITORING_DISABLED, "monitoring needs a mixer (monitoring.mixers)"
            )
        session = self._monitors.get(session_id)
        if session is None:
            return None, Refusal(
                ErrorCode.UNKNOWN_MONITOR_SESSION, f"no live monitoring session {session_id!r}"
            )
        if actor.is_admin or actor.username in (session.supervisor, session.requested_by):
            return session, None
        call = self._calls[session.call_id]
        talker = self._agents.get(call.agent) if call.agent is not None else None
        scope = actor.supervises
        if scope is None or not scope.covers(call.queue, talker.team if talker else None):
            return None, Refusal(
                ErrorCode.PERMISSION_DENIED,
                f"session {session_id!r} is {session.supervisor!r}'s, on a call outside "
                f"{actor.username!r}'s supervises",
            )
        return session, None

    def _intercept_refusal(self, session: MonitorSession) -> Refusal | None:
        """Why the session's supervisor cannot take its call over now (the controller
        reserves it as for Intercept, kind "intercept")."""
        if session.state != MONITOR_ACTIVE:
            return Refusal(
                ErrorCode.INVALID_TRANSITION,
                f"session {session.session_id!r} is {session.state}: intercept once answered",
            )
        call = self._calls[session.call_id]
        if call.state is not CallState.TALKING:
            return Refusal(
                ErrorCode.CALL_NOT_TALKING, f"call {call.call_id!r} is {call.state}: no agent"
            )
        taker = self._agents.get(session.supervisor_id)
        if taker is None:
            return self._not_logged_in(session.supervisor_id)
        code = refusal_for(Trigger.RESERVE, taker.state)
        if code is not None:
            return Refusal(
                code, f"supervisor {session.supervisor!r} is {taker.state}, cannot take a call"
            )
        return None

    # ------------------------------------------------ recording and messages (R-AG-8/9)

    def play_message(
        self, employee_id: int, session_id: str | None, text: str, language: str = ""
    ) -> Result:
        """R-AG-8: the caller on the agent's answered call hears `text` twice, then the
        call ends. The agent is off the call at once: the call ends here as a hang-up
        does (wrap-up, as after the caller hung up; cause PLAY_MESSAGE) and leaves the
        ACD, and the owning controller is told by a PlayMessageCall. `language` "" is
        the call's queue's language (zh for a call without a queue).
        """
        self._begin()
        agent, refusal = self._own_session(employee_id, session_id)
        if agent is None:
            return self._refused(refusal)
        bad = message_problem(text, language)
        if bad is not None:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, bad)
        call = self._answered_call_of(agent)
        if isinstance(call, Refusal):
            return self._refused(call)
        if not language:
            queue = self._queues.get(call.queue) if call.queue is not None else None
            language = queue.language if queue is not None else "zh"
        self._end_call(call, "PLAY_MESSAGE", wrap=True)
        self._actions.append(
            PlayMessageCall(
                call_id=call.call_id,
                text=text,
                language=language,
                repeats=MESSAGE_REPEATS,
                username=agent.username,
                employee_id=agent.employee_id,
            )
        )
        return self._finish()

    def control_recording(
        self, employee_id: int, session_id: str | None, op: str, name: str = ""
    ) -> Result:
        """R-AG-9: start (under `name`), pause, resume or stop recording the agent's
        answered call. The state changes here at once and the owning controller is told
        by a RecordingCommand; on start the ACD makes the recording's ref. Refused:
        RECORDING_DISABLED (no `recording:`), INVALID_ARGUMENT (an unknown op, a bad
        name on start), CALL_NOT_TALKING, INVALID_TRANSITION (start while on or paused,
        pause while not on, resume while not paused, stop while off).
        """
        self._begin()
        agent, refusal = self._own_session(employee_id, session_id)
        if agent is None:
            return self._refused(refusal)
        if not self._config.recording:
            return self._refuse(ErrorCode.RECORDING_DISABLED, "this call center records nothing")
        if op not in OPS:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, f"unknown recording op {op!r}")
        if op == "start":
            bad = recording_name_problem(name)
            if bad is not None:
                return self._refuse(ErrorCode.INVALID_ARGUMENT, bad)
        call = self._answered_call_of(agent)
        if isinstance(call, Refusal):
            return self._refused(call)
        to = recording_next(op, call.recording)
        if to is None:
            return self._refuse(
                ErrorCode.INVALID_TRANSITION,
                f"cannot {op} the recording of call {call.call_id!r}: it is {call.recording}",
            )
        ref = self._recording_ref() if op == "start" else call.recording_ref
        self._set_recording(call, to, ref, by=agent.username)
        self._actions.append(
            RecordingCommand(
                call_id=call.call_id,
                op=op,
                ref=ref,
                name=name if op == "start" else "",
                requested_by=agent.username,
            )
        )
        return self._finish()

    def report_recording(self, call_id: str, state: str, ref: str = "") -> Result:
        """The call's controller says its recording is now `state` ("off", "on",
        "paused") under `ref` (always-on recording at answer, a sensitive IVR node, a
        stop at hang-up), so the agent's ControlRecording is checked against the truth.
        Refused: UNKNOWN_CALL, INVALID_ARGUMENT (an unknown state, on/paused without a
        ref). Idempotent.
        """
        self._begin()
        call = self._calls.get(call_id)
        if call is None:
            return self._refused(self._unknown_call(call_id))
        if state not in RECORDING_STATES:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, f"unknown recording state {state!r}")
        if state != RECORDING_OFF and not ref:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, f"a recording {state} needs its ref")
        self._set_recording(call, state, ref, by="controller")
        return self._finish()

    def _answered_call_of(self, agent: AgentRecord) -> CallRecord | Refusal:
        """The answered call the agent talks on, or CALL_NOT_TALKING."""
        call = self._calls.get(agent.call) if agent.call is not None else None
        if (
            agent.state is not AgentState.TALKING
            or call is None
            or call.state is not CallState.TALKING
            or call.agent != agent.employee_id
        ):
            return Refusal(
                ErrorCode.CALL_NOT_TALKING,
                f"employee {agent.employee_id} is {agent.state}, not on an answered call",
            )
        return call

    def _set_recording(self, call: CallRecord, state: str, ref: str, *, by: str) -> None:
        if state == RECORDING_OFF:
            ref = ""
        if (call.recording, call.recording_ref) == (state, ref):
            return
        call.recording, call.recording_ref = state, ref
        # Named by an event, so the engine writes the call's record (not logged).
        self._emit("call.recording", call=call.call_id, state=state, ref=ref, by=by)

    # ------------------------------------------------------------------ call commands

    def enqueue(
        self,
        call_id: str,
        queue: str,
        *,
        caller: str = "",
        category: str = "",
        priority: int = 0,
        source: str = "",
        skills: Mapping[str, int] | None = None,
        call_data: Mapping[str, str] | None = None,
    ) -> Result:
        """A call enters `queue`. Higher `priority` is served first; FIFO within a priority.

        `call_data` goes with the call onto every Offer of it (`call_data_problem` says
        what is refused).

        `skills` (skill -> minimum level) are the call's own requirements: an agent is
        offered the call only if it has the queue's skills and these. If no logged-in
        agent has both, the call overflows at once (as a queue nobody staffs does).
        `source` names who enqueued it (kept on the call for `sourced_calls`).
        """
        self._begin()
        if queue not in self._queues:
            return self._refuse(ErrorCode.UNKNOWN_QUEUE, f"no queue named {queue!r}")
        exists = self._exists(call_id)
        if exists is not None:
            return self._refused(exists)
        if not call_id or isinstance(priority, bool) or not isinstance(priority, int):
            return self._refuse(ErrorCode.INVALID_ARGUMENT, "need a call ID and integer priority")
        bad_skill = call_skills_problem(skills or {})
        if bad_skill is not None:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, bad_skill)
        bad_data = call_data_problem(call_data or {})
        if bad_data is not None:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, bad_data)
        now = self._now
        self._seq += 1
        call = CallRecord(
            call_id=call_id,
            queue=queue,
            caller=caller,
            category=category,
            priority=priority,
            seq=self._seq,
            state=CallState.QUEUED,
            arrived=now,
            enqueued=now,
            source=source,
            skills=dict(skills or {}),
            call_data=dict(call_data or {}),
        )
        self._calls[call_id] = call
        self._into_queue(call, queue, "NEW")
        return self._finish()

    def reserve_for_internal_call(
        self,
        employee_id: int,
        call_id: str,
        *,
        caller: str = "",
        category: str = "",
        kind: str = "internal",
        source: str = "",
        origin: int | None = None,
        call_data: Mapping[str, str] | None = None,
    ) -> Result:
        """Reserve an idle agent for a call that does not come through a queue.

        Internal agent-to-agent calls and supervisor intercepts go through here
        so that an agent is never offered two calls at once. `kind` is
        "internal" or "intercept". If the agent does not answer in
        `direct_ring_timeout`, the result carries an Undelivered action.

        `origin` is the employee ID of the agent whose phone places an internal call.
        It has a call too, so it is taken out of service for the call's length: busy
        with reason INTERNAL_CALL (refused with NOT_ON_HOOK if it is ringing or
        talking: one call per agent). When the call leaves the ACD it goes back to
        idle, or to the busy reason it had. An origin that is not logged in (a phone
        without a desk) changes nothing. `source` and `call_data` are as for `enqueue`
        (a consult or intercept carries the data of the call it may take over).
        """
        self._begin()
        if kind not in _CALL_KINDS:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, f"bad kind {kind!r}")
        if not call_id:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, "need a call ID")
        bad_data = call_data_problem(call_data or {})
        if bad_data is not None:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, bad_data)
        if origin is not None and origin == employee_id:
            return self._refuse(
                ErrorCode.INVALID_ARGUMENT, f"employee {employee_id} cannot call itself"
            )
        exists = self._exists(call_id)
        if exists is not None:
            return self._refused(exists)
        agent = self._agents.get(employee_id)
        state = AgentState.LOGGED_OUT if agent is None else agent.state
        code = refusal_for(Trigger.RESERVE, state)
        if code is not None or agent is None:  # agent None implies a code; this narrows the type
            return self._refuse(
                code or ErrorCode.NOT_LOGGED_IN,
                f"employee {employee_id} is {state}, cannot take a call",
            )
        if kind == "intercept" and agent.role != "supervisor":
            # Taking over another agent's customer is a supervisor's action: the person
            # reserved for it must be logged in with that role (which Login checked
            # against the account's roles).
            return self._refuse(
                ErrorCode.PERMISSION_DENIED,
                f"employee {employee_id} is logged in as {agent.role}; "
                "only a supervisor can intercept",
            )
        placer = self._agents.get(origin) if origin is not None else None
        if placer is not None:
            code = refusal_for(Trigger.PLACE_CALL, placer.state)
            if code is not None:
                return self._refuse(
                    code, f"the calling employee {origin} is {placer.state}: it already has a call"
                )
            if placer.reason == INTERNAL_CALL:
                return self._refuse(
                    ErrorCode.NOT_ON_HOOK, f"the calling employee {origin} is on an internal call"
                )
        self._seq += 1
        call = CallRecord(
            call_id=call_id,
            queue=None,
            caller=caller,
            category=category,
            priority=0,
            seq=self._seq,
            state=CallState.RINGING,
            arrived=self._now,
            enqueued=self._now,
            kind=kind,
            direct=True,
            source=source,
            call_data=dict(call_data or {}),
        )
        self._calls[call_id] = call
        if placer is not None:
            call.origin = placer.employee_id
            call.origin_reason = placer.reason if placer.state is AgentState.BUSY else None
            self._move(placer, Trigger.PLACE_CALL, AgentState.BUSY, INTERNAL_CALL, call_id)
        self._ring(call, [agent])
        return self._finish()

    def answered(self, call_id: str, employee_id: int) -> Result:
        """R-AG-4. The agent answered: talking. With ring_all the other phones stop."""
        self._begin()
        call = self._calls.get(call_id)
        if call is None:
            return self._refused(self._unknown_call(call_id))
        if call.state is CallState.TALKING:
            return self._refuse(
                ErrorCode.CALL_ALREADY_ANSWERED, f"call {call_id!r} is answered by {call.agent}"
            )
        if employee_id not in call.ringing:
            return self._refuse(
                ErrorCode.NOT_RINGING, f"call {call_id!r} is not ringing employee {employee_id}"
            )
        agent = self._agents[employee_id]
        for other in list(call.ringing):
            if other != employee_id:
                self._stop_ringing(call, self._agents[other], Trigger.RELEASE, "ANSWERED_ELSEWHERE")
        call.ringing = []
        call.state = CallState.TALKING
        call.agent = employee_id
        call.answered = self._now
        agent.calls += 1
        agent.no_answers = 0
        self._move(agent, Trigger.ANSWER, AgentState.TALKING, "ANSWERED")
        self._emit(
            "call.answered",
            call=call_id,
            agent=employee_id,
            queue=call.queue,
            wait=self._now - call.arrived,
        )
        return self._finish()

    def no_answer(self, call_id: str, employee_id: int) -> Result:
        """R-AG-3. The agent's phone rang out or rejected: offer the call to another agent.

        After the queue's `max_no_answers` in a row the agent goes not ready
        (busy, NO_ANSWER). The core also applies the ring timeout by itself.
        """
        self._begin()
        call = self._calls.get(call_id)
        if call is None:
            return self._refused(self._unknown_call(call_id))
        if employee_id not in call.ringing:
            return self._refuse(
                ErrorCode.NOT_RINGING, f"call {call_id!r} is not ringing employee {employee_id}"
            )
        self._ring_out(call, self._agents[employee_id], cancel=False)
        return self._finish()

    def hangup(self, call_id: str) -> Result:
        """The call ended, wherever it is. Unanswered calls count as abandoned.

        A talking agent goes to the queue's wrap-up (or straight to idle when
        it is 0); ringing agents go back to idle.
        """
        self._begin()
        call = self._calls.get(call_id)
        if call is None:
            return self._refused(self._unknown_call(call_id))
        self._end_call(call, "HANGUP", wrap=True)
        return self._finish()

    def transfer(
        self,
        call_id: str,
        *,
        to_agent: int | None = None,
        to_queue: str | None = None,
        front: bool = True,
        priority: int | None = None,
    ) -> Result:
        """R-AG-12 blind transfer of an answered call to an idle agent or to a queue.

        To a queue the call goes to the front (`front=True`, within its
        priority) or to the back, optionally with a new `priority`. The
        transferring agent goes to wrap-up as after a hang-up. A transfer to an
        agent who does not answer sends the call back to the queue it came from
        (front), or drops it (Undelivered) if it never had one.
        """
        self._begin()
        refusal = self._transfer_refusal(call_id, to_agent, to_queue, priority)
        if refusal is not None:
            return self._refused(refusal)
        call = self._calls[call_id]
        if call.agent is None:  # pragma: no cover - a talking call always has its agent
            raise RuntimeError(f"talking call {call_id} has no agent")
        target = self._agents.get(to_agent) if to_agent is not None else None

        from_agent = self._agents[call.agent]
        self._emit(
            "call.transferred",
            call=call_id,
            agent=from_agent.employee_id,
            queue=call.queue,
            to_agent=to_agent,
            to_queue=to_queue,
        )
        # First, so the controller drops the agent's leg before any Offer of this commit
        # rings the next one (and without an Offer, when nobody is idle in to_queue).
        self._actions.append(
            Release(
                call_id,
                from_agent.employee_id,
                from_agent.seat,
                "TRANSFERRED",
                from_agent.username,
                to_queue if to_queue is not None else call.queue,
            )
        )
        self._release_talker(call, from_agent, "TRANSFERRED", wrap=True)
        call.agent = None
        call.answered = None
        # The transferring agent is asked last, should the queue include them.
        call.tried = [from_agent.employee_id]
        call.arrived = self._now  # a transfer starts a new wait for the caller
        if priority is not None:
            call.priority = priority
        if target is not None:
            call.direct = True
            self._ring(call, [target])
        elif to_queue is not None:
            call.direct = False
            call.kind = "queue"
            if front:
                call.seq = self._front_seq()
            else:
                self._seq += 1
                call.seq = self._seq
            self._into_queue(call, to_queue, "TRANSFER")
        return self._finish()

    def _transfer_refusal(
        self, call_id: str, to_agent: int | None, to_queue: str | None, priority: int | None
    ) -> Refusal | None:
        call = self._calls.get(call_id)
        if call is None:
            return self._unknown_call(call_id)
        if (to_agent is None) == (to_queue is None):
            return Refusal(ErrorCode.INVALID_ARGUMENT, "give exactly one of to_agent, to_queue")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            return Refusal(ErrorCode.INVALID_ARGUMENT, "priority must be an integer")
        if call.state is not CallState.TALKING:
            return Refusal(ErrorCode.CALL_NOT_TALKING, f"call {call_id!r} is {call.state}")
        if to_queue is not None and to_queue not in self._queues:
            return Refusal(ErrorCode.UNKNOWN_QUEUE, f"no queue named {to_queue!r}")
        if to_agent is not None:
            if to_agent == call.agent:
                return Refusal(ErrorCode.INVALID_ARGUMENT, "cannot transfer to the same agent")
            state = self._state_of(to_agent)
            code = refusal_for(Trigger.RESERVE, state)
            if code is not None:
                return Refusal(code, f"employee {to_agent} is {state}, cannot take a call")
        return None

    # ----------------------------------------------------------------- housekeeping

    def tick(self) -> Result:
        """Apply due timers: lease expiry, ring timeout, wrap-up end, max wait.

        Every command does this first anyway; the service calls tick() about
        once a second (or at `next_deadline()`) so that timers fire on an idle system.
        """
        self._begin()
        return self._finish()

    def reconcile(self, active_call_ids: Iterable[str]) -> Result:
        """Drop every call the call controllers no longer have, freeing its agents.

        A lost BYE must not leave an agent stuck talking or reserved: talking
        agents go straight to idle (no wrap-up, the real end time is unknown),
        ringing agents are released, and ghost queued calls are removed.
        """
        self._begin()
        active = set(active_call_ids)
        for call in [c for c in self._calls.values() if c.call_id not in active]:
            self._end_call(call, "RECONCILED", wrap=False)
        return self._finish()

    def end_calls(self, reasons: Mapping[str, str]) -> Result:
        """End each call named in `reasons` (call ID -> reason) as `hangup` would, with
        that reason in its events: a talking agent wraps up, ringing agents go back to
        idle, a queued call leaves its queue. IDs the core no longer has are skipped.

        For the service's reconciler: calls whose controller lost them (a dead
        replica, a Hangup that never arrived), decided outside the core.
        """
        self._begin()
        for call_id, reason in reasons.items():
            call = self._calls.get(call_id)
            if call is not None:
                self._end_call(call, reason or "RECONCILED", wrap=True)
        return self._finish()

    def apply_config(self, config: AcdConfig) -> Result:
        """R-ADM-1: swap in a new config without a restart.

        Refused if it is invalid or removes a queue that still has calls.
        Logged-in agents keep the skills they logged in with.
        """
        self._begin()
        try:
            validate_config(config, self._strategies)
        except ConfigError as exc:
            return self._refuse(ErrorCode.CONFIG_INVALID, str(exc))
        names = {q.name for q in config.queues}
        busy = sorted({c.queue for c in self._calls.values() if c.queue and c.queue not in names})
        if busy:
            return self._refuse(ErrorCode.QUEUE_IN_USE, f"queues still holding calls: {busy}")
        self._config = config
        self._queues = {q.name: q for q in config.queues}
        # Rebuilt, not kept: honour_priority may have changed the sort keys.
        self._waiting = {name: [] for name in self._queues}
        for call in self._calls.values():
            if call.state is CallState.QUEUED and call.queue is not None:
                bisect.insort(self._waiting[call.queue], self._key(call))
        self._memory = {k: v for k, v in self._memory.items() if k in names}
        self._rebuild_indexes()  # qualifying agents and timer lengths may have changed
        self._staffing_changed = True
        return self._finish()

    # ------------------------------------------------------------------- read-only

    @property
    def config(self) -> AcdConfig:
        return self._config

    def agent_state(self, employee_id: int) -> AgentState:
        return self._state_of(employee_id)

    def agent(self, employee_id: int) -> dict[str, Any] | None:
        """A copy of the agent's record, or None when logged out."""
        agent = self._agents.get(employee_id)
        return None if agent is None else agent.to_dict()

    def call(self, call_id: str) -> dict[str, Any] | None:
        call = self._calls.get(call_id)
        return None if call is None else call.to_dict()

    def monitor_session(self, session_id: str) -> dict[str, Any] | None:
        """A copy of a live monitoring session's record, or None."""
        session = self._monitors.get(session_id)
        return None if session is None else session.to_dict()

    def monitor_sessions(self) -> list[dict[str, Any]]:
        """Every live monitoring session (copies), oldest first."""
        return [m.to_dict() for m in sorted(self._monitors.values(), key=lambda m: m.started)]

    def sourced_calls(self) -> list[tuple[str, str, float]]:
        """(call ID, source, arrived) of every call enqueued with a `source`. Cheap
        (no record copies): the reconciler reads it under the service's lock."""
        return [(c.call_id, c.source, c.arrived) for c in self._calls.values() if c.source]

    def ended_at(self, call_id: str) -> float | None:
        """When the call left the ACD (ended, routed, undelivered), if it did so within
        `ended_call_retention`; None for a live call or one never seen (or forgotten)."""
        return self._ended.get(call_id)

    def ended_cutoff(self) -> float:
        """Calls that left the ACD at or before this time are forgotten (as of the last
        command): a store keeping the ended calls trims them at the same point."""
        return self._now - self._config.ended_call_retention

    def waiting(self, queue: str) -> list[str]:
        """Call IDs waiting in `queue`, next to be served first."""
        return [key[2] for key in self._waiting.get(queue, [])]

    def call_position(self, call_id: str) -> dict[str, Any] | None:
        """Where a call stands in its queue, for the caller's announcements; None if unknown.

        Read-only: no timer is applied and nothing changes, so an overdue timer (a ring
        timeout) is not yet reflected. `position` is 1-based among the calls waiting in
        the call's queue, in the core's order (priority, then arrival), 0 when the call
        is not waiting (ringing, talking). `expected_wait` (seconds, or None) is
        position x H / N: N the queue's qualified agents in service (idle, reserved,
        talking, wrap-up; not busy) who also meet the call's own skills, H the queue's
        handle time: the weighted average
        talk time of its finished calls (as Asterisk's `holdtime` weighs its last
        value, the newest call counts a quarter) plus the queue's wrap-up. Before the
        queue's first call has ended, the mean age of the calls in progress stands in
        for the talk time (equal on average for exponential talk times; up to half as
        much for very regular ones). No history and no one talking, or nobody in
        service: None. `priority` and `skills` are the call's own (`enqueue`).
        """
        return _views.call_position(self, call_id)

    def next_deadline(self) -> float | None:
        """When the earliest timer falls due, so the service knows when to tick()."""
        self._sync_timers()
        return self._timer_index.next()

    def snapshot(self) -> dict[str, Any]:
        """R-SUP-4 live view: agents with state and time in state; queues with size and wait."""
        return _views.snapshot(self)

    def check_invariants(self) -> list[str]:
        """Consistency problems in the state (empty when sound). For tests and health checks.

        Also checks the derived indexes (qualifying and idle agents per queue, the
        timer index) against a brute-force recomputation from the records.
        """
        return problems(self)

    # -------------------------------------------------------------- serialisation

    def meta(self) -> dict[str, Any]:
        """`to_dict()` without the records: version, counters and strategy memory (cheap)."""
        return _persistence.meta(self)

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-able data. Config and clock are not part of it."""
        return _persistence.dump(self)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        config: AcdConfig,
        clock: Clock,
        *,
        strategies: Mapping[str, Strategy] | None = None,
        session_secret: Callable[[], str] = random_session_secret,
        recording_ref: Callable[[], str] = new_recording_ref,
        monitor_id: Callable[[], str] = new_monitor_id,
    ) -> Acd:
        """Rebuild from `to_dict()` output. Raises ValueError on inconsistent data."""
        _persistence.check_version(data)
        acd = cls(
            config,
            clock,
            strategies=strategies,
            session_secret=session_secret,
            recording_ref=recording_ref,
            monitor_id=monitor_id,
        )
        _persistence.restore(acd, data)
        return acd

    # ------------------------------------------------------------------- guards

    def _exists(self, call_id: str) -> Refusal | None:
        """CALL_EXISTS for a call in the ACD or one that already left it: a call ID is
        unique forever, so a second Enqueue is a retry (its first reply was lost)."""
        if call_id in self._calls:
            return Refusal(ErrorCode.CALL_EXISTS, f"call {call_id!r} is already in the ACD")
        if call_id in self._ended:
            return Refusal(ErrorCode.CALL_EXISTS, f"call {call_id!r} already ended")
        return None

    def _unknown_call(self, call_id: str) -> Refusal:
        if call_id in self._ended:
            return Refusal(ErrorCode.UNKNOWN_CALL, f"call {call_id!r} already ended")
        return Refusal(ErrorCode.UNKNOWN_CALL, f"no call {call_id!r}")

    @staticmethod
    def _not_logged_in(employee_id: int) -> Refusal:
        return Refusal(ErrorCode.NOT_LOGGED_IN, f"employee {employee_id} is not logged in")

    @staticmethod
    def _check_reason(reason: str) -> Refusal | None:
        if not reason or len(reason) > _MAX_REASON:
            return Refusal(ErrorCode.INVALID_ARGUMENT, f"a busy reason is 1..{_MAX_REASON} chars")
        if reason == INTERNAL_CALL:  # only a placed call sets it, and its end clears it
            return Refusal(ErrorCode.INVALID_ARGUMENT, f"{INTERNAL_CALL} is not a reason to give")
        return None

    def _own_session(
        self, employee_id: int, session_id: str | None
    ) -> tuple[AgentRecord | None, Refusal | None]:
        agent = self._agents.get(employee_id)
        if agent is None:
            return None, self._not_logged_in(employee_id)
        if session_id is not None and session_id != agent.session:
            return None, Refusal(
                ErrorCode.STALE_SESSION, f"session {session_id!r} is not the current session"
            )
        return agent, None

    def _may_supervise(self, actor: Account) -> Refusal | None:
        """R-SUP-3 permission: an admin account, or a supervisor who is logged in as one."""
        desk = self._agents.get(actor.employee_id)
        allowed = actor.is_admin or (
            desk is not None and desk.role == "supervisor" and desk.username == actor.username
        )
        if not allowed:
            return Refusal(
                ErrorCode.PERMISSION_DENIED,
                f"{actor.username!r} is not logged in as a supervisor",
            )
        return None

    def _call_to_intercept(self, call_id: str, agent: str) -> CallRecord | Refusal:
        """The call named, or the one `agent` is on, if an agent rings or talks on it."""
        if agent:
            on_call = self._logged_in(agent)
            if on_call is None:
                return Refusal(ErrorCode.NOT_LOGGED_IN, f"agent {agent!r} is not logged in")
            if on_call.call is None:
                return Refusal(
                    ErrorCode.CALL_NOT_TALKING, f"agent {agent!r} is {on_call.state}, on no call"
                )
            call_id = on_call.call
        call = self._calls.get(call_id)
        if call is None:
            return self._unknown_call(call_id)
        if call.state is CallState.QUEUED or not (call.ringing or call.agent is not None):
            return Refusal(
                ErrorCode.CALL_NOT_TALKING,
                f"call {call_id!r} is {call.state}: no agent to take it from",
            )
        if call.kind == "intercept":
            return Refusal(
                ErrorCode.INVALID_ARGUMENT, f"call {call_id!r} is a supervisor's already"
            )
        if call.kind == "internal":
            # Two agents talking to each other: no customer to take over, and the call
            # controller refuses it too; say so here, where the supervisor reads it.
            return Refusal(
                ErrorCode.INVALID_ARGUMENT, f"call {call_id!r} is an internal call between agents"
            )
        return call

    def _logged_in(self, who: str) -> AgentRecord | None:
        """A logged-in agent by account, or by employee ID in digits. A scan: only the
        supervisor's intercept names agents this way, and it is rare."""
        for agent in self._agents.values():
            if agent.username == who:
                return agent
        return self._agents.get(int(who)) if who.isdigit() else None

    def _supervised(
        self, actor: Account, employee_id: int
    ) -> tuple[AgentRecord | None, Refusal | None]:
        denied = self._may_supervise(actor)
        if denied is not None:
            return None, denied
        agent = self._agents.get(employee_id)
        if agent is None:
            return None, self._not_logged_in(employee_id)
        return agent, None
