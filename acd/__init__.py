"""The ACD core ("queue machine"): agents, skills, queues, strategies, supervisor commands
(force, intercept, monitoring sessions).

Pure Python with no I/O: a deterministic state object driven by commands,
with an injected clock. Each command returns a `Result` holding a refusal
(code + message) or the events to publish and the actions for the call
controller (ring this agent, stop ringing, route the call elsewhere). The
state round-trips through plain JSON-able dicts (`to_dict`/`from_dict`).
"""

from ._actions import (
    Action,
    CancelRing,
    Event,
    InterceptCall,
    MonitorCall,
    MonitorCommand,
    Offer,
    PlayMessageCall,
    RecordingCommand,
    Release,
    Result,
    Route,
    Undelivered,
)
from ._call_data import MAX_CALL_DATA_KEYS, MAX_CALL_DATA_VALUE, call_data_problem
from ._clock import Clock, ManualClock, SystemClock
from ._config import ROLES, Account, AcdConfig, MonitorScope, QueueConfig, validate_config
from ._core import MAX_CALL_SKILLS, MAX_SKILL_NAME, STATE_VERSION, Acd, call_skills_problem
from ._errors import AcdError, ConfigError, ErrorCode, Refusal
from ._monitoring import MONITOR_MODES, MONITOR_STOP_REASONS, SWITCH_MODES, new_monitor_id
from ._recording import (
    MAX_MESSAGE_TEXT,
    MAX_RECORDING_NAME,
    MESSAGE_REPEATS,
    RECORDING_STATES,
    message_problem,
    recording_name_problem,
)
from ._records import AgentRecord, CallRecord, MonitorSession
from ._states import (
    REFUSAL_CODES,
    TRANSITIONS,
    AgentState,
    CallState,
    Trigger,
    refusal_for,
    targets,
)
from ._strategies import BUILTIN_STRATEGIES, Strategy, StrategyMemory

__all__ = [
    "BUILTIN_STRATEGIES",
    "MAX_CALL_DATA_KEYS",
    "MAX_CALL_DATA_VALUE",
    "MAX_CALL_SKILLS",
    "MAX_MESSAGE_TEXT",
    "MAX_RECORDING_NAME",
    "MAX_SKILL_NAME",
    "MESSAGE_REPEATS",
    "MONITOR_MODES",
    "MONITOR_STOP_REASONS",
    "RECORDING_STATES",
    "REFUSAL_CODES",
    "ROLES",
    "STATE_VERSION",
    "SWITCH_MODES",
    "TRANSITIONS",
    "Account",
    "Acd",
    "AcdConfig",
    "AcdError",
    "Action",
    "AgentRecord",
    "AgentState",
    "CallRecord",
    "CallState",
    "CancelRing",
    "Clock",
    "ConfigError",
    "ErrorCode",
    "Event",
    "InterceptCall",
    "ManualClock",
    "MonitorCall",
    "MonitorCommand",
    "MonitorScope",
    "MonitorSession",
    "Offer",
    "PlayMessageCall",
    "QueueConfig",
    "RecordingCommand",
    "Refusal",
    "Release",
    "Result",
    "Route",
    "Strategy",
    "StrategyMemory",
    "SystemClock",
    "Trigger",
    "Undelivered",
    "call_data_problem",
    "call_skills_problem",
    "message_problem",
    "new_monitor_id",
    "recording_name_problem",
    "refusal_for",
    "targets",
    "validate_config",
]
