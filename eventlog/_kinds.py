"""The event kinds of schema version 1 and the fields each one carries.

This table is the contract between the emitters (edge, call controller, ACD) and
the consumers (CDR collector, wallboard). docs/events.md describes the same table
in prose; a test checks that every kind here is documented there.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SCHEMA_VERSION: Final = 1

# Kind names, as constants so emitters get a NameError instead of a typo on the wire.
CALL_ARRIVED: Final = "call.arrived"
CALL_ORIGINATED: Final = "call.originated"
CALL_IVR_STEP: Final = "call.ivr_step"
CALL_IVR_DONE: Final = "call.ivr_done"
CALL_QUEUED: Final = "call.queued"
CALL_RINGING: Final = "call.ringing"
CALL_NO_ANSWER: Final = "call.no_answer"
CALL_ANSWERED: Final = "call.answered"
CALL_TRANSFERRED: Final = "call.transferred"
CALL_HOLD: Final = "call.hold"
CALL_RESUME: Final = "call.resume"
CALL_OVERFLOW: Final = "call.overflow"
CALL_VOICEMAIL: Final = "call.voicemail"
# Recording and voicemail (docs/recording.md). The controller writes started, paused,
# resumed and stopped; the recorder service writes stored, failed and voicemail.left.
RECORDING_STARTED: Final = "recording.started"
RECORDING_PAUSED: Final = "recording.paused"
RECORDING_RESUMED: Final = "recording.resumed"
RECORDING_STOPPED: Final = "recording.stopped"
RECORDING_STORED: Final = "recording.stored"
RECORDING_FAILED: Final = "recording.failed"
VOICEMAIL_LEFT: Final = "voicemail.left"
VOICEMAIL_HEARD: Final = "voicemail.heard"
VOICEMAIL_DELETED: Final = "voicemail.deleted"
# The agent sent the caller a message to hear twice before the call ends (R-AG-8).
CALL_MESSAGE_PLAYED: Final = "call.message_played"
# Supervisor monitoring (docs/monitoring.md): the controller that owns the call writes
# them, with the monitoring session's ID, who monitors (`supervisor`), whom (`agent`) and
# how (`mode`: listen, whisper, barge).
MONITOR_STARTED: Final = "monitor.started"
MONITOR_SWITCHED: Final = "monitor.switched"
MONITOR_STOPPED: Final = "monitor.stopped"
CALL_ENDED: Final = "call.ended"
AGENT_STATE: Final = "agent.state"
AGENT_WRAP_UP: Final = "agent.wrap_up"

# Kind -> the kind-specific fields, all required (an emitter sends "" when it has
# nothing). Extra fields are refused: a new field means a new schema version, so a
# consumer never silently drops data it does not understand.
#
# call.ivr_step names its IVR node `ivr_node`, because `node` already is the
# envelope field naming the emitting instance and the stream entry is one flat map.
KIND_FIELDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        CALL_ARRIVED: ("trunk", "caller", "dialled", "category"),
        # An outbound call (callback, campaign) instead of call.arrived: the controller
        # rings `agent`, then dials `number` presenting `caller_id` ("": the trunk's own).
        CALL_ORIGINATED: ("agent", "number", "caller_id"),
        CALL_IVR_STEP: ("ivr_node", "input"),
        # The IVR let go of the call: `result` is one of IVR_RESULTS (below);
        # `ivr_node` is the node it was in.
        CALL_IVR_DONE: ("ivr_node", "result"),
        CALL_QUEUED: ("queue", "priority"),
        CALL_RINGING: ("agent", "seat", "leg_id", "attempt"),
        CALL_NO_ANSWER: ("agent", "leg_id"),
        CALL_ANSWERED: ("agent", "seat", "leg_id"),
        CALL_TRANSFERRED: ("from_agent", "to_kind", "to", "mode"),
        CALL_HOLD: (),
        CALL_RESUME: (),
        CALL_OVERFLOW: ("from_queue", "to"),
        CALL_VOICEMAIL: (),
        # `ref` names the recording everywhere (index row, WAV file, CDR recording_ref).
        # reason: always (numbers[].record, queues[].record), on_demand (the agent),
        # voicemail (the caller alone, into `name` = the mailbox), monitor (a monitoring
        # session, `name` = its session ID; the mixer writes the WAV itself, media_node =
        # the mixer's name). caller_port: rtpengine's local port facing the caller, so
        # the converter puts the caller on the left ("" for monitor).
        RECORDING_STARTED: (
            "ref",
            "name",
            "reason",
            "media_node",
            "caller",
            "agent",
            "queue",
            "number",
            "caller_port",
        ),
        RECORDING_PAUSED: ("ref", "reason"),
        RECORDING_RESUMED: ("ref",),
        # segments: how many pcap files rtpengine wrote (one per start or resume).
        RECORDING_STOPPED: ("ref", "segments"),
        RECORDING_STORED: ("ref", "file", "duration_ms"),
        RECORDING_FAILED: ("ref", "reason", "detail"),
        VOICEMAIL_LEFT: ("box", "message_id", "caller", "duration_ms", "ref"),
        # The ACD's voicemail RPCs; `by` is the actor's account.
        VOICEMAIL_HEARD: ("box", "message_id", "by"),
        VOICEMAIL_DELETED: ("box", "message_id", "by"),
        CALL_MESSAGE_PLAYED: ("agent", "repeats"),
        # by: "dashboard" (the ACD's Monitor/SwitchMonitor, `requested_by` the actor's
        # account) or "keypad" (the supervisor's phone). mixer: the mixer node's name.
        # recording_ref: the session's own recording ("" when it is not recorded).
        MONITOR_STARTED: (
            "session",
            "supervisor",
            "agent",
            "mode",
            "by",
            "requested_by",
            "mixer",
            "recording_ref",
        ),
        MONITOR_SWITCHED: ("session", "supervisor", "agent", "mode", "previous", "by"),
        # duration_ms: from monitor.started (0 when the supervisor never answered).
        MONITOR_STOPPED: ("session", "supervisor", "agent", "reason", "duration_ms"),
        CALL_ENDED: ("cause", "side"),
        AGENT_STATE: ("agent", "seat", "state", "previous", "reason"),
        # The agent's desktop saved a wrap-up code for a call it took: `call_id` is the
        # ACD's call ID (the Offer's), the envelope's correlation_id the call's; the
        # last code per call goes into its CDR. Notes stay in the business store.
        AGENT_WRAP_UP: ("call_id", "agent", "code"),
    }
)

# How the IVR let go of a call (call.ivr_done `result`): the controller writes these,
# the CDR fold and the IVR reports count them.
IVR_SELF_SERVED: Final = "self_served"  # the flow ended the call, the caller served
IVR_QUEUED: Final = "queued"
IVR_TRANSFERRED: Final = "transferred"
IVR_VOICEMAIL: Final = "voicemail"
IVR_CLOSED: Final = "closed"  # out of open hours
IVR_MAX_TIME: Final = "max_time"
IVR_RETRIES_EXHAUSTED: Final = "retries_exhausted"
IVR_ERROR: Final = "error"
IVR_CALLER_LEFT: Final = "caller_left"
IVR_RESULTS: Final = frozenset(
    {
        IVR_SELF_SERVED,
        IVR_QUEUED,
        IVR_TRANSFERRED,
        IVR_VOICEMAIL,
        IVR_CLOSED,
        IVR_MAX_TIME,
        IVR_RETRIES_EXHAUSTED,
        IVR_ERROR,
        IVR_CALLER_LEFT,
    }
)


# How a supervisor takes part in a monitored call (docs/monitoring.md).
MONITOR_MODES: Final = frozenset({"listen", "whisper", "barge"})
# Why a monitoring session ended: asked (dashboard), the supervisor hung up, the call
# ended, the supervisor took the call over (intercept), the supervisor's phone did not
# answer or refused, the mixer failed (the parties are bridged directly again).
MONITOR_STOP_REASONS: Final = frozenset(
    {"requested", "supervisor_hangup", "call_ended", "intercept", "no_answer", "mixer_failed"}
)


# Fields whose value comes from a closed set; checked on encode and on decode.
ENUM_FIELDS: Final[Mapping[tuple[str, str], frozenset[str]]] = MappingProxyType(
    {
        (CALL_TRANSFERRED, "to_kind"): frozenset({"agent", "queue", "external"}),
        # intercept: a supervisor took the call over from the agent (controller).
        (CALL_TRANSFERRED, "mode"): frozenset({"blind", "attended", "intercept"}),
        (CALL_ENDED, "side"): frozenset({"caller", "agent", "system"}),
        (CALL_IVR_DONE, "result"): IVR_RESULTS,
        (RECORDING_STARTED, "reason"): frozenset({"always", "on_demand", "voicemail", "monitor"}),
        (RECORDING_PAUSED, "reason"): frozenset({"agent", "sensitive"}),
        (MONITOR_STARTED, "mode"): MONITOR_MODES,
        (MONITOR_STARTED, "by"): frozenset({"dashboard", "keypad"}),
        (MONITOR_SWITCHED, "mode"): MONITOR_MODES,
        (MONITOR_SWITCHED, "previous"): MONITOR_MODES,
        (MONITOR_SWITCHED, "by"): frozenset({"dashboard", "keypad"}),
        (MONITOR_STOPPED, "reason"): MONITOR_STOP_REASONS,
        (RECORDING_FAILED, "reason"): frozenset(
            {"disk_full", "missing", "rtpengine", "convert", "short"}
        ),
    }
)

# Agent states the analytics understands (agent.state `state`/`previous`). Other
# values are stored as they come but count only towards login time.
STATE_LOGGED_OUT: Final = "logged_out"
STATE_IDLE: Final = "idle"
STATE_BUSY: Final = "busy"
STATE_RESERVED: Final = "reserved"
STATE_TALKING: Final = "talking"
STATE_WRAP_UP: Final = "wrap_up"
AGENT_STATES: Final = frozenset(
    {
        STATE_LOGGED_OUT,
        STATE_IDLE,
        STATE_BUSY,
        STATE_RESERVED,
        STATE_TALKING,
        STATE_WRAP_UP,
    }
)
