"""Read-only views of the ACD state: the live wallboard snapshot and a caller's place.

They read the clock but apply no timer and change nothing, so they can be
served between commands (an overdue timer shows at the next command).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._states import AgentState, CallState

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["call_position", "snapshot"]


def snapshot(m: Machine) -> dict[str, Any]:
    """For `Acd.snapshot`."""
    now = m._clock.now()
    agents = [
        {
            "employee_id": a.employee_id,
            "username": a.username,
            "seat": a.seat,
            "role": a.role,
            "state": a.state.value,
            "reason": a.reason,
            "call": a.call,
            "time_in_state": max(0.0, now - a.since),
            "calls": a.calls,
            "pending": a.after_call,
            "phone_ok": a.phone_ok,
            "recording": _recording_of(m, a.call),
        }
        for a in sorted(m._agents.values(), key=lambda a: a.employee_id)
    ]
    queues = []
    for name in m._queues:
        waiting = [m._calls[key[2]] for key in m._waiting[name]]
        members = [m._agents[eid] for eid in m._members[name]]
        calls_here = [c for c in m._calls.values() if c.queue == name]
        queues.append(
            {
                "name": name,
                "waiting": len(waiting),
                "longest_wait": max((now - c.enqueued for c in waiting), default=0.0),
                "ringing": sum(c.state is CallState.RINGING for c in calls_here),
                "talking": sum(c.state is CallState.TALKING for c in calls_here),
                "agents_logged_in": len(members),
                "agents_idle": sum(a.state is AgentState.IDLE for a in members),
            }
        )
    return {"ts": now, "agents": agents, "queues": queues, "monitors": _monitors(m, now)}


def _monitors(m: Machine, now: float) -> list[dict[str, Any]]:
    """Live monitoring sessions, oldest first. `agent` is the call's agent now (a
    transfer may have moved it), else the one the session was made or reported with."""
    rows = []
    for s in sorted(m._monitors.values(), key=lambda s: s.started):
        call = m._calls.get(s.call_id)
        talker = m._agents.get(call.agent) if call is not None and call.agent is not None else None
        rows.append(
            {
                "session_id": s.session_id,
                "supervisor": s.supervisor,
                "agent": talker.username if talker is not None else s.agent,
                "call_id": s.call_id,
                "mode": s.mode,
                "state": s.state,
                "since": max(0.0, now - s.since),
            }
        )
    return rows


def _recording_of(m: Machine, call_id: str | None) -> str:
    """The recording state of the agent's call ("off" without one)."""
    call = m._calls.get(call_id) if call_id is not None else None
    return "off" if call is None else call.recording


def call_position(m: Machine, call_id: str) -> dict[str, Any] | None:
    """For `Acd.call_position`, which explains the fields and the estimate."""
    call = m._calls.get(call_id)
    if call is None:
        return None
    now = m._clock.now()
    queue = call.queue
    keys = m._waiting.get(queue, []) if queue is not None else []
    waiting = call.state is CallState.QUEUED and queue is not None
    position = 0
    if waiting:
        key = m._key(call)
        i = bisect.bisect_left(keys, key)
        position = i + 1 if i < len(keys) and keys[i] == key else keys.index(key) + 1
    return {
        "call_id": call_id,
        "queue": queue or "",
        "state": call.state.value,
        "waiting": waiting,
        "position": position,
        "queue_length": len(keys),
        "waited": max(0.0, now - call.enqueued),
        "expected_wait": (
            _expected_wait(m, queue, position, now, call.skills)
            if waiting and queue is not None
            else None
        ),
        "priority": call.priority,
        "skills": dict(call.skills),
    }


def _expected_wait(
    m: Machine, queue: str, position: int, now: float, skills: Mapping[str, int]
) -> float | None:
    # Only the agents who could take this call: a call with skills of its own waits
    # for the queue's agents who meet them.
    serving = [
        m._agents[eid]
        for eid in m._members[queue]
        if m._agents[eid].state
        in (AgentState.IDLE, AgentState.RESERVED, AgentState.TALKING, AgentState.WRAP_UP)
        and (not skills or m._meets(m._agents[eid], skills))
    ]
    if not serving:
        return None
    talk = m._talk_average.get(queue)
    if talk is None:
        ages = [
            now - c.answered
            for a in serving
            if a.state is AgentState.TALKING
            and a.call is not None
            and (c := m._calls.get(a.call)) is not None
            and c.answered is not None
        ]
        if not ages:
            return None
        talk = sum(ages) / len(ages)
    handle = talk + m._queues[queue].wrap_up
    return max(0.0, position * handle / len(serving))
