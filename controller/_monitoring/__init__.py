"""Supervisor monitoring on the call controller: listen, whisper, barge-in and intercept
through a mixer (docs/monitoring.md). One concept per module: `_sessions` (pure state,
the hear map, the keypad), `_mixer` (the mixers' ng client and the choice of a node),
`_mixer_media` (the rtpengine pairings with the mixer's slots), `_session_recording`
(a session's WAV), `_monitor` (the wiring into the call service),
`_options` (the command line)."""

from controller._monitoring._mixer import MixerError, MixerNode, MixerPool
from controller._monitoring._monitor import Monitoring, UnknownSessionError
from controller._monitoring._options import (
    MixerAddress,
    MonitoringOptions,
    add_monitoring_arguments,
    monitoring_options,
)
from controller._monitoring._sessions import (
    AGENT_SLOT,
    CALLER_SLOT,
    INTERCEPT,
    MODES,
    CallMonitors,
    Keypad,
    MonitorReport,
    MonitorSession,
    SessionState,
    hear_map,
    monitor_call_id,
    supervisor_slot,
)

__all__ = [
    "AGENT_SLOT",
    "CALLER_SLOT",
    "INTERCEPT",
    "MODES",
    "CallMonitors",
    "Keypad",
    "MixerAddress",
    "MixerError",
    "MixerNode",
    "MixerPool",
    "MonitorReport",
    "MonitorSession",
    "Monitoring",
    "MonitoringOptions",
    "SessionState",
    "UnknownSessionError",
    "add_monitoring_arguments",
    "hear_map",
    "monitor_call_id",
    "monitoring_options",
    "supervisor_slot",
]
