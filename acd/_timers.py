"""The core's timers: lease expiry, ring timeout, wrap-up end, max wait.

No timer runs by itself. Each record's deadlines follow from its fields (the
rules below); the machine's `TimerIndex` holds them, re-read for the records a
command changed (`sync_timers`), and every command first applies the timers
that have fallen due by its clock reading (`run_timers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._index import TimerEntry
from ._records import AgentRecord, CallRecord
from ._states import AgentState, CallState, Trigger

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["agent_deadlines", "call_deadlines", "run_timers", "sync_timers"]

Deadlines = tuple[tuple[str, float | None], ...]  # (timer kind, deadline or None if not set)


def agent_deadlines(a: AgentRecord) -> Deadlines:
    lease = a.lease_until if a.after_call != "logout" else None
    wrap = a.wrap_until if a.state is AgentState.WRAP_UP else None
    return ("lease", lease), ("wrap", wrap)


def call_deadlines(m: Machine, c: CallRecord) -> Deadlines:
    ring = wait = None
    if c.state is CallState.RINGING and c.ring_started is not None:
        ring = c.ring_started + m._ring_timeout(c)
    elif c.state is CallState.QUEUED and c.queue is not None:
        max_wait = m._queues[c.queue].max_wait
        if max_wait is not None:
            wait = c.enqueued + max_wait
    return ("ring", ring), ("wait", wait)


def sync_timers(m: Machine) -> None:
    """Re-read the deadlines of the records changed since the last sync."""
    index = m._timer_index
    if m._dirty_agents:
        for eid in m._dirty_agents:
            agent = m._agents.get(eid)
            if agent is None:
                index.set("lease", eid, None)
                index.set("wrap", eid, None)
            else:
                for kind, deadline in agent_deadlines(agent):
                    index.set(kind, eid, deadline)
        m._dirty_agents = set()
    if m._dirty_calls:
        for cid in m._dirty_calls:
            call = m._calls.get(cid)
            if call is None:
                index.set("ring", cid, None)
                index.set("wait", cid, None)
            else:
                for kind, deadline in call_deadlines(m, call):
                    index.set(kind, cid, deadline)
        m._dirty_calls = set()


def run_timers(m: Machine) -> None:
    # Each timer can change what else is due (a freed agent, a re-queued
    # call), so each is re-checked before it is applied and dispatch runs
    # after each, in deadline order. A timer never sets another that is due
    # at once (all durations are > 0), but one can uncover an older one (a
    # call that rang out past its max wait), hence a second, bounded pass.
    for _ in range(4):
        due = m._due_timers(m._now)
        if not due:
            return
        _apply_timers(m, due)
        m._timers_applied(due)


def _apply_timers(m: Machine, due: list[TimerEntry]) -> None:
    now = m._now
    for _deadline, _order, _text, kind, ident in due:
        if kind == "lease":
            agent = m._agents.get(int(ident))
            if (agent is not None and agent.lease_until <= now
                    and agent.after_call != "logout"):
                m._leave(agent, Trigger.LEASE_EXPIRED, "LEASE_EXPIRED")
        elif kind == "wrap":
            agent = m._agents.get(int(ident))
            if (agent is not None and agent.state is AgentState.WRAP_UP
                    and agent.wrap_until is not None and agent.wrap_until <= now):
                m._move(agent, Trigger.WRAP_END, AgentState.IDLE, "WRAP_UP_DONE")
        elif kind == "ring":
            call = m._calls.get(str(ident))
            if (call is not None and call.state is CallState.RINGING
                    and call.ring_started is not None
                    and call.ring_started + m._ring_timeout(call) <= now):
                for eid in list(call.ringing):
                    m._ring_out(call, m._agents[eid], cancel=True)
        else:
            call = m._calls.get(str(ident))
            if call is not None and call.state is CallState.QUEUED and call.queue is not None:
                max_wait = m._queues[call.queue].max_wait
                if max_wait is not None and call.enqueued + max_wait <= now:
                    m._overflow(call, "MAX_WAIT")
        m._dispatch()
