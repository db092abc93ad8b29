"""The core's timers: lease expiry, ring timeout, wrap-up end, max wait.

No timer runs by itself. Each record's deadlines follow from its fields: an
agent's from its record alone (below); a call's also from its queue's settings
(`Machine._call_deadlines`). The machine's `TimerIndex` holds them, re-read for
the records a command changed (`Machine._sync_timers`), and every command first
applies the timers that have fallen due by its clock reading
(`Machine._run_timers`). The machine runs them because applying a timer is a
change of state like any command's.
"""

from __future__ import annotations

from ._records import AgentRecord
from ._states import AgentState

__all__ = ["Deadlines", "agent_deadlines"]

Deadlines = tuple[tuple[str, float | None], ...]  # (timer kind, deadline or None if not set)


def agent_deadlines(a: AgentRecord) -> Deadlines:
    lease = a.lease_until if a.after_call != "logout" else None
    wrap = a.wrap_until if a.state is AgentState.WRAP_UP else None
    return ("lease", lease), ("wrap", wrap)
