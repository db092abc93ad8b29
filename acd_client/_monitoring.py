"""Supervisor monitoring's acd.v1 enums as the names the rest of the stack uses
(eventlog.MONITOR_MODES, the dashboards' labels), and the snapshot's sessions as rows.

The controller turns a MonitorCall's mode into the mixer's `hear` map and its
monitor.* events by name; the dashboards show Snapshot.monitors. Both go through
here so that a mode has one spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from acd_api.v1 import acd_pb2 as pb

__all__ = [
    "MONITOR_MODE_NAMES",
    "MONITOR_STATE_NAMES",
    "monitor_mode",
    "monitor_rows",
    "monitor_state",
]

_MODES: Final[dict[str, pb.MonitorMode]] = {
    "listen": pb.MONITOR_MODE_LISTEN,
    "whisper": pb.MONITOR_MODE_WHISPER,
    "barge": pb.MONITOR_MODE_BARGE,
    "intercept": pb.MONITOR_MODE_INTERCEPT,
}
_STATES: Final[dict[str, pb.MonitorState]] = {
    "ringing": pb.MONITOR_STATE_RINGING,
    "active": pb.MONITOR_STATE_ACTIVE,
    "ended": pb.MONITOR_STATE_ENDED,
}
# acd.v1 MonitorMode / MonitorState -> name; UNSPECIFIED has none.
MONITOR_MODE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {value: name for name, value in _MODES.items()}
)
MONITOR_STATE_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {value: name for name, value in _STATES.items()}
)


def monitor_mode(name: str) -> pb.MonitorMode:
    """ "listen", "whisper", "barge", "intercept" -> the enum; anything else: UNSPECIFIED
    (which the ACD refuses)."""
    return _MODES.get(name, pb.MONITOR_MODE_UNSPECIFIED)


def monitor_state(name: str) -> pb.MonitorState:
    """ "ringing", "active", "ended" -> the enum; anything else: UNSPECIFIED."""
    return _STATES.get(name, pb.MONITOR_STATE_UNSPECIFIED)


def monitor_rows(snapshot: Any) -> list[dict[str, Any]]:
    """The live sessions of a pb.Snapshot as plain rows (for a table): session_id,
    supervisor, agent, call_id, mode and state (names, as above) and since_seconds
    (how long it has been in its state)."""
    return [
        {
            "session_id": m.session_id,
            "supervisor": m.supervisor,
            "agent": m.agent,
            "call_id": m.call_id,
            "mode": MONITOR_MODE_NAMES.get(m.mode, ""),
            "state": MONITOR_STATE_NAMES.get(m.state, ""),
            "since_seconds": m.since_seconds,
        }
        for m in snapshot.monitors
    ]
