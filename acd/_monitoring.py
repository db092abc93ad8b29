"""The rules of supervisor monitoring as the ACD keeps it (docs/monitoring.md).

The ACD mixes no audio: the call controller that owns the call rings the
supervisor and puts the call's media through a mixer. The ACD checks who may
monitor whom, keeps each session (`MonitorSession`: who, which call, the mode,
ringing or active) for the wallboard and tells the controller what to do
(`MonitorCall`, `MonitorCommand`); the controller reports what became of it
(`report_monitor`). A session ends when asked (StopMonitor), when the controller
says so, and when its call leaves the ACD. The monitored agent's state never
changes because of it.
"""

from __future__ import annotations

import uuid
from typing import Final

__all__ = [
    "INTERCEPT",
    "MONITOR_ACTIVE",
    "MONITOR_ENDED",
    "MONITOR_MODES",
    "MONITOR_REPORT_STATES",
    "MONITOR_RINGING",
    "MONITOR_STOP_REASONS",
    "STOP_CALL_ENDED",
    "STOP_REQUESTED",
    "SWITCH_MODES",
    "new_monitor_id",
]

# Monitor's modes; SwitchMonitor may also hand the call to the supervisor (intercept).
MONITOR_MODES: Final = frozenset({"listen", "whisper", "barge"})
INTERCEPT: Final = "intercept"
SWITCH_MODES: Final = MONITOR_MODES | {INTERCEPT}

MONITOR_RINGING: Final = "ringing"
MONITOR_ACTIVE: Final = "active"
MONITOR_ENDED: Final = "ended"
MONITOR_REPORT_STATES: Final = frozenset({MONITOR_RINGING, MONITOR_ACTIVE, MONITOR_ENDED})

# Why a session ended: eventlog.MONITOR_STOP_REASONS (a test keeps the two equal; the
# core does not import the event log). "requested" is StopMonitor's, "call_ended" the
# ACD's own when the call leaves it; the others come from the controller.
MONITOR_STOP_REASONS: Final = frozenset(
    {"requested", "supervisor_hangup", "call_ended", "intercept", "no_answer", "mixer_failed"}
)
STOP_REQUESTED: Final = "requested"
STOP_CALL_ENDED: Final = "call_ended"


def new_monitor_id() -> str:
    """A session's ID: 32 lowercase hex characters, unique forever (it names the
    supervisor's rtpengine call, the mixer slot, the events and the recording)."""
    return uuid.uuid4().hex
