"""Folding one monitoring session's events into its `monitor_sessions` row. Pure.

The controller writes monitor.started, monitor.switched (each mode change) and
monitor.stopped for a session (docs/monitoring.md, docs/events.md). Events are folded in
`ts` order. Time in each mode counts only the session's answered span: the last
`duration_ms` before monitor.stopped (the controller counts it; 0 when the supervisor
never answered), so the times add up to `duration_ms` and a ringing phone counts in none.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Final

from eventlog import MONITOR_STARTED, MONITOR_STOPPED, MONITOR_SWITCHED, Event

from ._records import MonitorSession

# Why a session ended when its call ended before any monitor.stopped reached the log
# (the controller died with the call): the session cannot outlive its call.
CALL_ENDED_REASON: Final = "call_ended"

_by_ts = attrgetter("ts")


def _int(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return 0


def fold_session(
    events: Sequence[Event], *, call_ended_at: float | None = None, version: int = 0
) -> MonitorSession | None:
    """The row of one session from its events (one session ID, no duplicates, any
    order); None while it has not ended. A session whose monitor.stopped is missing ends
    at `call_ended_at` (its call's call.ended), reason `call_ended`. None too for a
    session without monitor.started (its row was written before: see _builder)."""
    ordered = sorted(events, key=_by_ts)
    started = next((e for e in ordered if e.kind == MONITOR_STARTED), None)
    stopped = next((e for e in ordered if e.kind == MONITOR_STOPPED), None)
    if started is None or (stopped is None and call_ended_at is None):
        return None
    begin = started.data
    if stopped is not None:
        ended_at = stopped.ts
        duration_ms = _int(stopped.data["duration_ms"])
        reason = stopped.data["reason"]
    else:
        assert call_ended_at is not None
        ended_at = max(call_ended_at, started.ts)
        duration_ms = round((ended_at - started.ts) * 1000)
        reason = CALL_ENDED_REASON
    # The answered span: [answered, ended_at]; each mode's stretch is clipped to it.
    answered = ended_at - duration_ms / 1000
    spent = {"listen": 0.0, "whisper": 0.0, "barge": 0.0}
    modes: list[str] = []
    mode, since = begin["mode"], started.ts
    switches = 0
    for event in ordered:
        if event.kind != MONITOR_SWITCHED or event.ts > ended_at:
            continue
        if event.data["mode"] == mode:
            continue  # a repeat of the mode it is in: no switch
        _spend(spent, mode, since, event.ts, answered)
        if mode not in modes:
            modes.append(mode)
        mode, since = event.data["mode"], event.ts
        switches += 1
    _spend(spent, mode, since, ended_at, answered)
    if mode not in modes:
        modes.append(mode)
    return MonitorSession(
        session=begin["session"],
        correlation_id=started.correlation_id,
        supervisor=begin["supervisor"],
        agent=begin["agent"],
        started_at=started.ts,
        ended_at=ended_at,
        duration_ms=duration_ms,
        modes=tuple(modes),
        listen_ms=round(spent["listen"] * 1000),
        whisper_ms=round(spent["whisper"] * 1000),
        barge_ms=round(spent["barge"] * 1000),
        switches=switches,
        reason=reason,
        started_by=begin["by"],
        requested_by=begin["requested_by"],
        mixer=begin["mixer"],
        recording_ref=begin["recording_ref"],
        version=version or len(ordered),
    )


def _spend(spent: dict[str, float], mode: str, since: float, until: float, answered: float) -> None:
    if mode in spent:
        spent[mode] += max(0.0, until - max(since, answered))
