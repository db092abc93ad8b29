"""Consistency checks of the ACD state, for tests, state loading and health checks.

Each problem is a sentence; a sound state has none. Besides the rules that tie
agents and calls together (a reserved agent has a call ringing it, a queued call
is in its queue's order, ...), the derived indexes (qualifying and idle agents
per queue, the timer index) are checked against a brute-force recomputation
from the records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._index import TimerKey
from ._monitoring import MONITOR_ACTIVE, MONITOR_RINGING, SWITCH_MODES
from ._recording import RECORDING_OFF, RECORDING_STATES
from ._states import AgentState, CallState
from ._timers import agent_deadlines

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["problems"]


def problems(m: Machine) -> list[str]:
    """Every consistency problem in `m` (empty when sound)."""
    return _agent_problems(m) + _call_problems(m) + _monitor_problems(m) + _index_problems(m)


def _monitor_problems(m: Machine) -> list[str]:
    bad: list[str] = []
    holders: set[int] = set()
    for sid, s in m._monitors.items():
        if sid != s.session_id:
            bad.append(f"monitoring session {s.session_id} is filed as {sid}")
        if s.call_id not in m._calls:
            bad.append(f"monitoring session {sid} is on call {s.call_id}, which is gone")
        if s.mode not in SWITCH_MODES or s.state not in (MONITOR_RINGING, MONITOR_ACTIVE):
            bad.append(f"monitoring session {sid} has a bad mode/state {s.mode}/{s.state}")
        if s.supervisor_id in holders:
            bad.append(f"supervisor {s.supervisor_id} holds two monitoring sessions")
        holders.add(s.supervisor_id)
    return bad


def _index_problems(m: Machine) -> list[str]:
    bad: list[str] = []
    for name, queue in m._queues.items():
        members = {a.employee_id for a in m._agents.values() if m._qualifies(a, queue)}
        if m._members.get(name) != members:
            bad.append(f"member index of queue {name} out of step")
        idle = sorted(
            (a.idle_since, a.employee_id)
            for a in m._agents.values()
            if a.state is AgentState.IDLE and a.employee_id in members
        )
        if m._idle_keys.get(name) != idle:
            bad.append(f"idle index of queue {name} out of step")
    if set(m._members) != set(m._queues) or set(m._idle_keys) != set(m._queues):
        bad.append("queue indexes do not match the queues")
    for eid, names in m._agent_queues.items():
        if eid not in m._agents or any(eid not in m._members[n] for n in names):
            bad.append(f"queue list of agent {eid} out of step")
    if set(m._agent_queues) != set(m._agents):
        bad.append("queue lists do not match the agents")
    if m._dirty_agents or m._dirty_calls:
        bad.append("timer index has unsynced records")
    elif m._timer_index.deadlines() != _brute_force_timers(m):
        bad.append("timer index out of step")
    return bad + m._timer_index.problems()


def _brute_force_timers(m: Machine) -> dict[TimerKey, float]:
    """Every pending deadline, recomputed from the records."""
    timers: dict[TimerKey, float] = {}
    for a in m._agents.values():
        for kind, deadline in agent_deadlines(a):
            if deadline is not None:
                timers[(kind, a.employee_id)] = deadline
    for c in m._calls.values():
        for kind, deadline in m._call_deadlines(c):
            if deadline is not None:
                timers[(kind, c.call_id)] = deadline
    return timers


def _agent_problems(m: Machine) -> list[str]:
    bad: list[str] = []
    for a in m._agents.values():
        call = m._calls.get(a.call) if a.call else None
        if a.state is AgentState.RESERVED and (
            call is None or call.state is not CallState.RINGING or a.employee_id not in call.ringing
        ):
            bad.append(f"agent {a.employee_id} reserved without a call ringing it")
        elif a.state is AgentState.TALKING and (call is None or call.agent != a.employee_id):
            bad.append(f"agent {a.employee_id} talking without its call")
        elif a.state not in (AgentState.RESERVED, AgentState.TALKING) and a.call is not None:
            bad.append(f"agent {a.employee_id} is {a.state} but holds call {a.call}")
        if m._seats.get(a.seat) != a.employee_id:
            bad.append(f"seat index wrong for agent {a.employee_id}")
    idle = {a.employee_id for a in m._agents.values() if a.state is AgentState.IDLE}
    if m._idle != idle:
        bad.append("idle index out of step")
    if len(m._seats) != len(m._agents):
        bad.append("seat index has stale seats")
    return bad


def _call_problems(m: Machine) -> list[str]:
    bad: list[str] = []
    queued = {key[2] for keys in m._waiting.values() for key in keys}
    for c in m._calls.values():
        if c.state is CallState.QUEUED:
            if c.call_id not in queued or c.queue is None or c.ringing or c.agent is not None:
                bad.append(f"queued call {c.call_id} is not cleanly queued")
        elif c.call_id in queued:
            bad.append(f"call {c.call_id} is {c.state} but still in a queue")
        if c.state is CallState.RINGING:
            holders = [m._agents.get(e) for e in c.ringing]
            if not c.ringing or any(h is None or h.call != c.call_id for h in holders):
                bad.append(f"ringing call {c.call_id} does not match its agents")
        if c.state is CallState.TALKING:
            holder = m._agents.get(c.agent) if c.agent is not None else None
            if holder is None or holder.call != c.call_id:
                bad.append(f"talking call {c.call_id} has no talking agent")
    for keys in m._waiting.values():
        if keys != sorted(keys):
            bad.append("a queue is out of order")
    if queued - set(m._calls):
        bad.append("a queue holds calls that do not exist")
    bad += [f"call {cid} is live but recorded as ended" for cid in m._calls if cid in m._ended]
    bad += [
        f"call {c.call_id} has a bad recording {c.recording!r}/{c.recording_ref!r}"
        for c in m._calls.values()
        # A ref exactly while on or paused.
        if c.recording not in RECORDING_STATES
        or (c.recording == RECORDING_OFF) != (not c.recording_ref)
    ]
    if len(m._ended_order) < len(m._ended):
        bad.append("ended calls missing from their expiry order")
    return bad
