"""The replayable call event log on Redis Streams.

Emitters build an `Event` and `EventLog.append` it; collectors read with a
`Consumer` (consumer groups, at-least-once, batches) or rebuild with `replay`.
The wire format is documented in docs/events.md.
"""

from ._consumer import Consumer, Delivery, Handler, read_batches, replay
from ._event import ENVELOPE_FIELDS, Event, EventError, decode, encode
from ._kinds import (
    AGENT_STATE,
    AGENT_STATES,
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_HOLD,
    CALL_IVR_DONE,
    CALL_IVR_STEP,
    CALL_NO_ANSWER,
    CALL_ORIGINATED,
    CALL_OVERFLOW,
    CALL_QUEUED,
    CALL_RECORDING,
    CALL_RESUME,
    CALL_RINGING,
    CALL_TRANSFERRED,
    CALL_VOICEMAIL,
    ENUM_FIELDS,
    KIND_FIELDS,
    SCHEMA_VERSION,
    STATE_BUSY,
    STATE_IDLE,
    STATE_LOGGED_OUT,
    STATE_RESERVED,
    STATE_TALKING,
    STATE_WRAP_UP,
)
from ._writer import DEFAULT_STREAM, EventLog

__all__ = [
    "AGENT_STATE",
    "AGENT_STATES",
    "CALL_ANSWERED",
    "CALL_ARRIVED",
    "CALL_ENDED",
    "CALL_HOLD",
    "CALL_IVR_DONE",
    "CALL_IVR_STEP",
    "CALL_NO_ANSWER",
    "CALL_ORIGINATED",
    "CALL_OVERFLOW",
    "CALL_QUEUED",
    "CALL_RECORDING",
    "CALL_RESUME",
    "CALL_RINGING",
    "CALL_TRANSFERRED",
    "CALL_VOICEMAIL",
    "DEFAULT_STREAM",
    "ENUM_FIELDS",
    "ENVELOPE_FIELDS",
    "KIND_FIELDS",
    "SCHEMA_VERSION",
    "STATE_BUSY",
    "STATE_IDLE",
    "STATE_LOGGED_OUT",
    "STATE_RESERVED",
    "STATE_TALKING",
    "STATE_WRAP_UP",
    "Consumer",
    "Delivery",
    "Event",
    "EventError",
    "EventLog",
    "Handler",
    "decode",
    "encode",
    "read_batches",
    "replay",
]
