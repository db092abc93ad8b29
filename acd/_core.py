"""The queue machine: agents, calls and queues as one deterministic state object.

Every public method is a command. It reads the clock once, first applies any
timers that have fallen due (lease expiry, ring timeout, wrap-up end, max
wait), then either refuses without changing anything or changes the state
and returns the events and call-controller actions that change produced.
Nothing here does I/O; the gRPC service, the Redis store and the SIP side
wrap this object.
"""

from __future__ import annotations

import bisect
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._actions import (
    Action,
    CancelRing,
    Event,
    InterceptCall,
    Offer,
    Release,
    Result,
    Route,
    Undelivered,
)
from ._clock import Clock
from ._config import ROLES, Account, AcdConfig, QueueConfig, validate_config
from ._errors import ConfigError, ErrorCode, Refusal
from ._index import IdleKey, IdlePool, TimerEntry, TimerIndex, TimerKey
from ._records import AgentRecord, CallRecord
from ._states import AgentState, CallState, Trigger, refusal_for, targets
from ._strategies import BUILTIN_STRATEGIES, Strategy, StrategyMemory

__all__ = ["STATE_VERSION", "Acd"]

STATE_VERSION = 1
PHONE_UNREACHABLE = "PHONE_UNREACHABLE"
NO_ANSWER = "NO_ANSWER"
# The busy reason of an agent whose own phone placed an internal call (its `origin`).
INTERNAL_CALL = "INTERNAL_CALL"
_MAX_REASON = 64
_CALL_KINDS = frozenset({"internal", "intercept"})

_WaitKey = tuple[int, int, str]  # (-priority, seq, call_id): sorts the next call first



# How much the newest finished call moves a queue's talk-time average (Asterisk's
# queue holdtime uses the same quarter): recent enough to follow a shift change,
# smooth enough that one long call does not swing the announcement.
HANDLE_WEIGHT = 0.25

def _random_session_secret() -> str:
    return secrets.token_urlsafe(16)

class Acd:
    """The ACD core. Construct with the admin config and a clock; drive with commands."""

    def __init__(
        self,
        config: AcdConfig,
        clock: Clock,
        *,
        strategies: Mapping[str, Strategy] | None = None,
        session_secret: Callable[[], str] = _random_session_secret,
    ) -> None:
        self._session_secret = session_secret
        self._strategies: dict[str, Strategy] = dict(
            BUILTIN_STRATEGIES if strategies is None else strategies
        )
        validate_config(config, self._strategies)
        self._config = config
        self._queues: dict[str, QueueConfig] = {q.name: q for q in config.queues}
        self._clock = clock
        self._agents: dict[int, AgentRecord] = {}
        self._calls: dict[str, CallRecord] = {}
        # Calls that left the ACD (ended, routed, undelivered, reconciled) within the last
        # `ended_call_retention` seconds: call ID -> when. A call ID is unique forever, so
        # an Enqueue naming one of them is a retry of a command already carried out (its
        # reply was lost in a fail-over) and must not create the call again. The deque
        # holds (when, call ID) in the order they ended, to forget them cheaply.
        self._ended: dict[str, float] = {}
        self._ended_order: deque[tuple[float, str]] = deque()
        # Derived indexes, rebuilt from the records on load; never serialised.
        self._waiting: dict[str, list[_WaitKey]] = {name: [] for name in self._queues}
        self._idle: set[int] = set()
        self._seats: dict[int, int] = {}
        # Per queue: the logged-in agents who qualify, and the idle ones as a sorted
        # list of (idle_since, employee_id); each agent's qualifying queues.
        self._members: dict[str, set[int]] = {name: set() for name in self._queues}
        self._idle_keys: dict[str, list[IdleKey]] = {name: [] for name in self._queues}
        self._agent_queues: dict[int, tuple[str, ...]] = {}
        # Every pending deadline; records changed by a command are re-read into it
        # (_sync_timers) before timers are looked up and when the command ends.
        self._timer_index = TimerIndex()
        self._dirty_agents: set[int] = set()
        self._dirty_calls: set[str] = set()
        # Counters that make positions and session IDs deterministic.
        self._seq = 0  # back of the queue: grows
        self._front = 0  # front of the queue: shrinks below every back position
        self._sessions = 0
        self._memory: dict[str, StrategyMemory] = {}
        # Per queue: the talk time of its answered calls, exponentially weighted (the
        # newest call counts HANDLE_WEIGHT), for the callers' expected-wait announcements.
        self._talk_average: dict[str, float] = {}
        # Per-command buffers.
        self._now = 0.0
        self._events: list[Event] = []
        self._actions: list[Action] = []
        self._staffing_changed = False

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
            employee_id=employee_id, username=account.username, seat=seat, role=role,
            skills=requested, session=session, state=AgentState.LOGGED_OUT, since=now,
            lease_until=now + self._config.lease_seconds, idle_since=now, logged_in_at=now,
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
            return self._refuse(ErrorCode.NOT_ON_HOOK,
                                f"employee {employee_id} is on an internal call")
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
            return self._refuse(ErrorCode.NOT_LOGGED_IN,
                                f"supervisor {supervisor!r} is not logged in")
        if taker.role != "supervisor":
            return self._refuse(ErrorCode.PERMISSION_DENIED,
                                f"{supervisor!r} is logged in as {taker.role}; "
                                "only a supervisor can intercept")
        if taker.employee_id == call.agent or taker.employee_id in call.ringing:
            return self._refuse(ErrorCode.INVALID_ARGUMENT,
                                f"{supervisor!r} is the agent on call {call_id!r}")
        code = refusal_for(Trigger.RESERVE, taker.state)
        if code is not None:
            return self._refuse(code, f"supervisor {supervisor!r} is {taker.state}, "
                                      "cannot take a call")
        limit = self._config.direct_ring_timeout
        self._actions.append(InterceptCall(
            call_id=call_id, username=taker.username, employee_id=taker.employee_id,
            ring_timeout=min(ring_timeout, limit) if ring_timeout else limit,
            requested_by=actor.username))
        return self._finish()

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
    ) -> Result:
        """A call enters `queue`. Higher `priority` is served first; FIFO within a priority.

        If no logged-in agent has the queue's skills, the call overflows at once.
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
        now = self._now
        self._seq += 1
        call = CallRecord(
            call_id=call_id, queue=queue, caller=caller, category=category, priority=priority,
            seq=self._seq, state=CallState.QUEUED, arrived=now, enqueued=now, source=source,
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
        without a desk) changes nothing. `source` is as for `enqueue`.
        """
        self._begin()
        if kind not in _CALL_KINDS:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, f"bad kind {kind!r}")
        if not call_id:
            return self._refuse(ErrorCode.INVALID_ARGUMENT, "need a call ID")
        if origin is not None and origin == employee_id:
            return self._refuse(ErrorCode.INVALID_ARGUMENT,
                                f"employee {employee_id} cannot call itself")
        exists = self._exists(call_id)
        if exists is not None:
            return self._refused(exists)
        agent = self._agents.get(employee_id)
        state = AgentState.LOGGED_OUT if agent is None else agent.state
        code = refusal_for(Trigger.RESERVE, state)
        if code is not None or agent is None:  # agent None implies a code; this narrows the type
            return self._refuse(code or ErrorCode.NOT_LOGGED_IN,
                                f"employee {employee_id} is {state}, cannot take a call")
        if kind == "intercept" and agent.role != "supervisor":
            # Taking over another agent's customer is a supervisor's action: the person
            # reserved for it must be logged in with that role (which Login checked
            # against the account's roles).
            return self._refuse(ErrorCode.PERMISSION_DENIED,
                                f"employee {employee_id} is logged in as {agent.role}; "
                                "only a supervisor can intercept")
        placer = self._agents.get(origin) if origin is not None else None
        if placer is not None:
            code = refusal_for(Trigger.PLACE_CALL, placer.state)
            if code is not None:
                return self._refuse(code, f"the calling employee {origin} is {placer.state}: "
                                          "it already has a call")
            if placer.reason == INTERNAL_CALL:
                return self._refuse(ErrorCode.NOT_ON_HOOK,
                                    f"the calling employee {origin} is on an internal call")
        self._seq += 1
        call = CallRecord(
            call_id=call_id, queue=None, caller=caller, category=category, priority=0,
            seq=self._seq, state=CallState.RINGING, arrived=self._now, enqueued=self._now,
            kind=kind, direct=True, source=source,
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
        self._emit("call.answered", call=call_id, agent=employee_id, queue=call.queue,
                   wait=self._now - call.arrived)
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
        self._emit("call.transferred", call=call_id, agent=from_agent.employee_id,
                   queue=call.queue, to_agent=to_agent, to_queue=to_queue)
        # First, so the controller drops the agent's leg before any Offer of this commit
        # rings the next one (and without an Offer, when nobody is idle in to_queue).
        self._actions.append(Release(call_id, from_agent.employee_id, from_agent.seat,
                                     "TRANSFERRED", from_agent.username,
                                     to_queue if to_queue is not None else call.queue))
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
        talking, wrap-up; not busy), H the queue's handle time: the weighted average
        talk time of its finished calls (as Asterisk's `holdtime` weighs its last
        value, the newest call counts a quarter) plus the queue's wrap-up. Before the
        queue's first call has ended, the mean age of the calls in progress stands in
        for the talk time (equal on average for exponential talk times; up to half as
        much for very regular ones). No history and no one talking, or nobody in
        service: None.
        """
        call = self._calls.get(call_id)
        if call is None:
            return None
        now = self._clock.now()
        queue = call.queue
        keys = self._waiting.get(queue, []) if queue is not None else []
        waiting = call.state is CallState.QUEUED and queue is not None
        position = 0
        if waiting:
            key = self._key(call)
            i = bisect.bisect_left(keys, key)
            position = i + 1 if i < len(keys) and keys[i] == key else keys.index(key) + 1
        return {
            "call_id": call_id, "queue": queue or "", "state": call.state.value,
            "waiting": waiting, "position": position, "queue_length": len(keys),
            "waited": max(0.0, now - call.enqueued),
            "expected_wait": (self._expected_wait(queue, position, now)
                              if waiting and queue is not None else None),
        }

    def _expected_wait(self, queue: str, position: int, now: float) -> float | None:
        serving = [self._agents[eid] for eid in self._members[queue]
                   if self._agents[eid].state in (AgentState.IDLE, AgentState.RESERVED,
                                                  AgentState.TALKING, AgentState.WRAP_UP)]
        if not serving:
            return None
        talk = self._talk_average.get(queue)
        if talk is None:
            ages = [now - c.answered for a in serving
                    if a.state is AgentState.TALKING and a.call is not None
                    and (c := self._calls.get(a.call)) is not None and c.answered is not None]
            if not ages:
                return None
            talk = sum(ages) / len(ages)
        handle = talk + self._queues[queue].wrap_up
        return max(0.0, position * handle / len(serving))

    def _record_talk(self, queue: str, talk: float) -> None:
        previous = self._talk_average.get(queue)
        self._talk_average[queue] = (talk if previous is None
                                     else previous + HANDLE_WEIGHT * (talk - previous))

    def next_deadline(self) -> float | None:
        """When the earliest timer falls due, so the service knows when to tick()."""
        self._sync_timers()
        return self._timer_index.next()

    def meta(self) -> dict[str, Any]:
        """`to_dict()` without the records: version, counters and strategy memory (cheap)."""
        return {
            "version": STATE_VERSION,
            "seq": self._seq,
            "front": self._front,
            "sessions": self._sessions,
            "memory": {k: dict(v) for k, v in self._memory.items()},
            "talk_average": dict(self._talk_average),
        }

    def snapshot(self) -> dict[str, Any]:
        """R-SUP-4 live view: agents with state and time in state; queues with size and wait."""
        now = self._clock.now()
        agents = [
            {
                "employee_id": a.employee_id, "username": a.username, "seat": a.seat,
                "role": a.role, "state": a.state.value, "reason": a.reason, "call": a.call,
                "time_in_state": max(0.0, now - a.since), "calls": a.calls,
                "pending": a.after_call, "phone_ok": a.phone_ok,
            }
            for a in sorted(self._agents.values(), key=lambda a: a.employee_id)
        ]
        queues = []
        for name in self._queues:
            waiting = [self._calls[key[2]] for key in self._waiting[name]]
            members = [self._agents[eid] for eid in self._members[name]]
            calls_here = [c for c in self._calls.values() if c.queue == name]
            queues.append({
                "name": name,
                "waiting": len(waiting),
                "longest_wait": max((now - c.enqueued for c in waiting), default=0.0),
                "ringing": sum(c.state is CallState.RINGING for c in calls_here),
                "talking": sum(c.state is CallState.TALKING for c in calls_here),
                "agents_logged_in": len(members),
                "agents_idle": sum(a.state is AgentState.IDLE for a in members),
            })
        return {"ts": now, "agents": agents, "queues": queues}

    def check_invariants(self) -> list[str]:
        """Consistency problems in the state (empty when sound). For tests and health checks.

        Also checks the derived indexes (qualifying and idle agents per queue, the
        timer index) against a brute-force recomputation from the records.
        """
        return self._agent_problems() + self._call_problems() + self._index_problems()

    def _index_problems(self) -> list[str]:
        bad: list[str] = []
        for name, queue in self._queues.items():
            members = {a.employee_id for a in self._agents.values() if self._qualifies(a, queue)}
            if self._members.get(name) != members:
                bad.append(f"member index of queue {name} out of step")
            idle = sorted((a.idle_since, a.employee_id) for a in self._agents.values()
                          if a.state is AgentState.IDLE and a.employee_id in members)
            if self._idle_keys.get(name) != idle:
                bad.append(f"idle index of queue {name} out of step")
        if set(self._members) != set(self._queues) or set(self._idle_keys) != set(self._queues):
            bad.append("queue indexes do not match the queues")
        for eid, names in self._agent_queues.items():
            if eid not in self._agents or any(eid not in self._members[n] for n in names):
                bad.append(f"queue list of agent {eid} out of step")
        if set(self._agent_queues) != set(self._agents):
            bad.append("queue lists do not match the agents")
        if self._dirty_agents or self._dirty_calls:
            bad.append("timer index has unsynced records")
        elif self._timer_index.deadlines() != self._brute_force_timers():
            bad.append("timer index out of step")
        return bad + self._timer_index.problems()

    def _brute_force_timers(self) -> dict[TimerKey, float]:
        """Every pending deadline, recomputed from the records."""
        timers: dict[TimerKey, float] = {}
        for a in self._agents.values():
            for kind, deadline in self._agent_deadlines(a):
                if deadline is not None:
                    timers[(kind, a.employee_id)] = deadline
        for c in self._calls.values():
            for kind, deadline in self._call_deadlines(c):
                if deadline is not None:
                    timers[(kind, c.call_id)] = deadline
        return timers

    def _agent_problems(self) -> list[str]:
        bad: list[str] = []
        for a in self._agents.values():
            call = self._calls.get(a.call) if a.call else None
            if a.state is AgentState.RESERVED and (
                call is None
                or call.state is not CallState.RINGING
                or a.employee_id not in call.ringing
            ):
                bad.append(f"agent {a.employee_id} reserved without a call ringing it")
            elif a.state is AgentState.TALKING and (call is None or call.agent != a.employee_id):
                bad.append(f"agent {a.employee_id} talking without its call")
            elif a.state not in (AgentState.RESERVED, AgentState.TALKING) and a.call is not None:
                bad.append(f"agent {a.employee_id} is {a.state} but holds call {a.call}")
            if self._seats.get(a.seat) != a.employee_id:
                bad.append(f"seat index wrong for agent {a.employee_id}")
        idle = {a.employee_id for a in self._agents.values() if a.state is AgentState.IDLE}
        if self._idle != idle:
            bad.append("idle index out of step")
        if len(self._seats) != len(self._agents):
            bad.append("seat index has stale seats")
        return bad

    def _call_problems(self) -> list[str]:
        bad: list[str] = []
        queued = {key[2] for keys in self._waiting.values() for key in keys}
        for c in self._calls.values():
            if c.state is CallState.QUEUED:
                if c.call_id not in queued or c.queue is None or c.ringing or c.agent is not None:
                    bad.append(f"queued call {c.call_id} is not cleanly queued")
            elif c.call_id in queued:
                bad.append(f"call {c.call_id} is {c.state} but still in a queue")
            if c.state is CallState.RINGING:
                holders = [self._agents.get(e) for e in c.ringing]
                if not c.ringing or any(h is None or h.call != c.call_id for h in holders):
                    bad.append(f"ringing call {c.call_id} does not match its agents")
            if c.state is CallState.TALKING:
                holder = self._agents.get(c.agent) if c.agent is not None else None
                if holder is None or holder.call != c.call_id:
                    bad.append(f"talking call {c.call_id} has no talking agent")
        for keys in self._waiting.values():
            if keys != sorted(keys):
                bad.append("a queue is out of order")
        if queued - set(self._calls):
            bad.append("a queue holds calls that do not exist")
        bad += [f"call {cid} is live but recorded as ended"
                for cid in self._calls if cid in self._ended]
        if len(self._ended_order) < len(self._ended):
            bad.append("ended calls missing from their expiry order")
        return bad

    # -------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-able data. Config and clock are not part of it."""
        return {
            "version": STATE_VERSION,
            "seq": self._seq,
            "front": self._front,
            "sessions": self._sessions,
            "memory": {k: dict(v) for k, v in self._memory.items()},
            "talk_average": dict(self._talk_average),
            "agents": [a.to_dict() for a in self._agents.values()],
            "calls": [c.to_dict() for c in self._calls.values()],
            "ended": [[cid, when] for cid, when in self._ended.items()],
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        config: AcdConfig,
        clock: Clock,
        *,
        strategies: Mapping[str, Strategy] | None = None,
        session_secret: Callable[[], str] = _random_session_secret,
    ) -> Acd:
        """Rebuild from `to_dict()` output. Raises ValueError on inconsistent data."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported ACD state version {data.get('version')!r}")
        acd = cls(config, clock, strategies=strategies, session_secret=session_secret)
        acd._seq = int(data["seq"])
        acd._front = int(data["front"])
        acd._sessions = int(data["sessions"])
        acd._memory = {str(k): dict(v) for k, v in data["memory"].items()}
        # Absent from states written before the history existed: start without one.
        acd._talk_average = {str(k): float(v) for k, v in data.get("talk_average", {}).items()
                             if k in acd._queues}
        for raw in data["agents"]:
            agent = AgentRecord.from_dict(raw)
            acd._agents[agent.employee_id] = agent
            acd._seats[agent.seat] = agent.employee_id
            if agent.state is AgentState.IDLE:
                acd._idle.add(agent.employee_id)
        for raw in data["calls"]:
            call = CallRecord.from_dict(raw)
            if call.queue is not None and call.queue not in acd._queues:
                raise ValueError(f"call {call.call_id} is in unknown queue {call.queue!r}")
            acd._calls[call.call_id] = call
            if call.state is CallState.QUEUED and call.queue is not None:
                bisect.insort(acd._waiting[call.queue], acd._key(call))
        # Optional (older data has none); forgotten at the next command once past retention.
        ended = sorted(((float(when), str(cid)) for cid, when in data.get("ended", ())),
                       key=lambda item: item[0])
        for when, cid in ended:
            acd._ended[cid] = when
            acd._ended_order.append((when, cid))
        acd._rebuild_indexes()
        problems = acd.check_invariants()
        if problems:
            raise ValueError("inconsistent ACD state: " + "; ".join(problems))
        return acd

    # ================================================================ internals

    def _begin(self) -> None:
        self._now = self._clock.now()
        self._forget_ended(self._now - self._config.ended_call_retention)
        self._events = []
        self._actions = []
        self._run_timers()

    def _finish(self, *, session_id: str | None = None, deferred: bool = False) -> Result:
        self._dispatch()
        self._sync_timers()
        result = Result(events=self._events, actions=self._actions,
                        session_id=session_id, deferred=deferred)
        self._events, self._actions = [], []
        return result

    def _refuse(self, code: ErrorCode, message: str) -> Result:
        return self._refused(Refusal(code, message))

    def _refused(self, refusal: Refusal | None) -> Result:
        if refusal is None:  # pragma: no cover - callers pass a refusal whenever they call this
            raise RuntimeError("refused without a reason")
        # Nothing changed since _begin, whose timer work (already dispatched) is
        # real and is reported with the refusal.
        self._sync_timers()
        result = Result(error=refusal, events=self._events, actions=self._actions)
        self._events, self._actions = [], []
        return result

    def _emit(self, kind: str, **fields: str | int | float | bool | None) -> None:
        event: Event = {"kind": kind, "ts": self._now}
        event.update(fields)
        self._events.append(event)
        # Every change to a call (and to an agent's pending logout) is reported by an
        # event naming it: that is what marks the record for the timer index.
        call = fields.get("call")
        if isinstance(call, str):
            self._dirty_calls.add(call)
        agent = fields.get("agent")
        if isinstance(agent, int):
            self._dirty_agents.add(agent)

    def _forget_call(self, call: CallRecord) -> None:
        """The call leaves the ACD for good; its ID is remembered for the retention.

        Every way out passes here (hang-up, abandon, Undelivered, Route, reconcile), so
        this is where the agent who placed an internal call goes back into service."""
        del self._calls[call.call_id]
        if call.origin is not None:
            self._placed_call_over(call.origin, call.origin_reason, call.call_id)
        if self._config.ended_call_retention > 0:
            self._ended[call.call_id] = self._now
            self._ended_order.append((self._now, call.call_id))

    def _placed_call_over(self, employee_id: int, before: str | None, call_id: str) -> None:
        """The internal call this agent placed has ended: idle, or busy as before the
        call. Only if it is still busy because of the call: a logout, a supervisor's
        force_busy/force_idle or its own go_busy during the call decided otherwise."""
        agent = self._agents.get(employee_id)
        if agent is None or agent.state is not AgentState.BUSY or agent.reason != INTERNAL_CALL:
            return
        if not agent.phone_ok:  # the phone went away during the call
            to, reason = AgentState.BUSY, PHONE_UNREACHABLE
        elif before is not None:
            to, reason = AgentState.BUSY, before
        else:
            to, reason = AgentState.IDLE, "INTERNAL_CALL_ENDED"
        self._move(agent, Trigger.PLACED_CALL_END, to, reason, call_id)

    def _forget_ended(self, cutoff: float) -> None:
        order = self._ended_order
        while order and order[0][0] <= cutoff:
            when, cid = order.popleft()
            if self._ended.get(cid) == when:
                del self._ended[cid]

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

    def _state_of(self, employee_id: int) -> AgentState:
        agent = self._agents.get(employee_id)
        return AgentState.LOGGED_OUT if agent is None else agent.state

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
                return Refusal(ErrorCode.CALL_NOT_TALKING,
                               f"agent {agent!r} is {on_call.state}, on no call")
            call_id = on_call.call
        call = self._calls.get(call_id)
        if call is None:
            return self._unknown_call(call_id)
        if call.state is CallState.QUEUED or not (call.ringing or call.agent is not None):
            return Refusal(ErrorCode.CALL_NOT_TALKING,
                           f"call {call_id!r} is {call.state}: no agent to take it from")
        if call.kind == "intercept":
            return Refusal(ErrorCode.INVALID_ARGUMENT,
                           f"call {call_id!r} is a supervisor's already")
        if call.kind == "internal":
            # Two agents talking to each other: no customer to take over, and the call
            # controller refuses it too; say so here, where the supervisor reads it.
            return Refusal(ErrorCode.INVALID_ARGUMENT,
                           f"call {call_id!r} is an internal call between agents")
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

    # --------------------------------------------------------------- agent state

    def _move(
        self, agent: AgentRecord, trigger: Trigger, to: AgentState, reason: str | None,
        call: str | None = None,
    ) -> None:
        """The only place an agent's state changes; checked against TRANSITIONS.

        `call` names the call in the event when the agent does not hold it (the
        internal call a busy agent placed); by default the one it rings or talks on."""
        frm = agent.state
        if to not in targets(trigger, frm):
            raise RuntimeError(f"transition {frm}->{to} on {trigger} is not in the table")
        if frm is to and agent.reason == reason:
            return
        call_id = agent.call if call is None else call
        eid = agent.employee_id
        if frm is AgentState.LOGGED_OUT:
            self._join_queues(agent)
        elif frm is AgentState.IDLE:
            self._unindex_idle(agent)
        agent.state = to
        agent.reason = reason
        agent.since = self._now
        self._dirty_agents.add(eid)
        if to is AgentState.IDLE:
            agent.idle_since = self._now
            self._idle.add(eid)
            self._index_idle(agent)
        else:
            self._idle.discard(eid)
        if to is not AgentState.WRAP_UP:
            agent.wrap_until = None
        if to not in (AgentState.RESERVED, AgentState.TALKING):
            agent.call = None
        self._events.append({
            "kind": "agent.state", "ts": self._now, "agent": agent.employee_id,
            # The account name too: the event log names agents by it, as the call
            # controller's events (which ring SIP accounts) do.
            "username": agent.username, "seat": agent.seat, "from": frm.value,
            "to": to.value, "reason": reason,
            "trigger": trigger.value, "call": call_id,
        })
        if to is AgentState.LOGGED_OUT:
            del self._agents[eid]
            del self._seats[agent.seat]
            for name in self._agent_queues.pop(eid, ()):
                self._members[name].discard(eid)
            self._staffing_changed = True

    # ------------------------------------------------------------- derived indexes

    def _join_queues(self, agent: AgentRecord) -> None:
        names = tuple(n for n, q in self._queues.items() if self._qualifies(agent, q))
        self._agent_queues[agent.employee_id] = names
        for name in names:
            self._members[name].add(agent.employee_id)

    def _index_idle(self, agent: AgentRecord) -> None:
        key = (agent.idle_since, agent.employee_id)
        for name in self._agent_queues[agent.employee_id]:
            bisect.insort(self._idle_keys[name], key)

    def _unindex_idle(self, agent: AgentRecord) -> None:
        key = (agent.idle_since, agent.employee_id)
        for name in self._agent_queues[agent.employee_id]:
            keys = self._idle_keys[name]
            i = bisect.bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                del keys[i]

    def _rebuild_indexes(self) -> None:
        """Recompute every agent and timer index from the records (load, config change)."""
        self._members = {name: set() for name in self._queues}
        self._idle_keys = {name: [] for name in self._queues}
        self._agent_queues = {}
        for agent in self._agents.values():
            self._join_queues(agent)
        for agent in sorted(self._agents.values(), key=lambda a: (a.idle_since, a.employee_id)):
            if agent.state is AgentState.IDLE:
                for name in self._agent_queues[agent.employee_id]:
                    self._idle_keys[name].append((agent.idle_since, agent.employee_id))
        self._timer_index.clear()
        self._dirty_agents = set(self._agents)
        self._dirty_calls = set(self._calls)
        self._sync_timers()

    def _agent_deadlines(self, a: AgentRecord) -> tuple[tuple[str, float | None], ...]:
        lease = a.lease_until if a.after_call != "logout" else None
        wrap = a.wrap_until if a.state is AgentState.WRAP_UP else None
        return ("lease", lease), ("wrap", wrap)

    def _call_deadlines(self, c: CallRecord) -> tuple[tuple[str, float | None], ...]:
        ring = wait = None
        if c.state is CallState.RINGING and c.ring_started is not None:
            ring = c.ring_started + self._ring_timeout(c)
        elif c.state is CallState.QUEUED and c.queue is not None:
            max_wait = self._queues[c.queue].max_wait
            if max_wait is not None:
                wait = c.enqueued + max_wait
        return ("ring", ring), ("wait", wait)

    def _sync_timers(self) -> None:
        """Re-read the deadlines of the records changed since the last sync."""
        index = self._timer_index
        if self._dirty_agents:
            for eid in self._dirty_agents:
                agent = self._agents.get(eid)
                if agent is None:
                    index.set("lease", eid, None)
                    index.set("wrap", eid, None)
                else:
                    for kind, deadline in self._agent_deadlines(agent):
                        index.set(kind, eid, deadline)
            self._dirty_agents = set()
        if self._dirty_calls:
            for cid in self._dirty_calls:
                call = self._calls.get(cid)
                if call is None:
                    index.set("ring", cid, None)
                    index.set("wait", cid, None)
                else:
                    for kind, deadline in self._call_deadlines(call):
                        index.set(kind, cid, deadline)
            self._dirty_calls = set()

    def _to_idle(self, agent: AgentRecord, trigger: Trigger, reason: str) -> Refusal | None:
        code = refusal_for(trigger, agent.state)
        if code is not None:
            return Refusal(code, f"employee {agent.employee_id} is {agent.state}")
        if not agent.phone_ok:
            return Refusal(ErrorCode.PHONE_UNREACHABLE,
                           f"employee {agent.employee_id}'s phone is not reachable")
        if agent.state is not AgentState.IDLE:
            self._move(agent, trigger, AgentState.IDLE, reason)
        return None

    def _leave(self, agent: AgentRecord, trigger: Trigger, reason: str) -> bool:
        """Log out now, or after the current call. Returns True if deferred."""
        if agent.state is AgentState.TALKING:
            agent.after_call, agent.after_call_reason = "logout", reason
            self._emit("agent.pending", agent=agent.employee_id, pending="logout", reason=reason)
            return True
        if agent.state is AgentState.RESERVED:
            self._release_ringing(agent, "AGENT_LEFT")
        self._move(agent, trigger, AgentState.LOGGED_OUT, reason)
        return False

    def _force_busy(self, agent: AgentRecord, trigger: Trigger, reason: str) -> bool:
        """Busy now, or after the current call. Returns True if deferred."""
        if agent.state is AgentState.TALKING:
            if agent.after_call != "logout":
                agent.after_call, agent.after_call_reason = "busy", reason
                self._emit("agent.pending", agent=agent.employee_id, pending="busy", reason=reason)
            return True
        if agent.state is AgentState.RESERVED:
            self._release_ringing(agent, reason)
        if agent.state is AgentState.BUSY and trigger is Trigger.PHONE_LOST:
            return False  # keep the reason the agent gave; phone_ok blocks going idle
        self._move(agent, trigger, AgentState.BUSY, reason)
        return False

    def _after_call_state(self, agent: AgentRecord, wrap_up: float, reason: str) -> None:
        """Where a talking agent goes when the call ends (hang-up, transfer, reconcile)."""
        pending, pending_reason = agent.after_call, agent.after_call_reason
        agent.after_call = agent.after_call_reason = None
        if pending == "logout":
            self._move(agent, Trigger.CALL_END, AgentState.LOGGED_OUT, pending_reason)
        elif not agent.phone_ok:
            self._move(agent, Trigger.CALL_END, AgentState.BUSY, PHONE_UNREACHABLE)
        elif pending == "busy":
            self._move(agent, Trigger.CALL_END, AgentState.BUSY, pending_reason)
        elif wrap_up > 0:
            self._move(agent, Trigger.CALL_END, AgentState.WRAP_UP, reason)
            agent.wrap_until = self._now + wrap_up
        else:
            self._move(agent, Trigger.CALL_END, AgentState.IDLE, reason)

    # ---------------------------------------------------------------- call flow

    def _key(self, call: CallRecord) -> _WaitKey:
        queue = self._queues[call.queue] if call.queue is not None else None
        priority = call.priority if queue is None or queue.honour_priority else 0
        return (-priority, call.seq, call.call_id)

    def _front_seq(self) -> int:
        self._front -= 1
        return self._front

    def _into_queue(self, call: CallRecord, queue: str, reason: str) -> None:
        call.queue = queue
        call.state = CallState.QUEUED
        call.enqueued = self._now
        call.ringing = []
        call.ring_started = None
        bisect.insort(self._waiting[queue], self._key(call))
        self._emit("call.queued", call=call.call_id, queue=queue, priority=call.priority,
                   caller=call.caller, reason=reason)
        if not self._staffed(self._queues[queue]):
            self._overflow(call, "NO_AGENTS")

    def _requeue(self, call: CallRecord) -> None:
        """Back into its queue at its old position (ahead of every later arrival)."""
        if call.queue is None:
            raise RuntimeError("only queue calls can be re-queued")
        call.state = CallState.QUEUED
        call.ringing = []
        call.ring_started = None
        bisect.insort(self._waiting[call.queue], self._key(call))
        self._emit("call.queued", call=call.call_id, queue=call.queue, priority=call.priority,
                   caller=call.caller, reason="REQUEUED")

    def _unqueue(self, call: CallRecord) -> None:
        if call.queue is not None and call.state is CallState.QUEUED:
            keys = self._waiting[call.queue]
            keys.pop(bisect.bisect_left(keys, self._key(call)))

    def _overflow(self, call: CallRecord, reason: str) -> None:
        if call.queue is None:
            return
        queue = self._queues[call.queue]
        if queue.overflow_queue is None and queue.overflow_target is None:
            return  # nowhere to go: the call keeps waiting
        self._unqueue(call)
        if queue.overflow_queue is not None:
            self._emit("call.overflow", call=call.call_id, queue=queue.name,
                       target=queue.overflow_queue, reason=reason)
            call.tried = []
            # Keeps its seq, so it is served ahead of calls that arrived later.
            self._into_queue(call, queue.overflow_queue, "OVERFLOW")
        elif queue.overflow_target is not None:
            self._emit("call.overflow", call=call.call_id, queue=queue.name,
                       target=queue.overflow_target, reason=reason)
            self._forget_call(call)
            self._actions.append(Route(call.call_id, queue.overflow_target, reason))

    def _ring(self, call: CallRecord, agents: list[AgentRecord]) -> None:
        call.state = CallState.RINGING
        call.ring_started = self._now
        call.ringing = [a.employee_id for a in agents]
        timeout = self._ring_timeout(call)
        for agent in agents:
            agent.call = call.call_id  # before the move, so its event names the call
            self._move(agent, Trigger.RESERVE, AgentState.RESERVED, call.kind.upper())
            self._emit("call.ringing", call=call.call_id, agent=agent.employee_id,
                       queue=call.queue, caller=call.caller, category=call.category)
            self._actions.append(Offer(call.call_id, agent.employee_id, agent.seat, call.caller,
                                       call.category, call.queue, timeout, agent.username))

    def _ring_timeout(self, call: CallRecord) -> float:
        if call.direct or call.queue is None:
            return self._config.direct_ring_timeout
        return self._queues[call.queue].ring_timeout

    def _stop_ringing(self, call: CallRecord, agent: AgentRecord, trigger: Trigger, reason: str,
                      to: AgentState = AgentState.IDLE) -> None:
        call.ringing.remove(agent.employee_id)
        self._actions.append(CancelRing(call.call_id, agent.employee_id, agent.seat, reason,
                                              agent.username))
        self._move(agent, trigger, to, reason)

    def _ring_out(self, call: CallRecord, agent: AgentRecord, *, cancel: bool) -> None:
        """One agent did not answer (reported, or the core's ring timer)."""
        queue = self._queues[call.queue] if call.queue is not None and not call.direct else None
        to = AgentState.IDLE
        reason = NO_ANSWER
        if queue is not None:
            agent.no_answers += 1
            if queue.max_no_answers and agent.no_answers >= queue.max_no_answers:
                to = AgentState.BUSY
        call.tried.append(agent.employee_id)
        self._emit("call.no_answer", call=call.call_id, agent=agent.employee_id, queue=call.queue)
        if cancel:
            self._stop_ringing(call, agent, Trigger.NO_ANSWER, reason, to)
        else:
            call.ringing.remove(agent.employee_id)
            self._move(agent, Trigger.NO_ANSWER, to, reason)
        if not call.ringing:
            self._call_unanswered(call, NO_ANSWER)

    def _call_unanswered(self, call: CallRecord, reason: str) -> None:
        """Nobody is ringing this call any more: back to its queue, or give it up."""
        if call.queue is not None:
            if call.direct:  # a transferred call that the agent did not take
                call.direct = False
                call.seq = self._front_seq()
            self._requeue(call)
        else:
            self._forget_call(call)
            self._emit("call.ended", call=call.call_id, reason=reason)
            self._actions.append(Undelivered(call.call_id, reason))

    def _release_ringing(self, agent: AgentRecord, reason: str) -> None:
        """Take a reserved agent off its ringing call without counting a no-answer."""
        call = self._calls[agent.call] if agent.call else None
        if call is None:
            raise RuntimeError(f"reserved agent {agent.employee_id} has no call")
        call.ringing.remove(agent.employee_id)
        self._actions.append(CancelRing(call.call_id, agent.employee_id, agent.seat, reason,
                                              agent.username))
        if not call.ringing:
            self._call_unanswered(call, reason)

    def _release_talker(
        self, call: CallRecord, agent: AgentRecord, reason: str, *, wrap: bool
    ) -> None:
        wrap_up = 0.0
        # A queue's customer, whoever rings for it (a transferred call is rung `direct`
        # to its target): that queue's wrap-up. Internal calls and intercepts have none.
        if wrap and call.queue is not None and call.kind == "queue":
            wrap_up = self._queues[call.queue].wrap_up
        self._after_call_state(agent, wrap_up, reason)

    def _end_call(self, call: CallRecord, reason: str, *, wrap: bool) -> None:
        now = self._now
        if call.state is CallState.QUEUED:
            self._unqueue(call)
            self._emit("call.abandoned", call=call.call_id, queue=call.queue, where="queued",
                       wait=now - call.arrived, reason=reason)
        elif call.state is CallState.RINGING:
            for eid in list(call.ringing):
                self._stop_ringing(call, self._agents[eid], Trigger.RELEASE, reason)
            self._emit("call.abandoned", call=call.call_id, queue=call.queue, where="ringing",
                       wait=now - call.arrived, reason=reason)
        else:
            talk = now - call.answered if call.answered is not None else 0.0
            if call.answered is not None and call.kind == "queue" and call.queue is not None:
                self._record_talk(call.queue, talk)
            if call.agent is not None:
                self._release_talker(call, self._agents[call.agent], reason, wrap=wrap)
            self._emit("call.ended", call=call.call_id, queue=call.queue, agent=call.agent,
                       talk=talk, reason=reason)
        self._forget_call(call)

    # ---------------------------------------------------------------- dispatch

    def _qualifies(self, agent: AgentRecord, queue: QueueConfig) -> bool:
        skills = agent.skills
        return all(skills.get(s, 0) >= level for s, level in queue.skills.items())

    def _staffed(self, queue: QueueConfig) -> bool:
        """Someone who could take this queue's calls is logged in (in any state)."""
        return bool(self._members[queue.name])

    def _dispatch(self) -> None:
        """Match waiting calls with idle agents until no more pairs can be made.

        Calls are considered in global order (priority, then arrival), so an
        agent serving several queues takes the most urgent call first.
        """
        if self._staffing_changed:
            self._staffing_changed = False
            for name, keys in self._waiting.items():
                if keys and not self._staffed(self._queues[name]):
                    for key in list(keys):
                        self._overflow(self._calls[key[2]], "NO_AGENTS")
        while self._idle:
            heads = sorted((keys[0], name) for name, keys in self._waiting.items() if keys)
            if not any(self._offer(self._calls[key[2]], self._queues[name]) for key, name in heads):
                return

    def _candidates(self, call: CallRecord, queue: QueueConfig) -> IdlePool | None:
        """The idle agents who qualify for `queue`, longest idle first, or None if none.

        Someone who let this call ring out is left out unless nobody else is idle.
        """
        keys: Sequence[IdleKey] = self._idle_keys[queue.name]
        if not keys:
            return None
        if call.tried:
            tried = {eid for eid in call.tried
                     if self._state_of(eid) is AgentState.IDLE
                     and queue.name in self._agent_queues[eid]}
            if tried and len(tried) < len(keys):
                keys = [k for k in keys if k[1] not in tried]
        return IdlePool(self._agents, keys)

    def _offer(self, call: CallRecord, queue: QueueConfig) -> bool:
        pool = self._candidates(call, queue)
        if pool is None:
            return False
        memory = self._memory.setdefault(queue.name, {})
        chosen = self._strategies[queue.strategy](pool, queue, memory)
        ids = [a.employee_id for a in chosen]
        if not chosen or len(set(ids)) != len(ids) or not all(pool.has(eid) for eid in ids):
            return False  # a strategy may decline; one that returns strangers is ignored
        self._unqueue(call)
        self._ring(call, list(chosen))
        return True

    # ------------------------------------------------------------------ timers

    def _due_timers(self, horizon: float) -> list[TimerEntry]:
        """Timers due at or before `horizon`, as (deadline, order, str(id), kind, id),
        earliest first (ties: lease, ring, wrap, wait; then by ID). They are taken off
        the timer heap; `_timers_applied` puts back any still pending."""
        self._sync_timers()
        return self._timer_index.pop_due(horizon)

    def _timers_applied(self, due: list[TimerEntry]) -> None:
        self._sync_timers()
        self._timer_index.restore(due)

    def _run_timers(self) -> None:
        # Each timer can change what else is due (a freed agent, a re-queued
        # call), so each is re-checked before it is applied and dispatch runs
        # after each, in deadline order. A timer never sets another that is due
        # at once (all durations are > 0), but one can uncover an older one (a
        # call that rang out past its max wait), hence a second, bounded pass.
        for _ in range(4):
            due = self._due_timers(self._now)
            if not due:
                return
            self._apply_timers(due)
            self._timers_applied(due)

    def _apply_timers(self, due: list[TimerEntry]) -> None:
        for _deadline, _order, _text, kind, ident in due:
            if kind == "lease":
                agent = self._agents.get(int(ident))
                if (agent is not None and agent.lease_until <= self._now
                        and agent.after_call != "logout"):
                    self._leave(agent, Trigger.LEASE_EXPIRED, "LEASE_EXPIRED")
            elif kind == "wrap":
                agent = self._agents.get(int(ident))
                if (agent is not None and agent.state is AgentState.WRAP_UP
                        and agent.wrap_until is not None and agent.wrap_until <= self._now):
                    self._move(agent, Trigger.WRAP_END, AgentState.IDLE, "WRAP_UP_DONE")
            elif kind == "ring":
                call = self._calls.get(str(ident))
                if (call is not None and call.state is CallState.RINGING
                        and call.ring_started is not None
                        and call.ring_started + self._ring_timeout(call) <= self._now):
                    for eid in list(call.ringing):
                        self._ring_out(call, self._agents[eid], cancel=True)
            else:
                call = self._calls.get(str(ident))
                if call is not None and call.state is CallState.QUEUED and call.queue is not None:
                    max_wait = self._queues[call.queue].max_wait
                    if max_wait is not None and call.enqueued + max_wait <= self._now:
                        self._overflow(call, "MAX_WAIT")
            self._dispatch()
