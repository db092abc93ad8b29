"""The call controller: a B2BUA on Sippy that drives rtpengine over ng.

Run it with `python -m controller --sip HOST:PORT --rtpengine HOST:PORT --agents ...`.
"""

from controller._app import ControllerConfig, main, parse_agents, run
from controller._call import Call, CallLeg, CallPhase, InvalidTransitionError, LegRole, LegState
from controller._commands import Commands
from controller._events import MemoryPublisher, NullPublisher, RedisPublisher
from controller._media import MediaError, MediaServer, RtpengineNg
from controller._ports import EventPublisher
from controller._service import CallService, UnknownCallError

__all__ = [
    "Call",
    "CallLeg",
    "CallPhase",
    "CallService",
    "Commands",
    "ControllerConfig",
    "EventPublisher",
    "InvalidTransitionError",
    "LegRole",
    "LegState",
    "MediaError",
    "MediaServer",
    "MemoryPublisher",
    "NullPublisher",
    "RedisPublisher",
    "RtpengineNg",
    "UnknownCallError",
    "main",
    "parse_agents",
    "run",
]
