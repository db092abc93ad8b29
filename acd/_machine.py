"""The state every ACD command works on, and the transitions commands share.

`Machine` holds the records (agents, calls, calls that ended), the derived
indexes kept beside them (waiting calls, idle and qualifying agents per queue,
seats, pending deadlines) and the per-command buffers of events and actions.
Its methods are the moves a command is made of: bracket a command (`_begin`,
`_finish`, `_refused`), change an agent's state (`_move`, the only place that
does), queue, ring, release and end calls, and dispatch waiting calls to idle
agents. `Acd` (`_core.py`) adds the commands themselves; the timers
(`_timers.py`), persistence (`_persistence.py`), consistency checks
(`_invariants.py`) and read-only views (`_views.py`) are functions over this state.
"""

from __future__ import annotations

import bisect
import secrets
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from ._actions import (
    Action,
    CancelRing,
    Event,
    MonitorCommand,
    Offer,
    Result,
    Route,
    Undelivered,
)
from ._clock import Clock
from ._config import AcdConfig, QueueConfig, validate_config
from ._errors import ErrorCode, Refusal
from ._index import IdleKey, IdlePool, TimerEntry, TimerIndex
from ._monitoring import STOP_CALL_ENDED, STOP_REQUESTED, new_monitor_id
from ._recording import new_recording_ref
from ._records import AgentRecord, CallRecord, MonitorSession
from ._states import AgentState, CallState, Trigger, refusal_for, targets
from ._strategies import BUILTIN_STRATEGIES, Strategy, StrategyMemory
from ._timers import Deadlines, agent_deadlines

__all__ = ["INTERNAL_CALL", "PHONE_UNREACHABLE", "Machine", "random_session_secret"]

PHONE_UNREACHABLE = "PHONE_UNREACHABLE"
NO_ANSWER = "NO_ANSWER"
# The busy reason of an agent whose own phone placed an internal call (its `origin`).
INTERNAL_CALL = "INTERNAL_CALL"

_WaitKey = tuple[int, int, str]  # (-priority, seq, call_id): sorts the next call first

# How much the newest finished call moves a queue's talk-time average (Asterisk's
# queue holdtime uses the same quarter): recent enough to follow a shift change,
# smooth enough that one long call does not swing the announcement.
HANDLE_WEIGHT = 0.25


def random_session_secret() -> str:
    return secrets.token_urlsafe(16)


class Machine:
    """The ACD's state and shared transitions; `Acd` is the face with the commands."""

    def __init__(
        self,
        config: AcdConfig,
        clock: Clock,
        *,
        strategies: Mapping[str, Strategy] | None = None,
        session_secret: Callable[[], str] = random_session_secret,
        recording_ref: Callable[[], str] = new_recording_ref,
        monitor_id: Callable[[], str] = new_monitor_id,
    ) -> None:
        self._session_secret = session_secret
        self._recording_ref = recording_ref  # injected, like the secret, for simulations
        self._monitor_id = monitor_id
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
        # Live monitoring sessions by ID (`_monitoring.py`): few (one per supervisor at
        # most), so the call's sessions are found by a scan when it ends.
        self._monitors: dict[str, MonitorSession] = {}
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

    # ---------------------------------------------------------------- timers

    def _call_deadlines(self, c: CallRecord) -> Deadlines:
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
                    for kind, deadline in agent_deadlines(agent):
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
        now = self._now
        for _deadline, _order, _text, kind, ident in due:
            if kind == "lease":
                agent = self._agents.get(int(ident))
                if agent is not None and agent.lease_until <= now and agent.after_call != "logout":
                    self._leave(agent, Trigger.LEASE_EXPIRED, "LEASE_EXPIRED")
            elif kind == "wrap":
                agent = self._agents.get(int(ident))
                if (
                    agent is not None
                    and agent.state is AgentState.WRAP_UP
                    and agent.wrap_until is not None
                    and agent.wrap_until <= now
                ):
                    self._move(agent, Trigger.WRAP_END, AgentState.IDLE, "WRAP_UP_DONE")
            elif kind == "ring":
                call = self._calls.get(str(ident))
                if (
                    call is not None
                    and call.state is CallState.RINGING
                    and call.ring_started is not None
                    and call.ring_started + self._ring_timeout(call) <= now
                ):
                    for eid in list(call.ringing):
                        self._ring_out(call, self._agents[eid], cancel=True)
            else:
                call = self._calls.get(str(ident))
                if call is not None and call.state is CallState.QUEUED and call.queue is not None:
                    max_wait = self._queues[call.queue].max_wait
                    if max_wait is not None and call.enqueued + max_wait <= now:
                        self._overflow(call, "MAX_WAIT")
            self._dispatch()

    # ---------------------------------------------------------------- command bracket

    def _begin(self) -> None:
        self._now = self._clock.now()
        self._forget_ended(self._now - self._config.ended_call_retention)
        self._events = []
        self._actions = []
        self._run_timers()

    def _finish(self, *, session_id: str | None = None, deferred: bool = False) -> Result:
        self._dispatch()
        self._sync_timers()
        result = Result(
            events=self._events, actions=self._actions, session_id=session_id, deferred=deferred
        )
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
        if self._monitors:
            for session in [m for m in self._monitors.values() if m.call_id == call.call_id]:
                self._end_monitor(session, STOP_CALL_ENDED)
        if call.origin is not None:
            self._placed_call_over(call.origin, call.origin_reason, call.call_id)
        if self._config.ended_call_retention > 0:
            self._ended[call.call_id] = self._now
            self._ended_order.append((self._now, call.call_id))

    def _end_monitor(self, session: MonitorSession, reason: str) -> None:
        """A monitoring session is over: it leaves the state (and Redis: the event names
        it, not logged). The controller learns it from its own call, or a MonitorCommand."""
        del self._monitors[session.session_id]
        self._emit("monitor.session", monitor=session.session_id, state="ended", reason=reason)

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

    # --------------------------------------------------------------- agent state

    def _state_of(self, employee_id: int) -> AgentState:
        agent = self._agents.get(employee_id)
        return AgentState.LOGGED_OUT if agent is None else agent.state

    def _move(
        self,
        agent: AgentRecord,
        trigger: Trigger,
        to: AgentState,
        reason: str | None,
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
        self._events.append(
            {
                "kind": "agent.state",
                "ts": self._now,
                "agent": agent.employee_id,
                # The account name too: the event log names agents by it, as the call
                # controller's events (which ring SIP accounts) do.
                "username": agent.username,
                "seat": agent.seat,
                "from": frm.value,
                "to": to.value,
                "reason": reason,
                "trigger": trigger.value,
                "call": call_id,
            }
        )
        if to is AgentState.LOGGED_OUT:
            del self._agents[eid]
            del self._seats[agent.seat]
            for name in self._agent_queues.pop(eid, ()):
                self._members[name].discard(eid)
            self._staffing_changed = True
            self._end_sessions_of(agent)

    def _end_sessions_of(self, supervisor: AgentRecord) -> None:
        """A supervisor who logs out (or is logged out) leaves its monitoring sessions:
        each ends here, and its controller is told to hang the supervisor's leg up."""
        for session in [
            m for m in self._monitors.values() if m.supervisor_id == supervisor.employee_id
        ]:
            self._stop_monitor(session, supervisor.username)

    def _stop_monitor(self, session: MonitorSession, requested_by: str) -> None:
        """End a session here (reason "requested") and tell its call's controller, with a
        MonitorCommand without a mode, to hang the supervisor up."""
        self._end_monitor(session, STOP_REQUESTED)
        self._actions.append(
            MonitorCommand(
                call_id=session.call_id,
                session_id=session.session_id,
                mode="",
                requested_by=requested_by,
            )
        )

    def _to_idle(self, agent: AgentRecord, trigger: Trigger, reason: str) -> Refusal | None:
        code = refusal_for(trigger, agent.state)
        if code is not None:
            return Refusal(code, f"employee {agent.employee_id} is {agent.state}")
        if not agent.phone_ok:
            return Refusal(
                ErrorCode.PHONE_UNREACHABLE,
                f"employee {agent.employee_id}'s phone is not reachable",
            )
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
        self._emit(
            "call.queued",
            call=call.call_id,
            queue=queue,
            priority=call.priority,
            caller=call.caller,
            reason=reason,
        )
        if not self._staffed_for(call, self._queues[queue]):
            self._overflow(call, "NO_AGENTS")

    def _requeue(self, call: CallRecord) -> None:
        """Back into its queue at its old position (ahead of every later arrival)."""
        if call.queue is None:
            raise RuntimeError("only queue calls can be re-queued")
        call.state = CallState.QUEUED
        call.ringing = []
        call.ring_started = None
        bisect.insort(self._waiting[call.queue], self._key(call))
        self._emit(
            "call.queued",
            call=call.call_id,
            queue=call.queue,
            priority=call.priority,
            caller=call.caller,
            reason="REQUEUED",
        )

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
            self._emit(
                "call.overflow",
                call=call.call_id,
                queue=queue.name,
                target=queue.overflow_queue,
                reason=reason,
            )
            call.tried = []
            # Keeps its seq, so it is served ahead of calls that arrived later.
            self._into_queue(call, queue.overflow_queue, "OVERFLOW")
        elif queue.overflow_target is not None:
            self._emit(
                "call.overflow",
                call=call.call_id,
                queue=queue.name,
                target=queue.overflow_target,
                reason=reason,
            )
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
            self._emit(
                "call.ringing",
                call=call.call_id,
                agent=agent.employee_id,
                queue=call.queue,
                caller=call.caller,
                category=call.category,
            )
            self._actions.append(
                Offer(
                    call.call_id,
                    agent.employee_id,
                    agent.seat,
                    call.caller,
                    call.category,
                    call.queue,
                    timeout,
                    agent.username,
                    dict(call.call_data),
                )
            )

    def _ring_timeout(self, call: CallRecord) -> float:
        if call.direct or call.queue is None:
            return self._config.direct_ring_timeout
        return self._queues[call.queue].ring_timeout

    def _stop_ringing(
        self,
        call: CallRecord,
        agent: AgentRecord,
        trigger: Trigger,
        reason: str,
        to: AgentState = AgentState.IDLE,
    ) -> None:
        call.ringing.remove(agent.employee_id)
        self._actions.append(
            CancelRing(call.call_id, agent.employee_id, agent.seat, reason, agent.username)
        )
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
        self._actions.append(
            CancelRing(call.call_id, agent.employee_id, agent.seat, reason, agent.username)
        )
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
            self._emit(
                "call.abandoned",
                call=call.call_id,
                queue=call.queue,
                where="queued",
                wait=now - call.arrived,
                reason=reason,
            )
        elif call.state is CallState.RINGING:
            for eid in list(call.ringing):
                self._stop_ringing(call, self._agents[eid], Trigger.RELEASE, reason)
            self._emit(
                "call.abandoned",
                call=call.call_id,
                queue=call.queue,
                where="ringing",
                wait=now - call.arrived,
                reason=reason,
            )
        else:
            talk = now - call.answered if call.answered is not None else 0.0
            if call.answered is not None and call.kind == "queue" and call.queue is not None:
                self._record_talk(call.queue, talk)
            if call.agent is not None:
                self._release_talker(call, self._agents[call.agent], reason, wrap=wrap)
            self._emit(
                "call.ended",
                call=call.call_id,
                queue=call.queue,
                agent=call.agent,
                talk=talk,
                reason=reason,
            )
        self._forget_call(call)

    def _record_talk(self, queue: str, talk: float) -> None:
        previous = self._talk_average.get(queue)
        self._talk_average[queue] = (
            talk if previous is None else previous + HANDLE_WEIGHT * (talk - previous)
        )

    # ---------------------------------------------------------------- dispatch

    @staticmethod
    def _meets(agent: AgentRecord, needs: Mapping[str, int]) -> bool:
        """The agent has every skill in `needs` at or above its level."""
        skills = agent.skills
        return all(skills.get(s, 0) >= level for s, level in needs.items())

    def _qualifies(self, agent: AgentRecord, queue: QueueConfig) -> bool:
        return self._meets(agent, queue.skills)

    def _staffed(self, queue: QueueConfig) -> bool:
        """Someone who could take this queue's calls is logged in (in any state)."""
        return bool(self._members[queue.name])

    def _staffed_for(self, call: CallRecord, queue: QueueConfig) -> bool:
        """Someone who could take this call in `queue` is logged in (in any state): it
        qualifies for the queue and meets the call's own skills. A scan of the queue's
        members for a call with skills of its own (only when it enters a queue, and when
        staffing shrinks)."""
        if not call.skills:
            return self._staffed(queue)
        agents = self._agents
        return any(self._meets(agents[eid], call.skills) for eid in self._members[queue.name])

    def _dispatch(self) -> None:
        """Match waiting calls with idle agents until no more pairs can be made.

        Calls are considered in global order (priority, then arrival), so an
        agent serving several queues takes the most urgent call first. A call with
        skills of its own that no idle agent meets does not hold up the calls behind
        it in its queue (`_servable_head`).
        """
        if self._staffing_changed:
            self._staffing_changed = False
            self._overflow_unstaffed()
        while self._idle:
            heads = []
            for name, queue in self._queues.items():
                head = self._servable_head(queue)
                if head is not None:
                    heads.append((head, name))
            heads.sort()
            if not any(self._offer(self._calls[key[2]], self._queues[name]) for key, name in heads):
                return

    def _overflow_unstaffed(self) -> None:
        """Staffing shrank (a logout, a new config): every waiting call that nobody
        logged in could take any more overflows (NO_AGENTS)."""
        for name, keys in self._waiting.items():
            if not keys:
                continue
            queue = self._queues[name]
            if not self._staffed(queue):
                for key in list(keys):
                    self._overflow(self._calls[key[2]], "NO_AGENTS")
                continue
            # Calls with skills of their own; callers mostly share a few requirements
            # (a language), so each distinct one is looked up once.
            staffed: dict[frozenset[tuple[str, int]], bool] = {}
            for key in list(keys):
                call = self._calls[key[2]]
                if not call.skills:
                    continue
                needs = frozenset(call.skills.items())
                if needs not in staffed:
                    staffed[needs] = self._staffed_for(call, queue)
                if not staffed[needs]:
                    self._overflow(call, "NO_AGENTS")

    def _servable_head(self, queue: QueueConfig) -> _WaitKey | None:
        """The first call waiting in `queue` that may be offered now: the head, unless
        it has skills of its own that no idle agent of the queue meets, in which case
        the next such call (in the queue's order) is, and so on."""
        for key in self._waiting[queue.name]:
            call = self._calls[key[2]]
            if not call.skills or self._can_serve(call, queue):
                return key
        return None

    def _can_serve(self, call: CallRecord, queue: QueueConfig) -> bool:
        """Some idle agent qualifies for `queue` and meets the call's skills."""
        if not self._idle_keys[queue.name]:
            return False
        agents, monitoring = self._agents, self._monitoring_supervisors()
        return any(
            k[1] not in monitoring and self._meets(agents[k[1]], call.skills)
            for k in self._idle_keys[queue.name]
        )

    def _monitoring_supervisors(self) -> frozenset[int]:
        """Supervisors in a monitoring session: their phone is on it, so no queue call is
        offered to them (they stay idle on the board; the session ends, they are offered
        again at the next dispatch)."""
        if not self._monitors:
            return frozenset()
        return frozenset(m.supervisor_id for m in self._monitors.values())

    def _candidates(self, call: CallRecord, queue: QueueConfig) -> IdlePool | None:
        """The idle agents who qualify for `queue` and meet the call's own skills,
        longest idle first, or None if none.

        Someone who let this call ring out is left out unless nobody else is idle.
        """
        keys: Sequence[IdleKey] = self._idle_keys[queue.name]
        if keys and call.skills:
            agents = self._agents
            keys = [k for k in keys if self._meets(agents[k[1]], call.skills)]
        if keys and self._monitors:
            monitoring = self._monitoring_supervisors()
            keys = [k for k in keys if k[1] not in monitoring]
        if not keys:
            return None
        if call.tried:
            eligible = {k[1] for k in keys} if call.skills else None
            tried = {
                eid
                for eid in call.tried
                if self._state_of(eid) is AgentState.IDLE
                and queue.name in self._agent_queues[eid]
                and (eligible is None or eid in eligible)
            }
            if tried and len(tried) < len(keys):
                keys = [k for k in keys if k[1] not in tried]
        return IdlePool(self._agents, keys)

    def _needs(self, call: CallRecord, queue: QueueConfig) -> QueueConfig:
        """The queue as a strategy sees it for `call`: its skills joined with the call's
        (the higher level where both name a skill), so `skill_level_first` ranks by every
        skill the call needs."""
        if not call.skills:
            return queue
        merged = dict(queue.skills)
        for skill, level in call.skills.items():
            merged[skill] = max(level, merged.get(skill, 0))
        return replace(queue, skills=merged)

    def _offer(self, call: CallRecord, queue: QueueConfig) -> bool:
        pool = self._candidates(call, queue)
        if pool is None:
            return False
        memory = self._memory.setdefault(queue.name, {})
        chosen = self._strategies[queue.strategy](pool, self._needs(call, queue), memory)
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
