"""The record types the CDR builder produces, and how they map to columns.

Times are float epoch seconds (UTC) in Python and DateTime64(3, 'UTC') in the
store. `version` grows with every update of the same record, so the store's
ReplacingMergeTree keeps the newest and a re-inserted batch never doubles.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Final

from eventlog import IVR_MAX_TIME, IVR_QUEUED, IVR_RETRIES_EXHAUSTED, IVR_TRANSFERRED

# Dispositions, in the order the rules are tried (docs/analytics.md).
ANSWERED: Final = "answered"
VOICEMAIL: Final = "voicemail"
OVERFLOW: Final = "overflow"
ABANDONED_RINGING: Final = "abandoned_ringing"
ABANDONED_QUEUE: Final = "abandoned_queue"
ABANDONED_IVR: Final = "abandoned_ivr"
FAILED: Final = "failed"
DISPOSITIONS: Final = (
    ANSWERED,
    VOICEMAIL,
    OVERFLOW,
    ABANDONED_RINGING,
    ABANDONED_QUEUE,
    ABANDONED_IVR,
    FAILED,
)

# The groups the containment report counts `call.ivr_done` results in (eventlog's
# IVR_RESULTS; docs/analytics.md, "IVR reports"). A call that never entered an IVR has
# result "".
IVR_TO_AGENT: Final = (IVR_QUEUED, IVR_TRANSFERRED)
# Where the flow gave up on the caller (the drop-off report's failures at a node).
IVR_FAILURES: Final = (IVR_RETRIES_EXHAUSTED, IVR_MAX_TIME)

# `category` of an outbound call (`call.originated`): schema 1 gives such a call no
# business category, and the CDR has no direction column, so the category carries the
# direction, as `internal` does for the calls between agents that the edge marks.
CATEGORY_OUTBOUND: Final = "outbound"

# Leg kinds and outcomes.
LEG_RING: Final = "ring"
LEG_TRANSFER: Final = "transfer"
LEG_ANSWERED: Final = "answered"
LEG_NO_ANSWER: Final = "no_answer"
LEG_ABANDONED: Final = "abandoned"
LEG_CANCELLED: Final = "cancelled"
LEG_TRANSFERRED: Final = "transferred"


@dataclass(frozen=True, slots=True)
class Cdr:
    """One call, from arrival at the edge to the last hang-up (plus wrap-up)."""

    correlation_id: str
    trunk: str
    caller: str
    dialled: str
    category: str
    arrived_at: float
    queued_at: float | None
    answered_at: float | None
    ended_at: float
    queue: str
    agent: str
    seat: str
    ivr_path: tuple[str, ...]
    ivr_result: str
    ivr_exit_node: str
    wait_s: float
    talk_s: float
    hold_s: float
    wrapup_s: float
    disposition: str
    hangup_cause: str
    hangup_side: str
    recording_ref: str
    transfers: int
    version: int
    # The last wrap-up code an agent saved for the call (agent.wrap_up); "" for none.
    # Last, with a default, as migration 007 appends the column.
    wrap_up_code: str = ""
    # Schema 008 (recording and voicemail), appended in this order with defaults:
    # how many recording.paused, the box the caller left a voicemail in ("" none),
    # 1 when a message was played to the caller (call.message_played).
    recording_pauses: int = 0
    voicemail_box: str = ""
    message_played: int = 0


@dataclass(frozen=True, slots=True)
class Leg:
    """One ring attempt to an agent, or one transfer, within a call."""

    correlation_id: str
    seq: int
    leg_kind: str
    leg_id: str
    agent: str
    seat: str
    attempt: int
    started_at: float
    answered_at: float | None
    ended_at: float
    outcome: str
    talk_s: float
    hold_s: float
    to_kind: str
    to_target: str
    mode: str
    version: int


@dataclass(frozen=True, slots=True)
class AgentInterval:
    """A closed span of time an agent spent in one state."""

    agent: str
    seat: str
    state: str
    start: float
    end: float
    reason: str
    correlation_id: str
    version: int

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class MonitorSession:
    """One supervisor monitoring session (docs/monitoring.md), from monitor.started to
    monitor.stopped. Times in each mode are milliseconds of the session's answered span
    (the last `duration_ms` before the stop), so they add up to `duration_ms`."""

    session: str
    correlation_id: str  # the monitored call's
    supervisor: str
    agent: str  # the agent monitored at the start
    started_at: float  # monitor.started
    ended_at: float  # monitor.stopped
    duration_ms: int  # monitor.stopped's: 0 when the supervisor never answered
    modes: tuple[str, ...]  # every mode used, in the order first used
    listen_ms: int
    whisper_ms: int
    barge_ms: int
    switches: int
    reason: str  # why it ended (eventlog.MONITOR_STOP_REASONS)
    started_by: str  # dashboard | keypad
    requested_by: str  # the account that asked (dashboard), "" from the keypad
    mixer: str
    recording_ref: str  # the session's own recording, "" when not recorded
    version: int


CDR_COLUMNS: Final = tuple(f.name for f in fields(Cdr))
LEG_COLUMNS: Final = tuple(f.name for f in fields(Leg))
INTERVAL_COLUMNS: Final = tuple(f.name for f in fields(AgentInterval))
MONITOR_SESSION_COLUMNS: Final = tuple(f.name for f in fields(MonitorSession))


@dataclass(slots=True)
class Records:
    """What one batch of events produced. Each list may be empty."""

    cdrs: list[Cdr]
    legs: list[Leg]
    intervals: list[AgentInterval]
    sessions: list[MonitorSession] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cdrs) + len(self.legs) + len(self.intervals) + len(self.sessions)
