"""The ACD state as plain JSON-able data, and back.

`dump` writes the records (agents, calls, monitoring sessions), the counters and
the strategy memory; config and
clock are not part of the state, and the derived indexes are rebuilt on load.
`meta` is the same without the records, for a store that keeps the records
apart. `STATE_VERSION` names the layout: a load refuses any other version, so
a change to the layout bumps it (and teaches `restore` the old one, if states
written by the previous release must still load).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._invariants import problems
from ._records import AgentRecord, CallRecord, MonitorSession
from ._states import AgentState, CallState

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["STATE_VERSION", "check_version", "dump", "meta", "restore"]

STATE_VERSION = 1


def meta(m: Machine) -> dict[str, Any]:
    """`dump()` without the records: version, counters and strategy memory (cheap)."""
    return {
        "version": STATE_VERSION,
        "seq": m._seq,
        "front": m._front,
        "sessions": m._sessions,
        "memory": {k: dict(v) for k, v in m._memory.items()},
        "talk_average": dict(m._talk_average),
    }


def dump(m: Machine) -> dict[str, Any]:
    """The whole state as JSON-able data."""
    return {
        **meta(m),
        "agents": [a.to_dict() for a in m._agents.values()],
        "calls": [c.to_dict() for c in m._calls.values()],
        "ended": [[cid, when] for cid, when in m._ended.items()],
        "monitors": [s.to_dict() for s in m._monitors.values()],
    }


def check_version(data: Mapping[str, Any]) -> None:
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported ACD state version {data.get('version')!r}")


def restore(m: Machine, data: Mapping[str, Any]) -> None:
    """Load `dump()` output into `m`, freshly made with the config and clock to run
    under. Raises ValueError on inconsistent data."""
    m._seq = int(data["seq"])
    m._front = int(data["front"])
    m._sessions = int(data["sessions"])
    m._memory = {str(k): dict(v) for k, v in data["memory"].items()}
    # Absent from states written before the history existed: start without one.
    m._talk_average = {
        str(k): float(v) for k, v in data.get("talk_average", {}).items() if k in m._queues
    }
    for raw in data["agents"]:
        agent = AgentRecord.from_dict(raw)
        m._agents[agent.employee_id] = agent
        m._seats[agent.seat] = agent.employee_id
        if agent.state is AgentState.IDLE:
            m._idle.add(agent.employee_id)
    for raw in data["calls"]:
        call = CallRecord.from_dict(raw)
        if call.queue is not None and call.queue not in m._queues:
            raise ValueError(f"call {call.call_id} is in unknown queue {call.queue!r}")
        m._calls[call.call_id] = call
        if call.state is CallState.QUEUED and call.queue is not None:
            bisect.insort(m._waiting[call.queue], m._key(call))
    # Optional (older data has none); forgotten at the next command once past retention.
    ended = sorted(
        ((float(when), str(cid)) for cid, when in data.get("ended", ())), key=lambda item: item[0]
    )
    for when, cid in ended:
        m._ended[cid] = when
        m._ended_order.append((when, cid))
    # Optional (older data has none). A session whose call is gone is dropped: a replica
    # of an older release, which knows no sessions, may have ended the call.
    for raw in data.get("monitors", ()):
        session = MonitorSession.from_dict(raw)
        if session.call_id in m._calls:
            m._monitors[session.session_id] = session
    m._rebuild_indexes()
    found = problems(m)
    if found:
        raise ValueError("inconsistent ACD state: " + "; ".join(found))
