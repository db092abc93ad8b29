"""Pure monitoring state: sessions of a call, their modes, who hears whom, the keypad.

No SIP, rtpengine or mixer here (docs/monitoring.md). A call has at most one mixer
conference (named by the call's correlation ID) with the slots `caller`, `agent` and
one `sup:<session>` per supervisor; `hear_map` turns the modes of the call's sessions
into the mixer's `hear` command.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from controller._call import CallLeg

__all__ = [
    "AGENT_SLOT",
    "CALLER_SLOT",
    "INTERCEPT",
    "MODES",
    "CallMonitors",
    "Keypad",
    "MonitorReport",
    "MonitorSession",
    "SessionState",
    "hear_map",
    "monitor_call_id",
    "supervisor_slot",
]

LISTEN, WHISPER, BARGE = "listen", "whisper", "barge"
MODES = (LISTEN, WHISPER, BARGE)
# Not a mode: the supervisor takes the caller over and the session ends.
INTERCEPT = "intercept"
CALLER_SLOT = "caller"
AGENT_SLOT = "agent"


def supervisor_slot(session_id: str) -> str:
    return f"sup:{session_id}"


_MONITOR_CALL_MARK = "~mon~"


def monitor_call_id(cid: str, session_id: str) -> str:
    """The supervisor leg's own rtpengine call: its microphone never enters the
    customer call's rtpengine call, hence never its recording."""
    return f"{cid}{_MONITOR_CALL_MARK}{session_id}"


def split_monitor_call_id(rtp_cid: str) -> tuple[str, str] | None:
    """The (call, session) a supervisor leg's rtpengine call ID names; None for any
    other call ID (`monitor_call_id` read back)."""
    cid, sep, session_id = rtp_cid.partition(_MONITOR_CALL_MARK)
    return (cid, session_id) if sep else None


class SessionState(enum.Enum):
    RINGING = "ringing"  # the supervisor's phone rings
    ACTIVE = "active"  # answered: its slot is in the call's conference


@dataclass(eq=False)
class MonitorSession:
    """One supervisor on one call. `leg` is its SIP dialog (keyed, like the call's own
    legs, by the call's correlation ID and the leg's ID)."""

    session_id: str
    supervisor: str
    mode: str
    leg: CallLeg
    requested_by: str = ""
    by: str = "dashboard"
    record: bool = False
    state: SessionState = SessionState.RINGING
    started_at: float | None = None  # monitor.started's time (for duration_ms)
    recording_ref: str = ""  # the session's own recording, "" when none

    @property
    def slot(self) -> str:
        return supervisor_slot(self.session_id)


@dataclass(frozen=True)
class MonitorReport:
    """What the ACD is told about a session (ReportMonitor): live (`active`, its mode
    now) or `ended` (`reason`: one of eventlog.MONITOR_STOP_REASONS); with the call's
    agent now (it changes after a transfer)."""

    cid: str
    session_id: str
    state: str  # "active" | "ended"
    mode: str
    agent: str
    reason: str = ""


@dataclass
class CallMonitors:
    """The sessions of one call and its mixer conference (if media goes through one)."""

    cid: str
    sessions: dict[str, MonitorSession] = field(default_factory=dict)
    mixer: str | None = None  # the mixer node's name once the conference exists
    # The agent the sessions last reported (events carry the current one).
    agent: str = ""
    legs: int = 0  # supervisor legs made so far (their IDs: M1, M2, ...)
    recording: MonitorSession | None = None  # the session whose recording runs

    def next_leg_id(self) -> str:
        self.legs += 1
        return f"M{self.legs}"

    def active(self) -> list[MonitorSession]:
        return [s for s in self.sessions.values() if s.state is SessionState.ACTIVE]

    def by_leg(self, leg_id: str) -> MonitorSession | None:
        for session in self.sessions.values():
            if session.leg.leg_id == leg_id:
                return session
        return None


def hear_map(sessions: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Who hears whom, from (slot, mode) of the call's answered sessions.

    The caller and the agent always hear each other; every supervisor hears both and
    every other supervisor who barges; a whispering supervisor is heard by the agent,
    a barging one by the agent and the caller (docs/monitoring.md's table).
    """
    listed = list(sessions)
    caller, agent = [AGENT_SLOT], [CALLER_SLOT]
    hears: dict[str, list[str]] = {CALLER_SLOT: caller, AGENT_SLOT: agent}
    for slot, mode in listed:
        if mode not in MODES:
            raise ValueError(f"unknown monitoring mode {mode!r}")
        if mode in (WHISPER, BARGE):
            agent.append(slot)
        if mode == BARGE:
            caller.append(slot)
        others = [other for other, other_mode in listed if other != slot and other_mode == BARGE]
        hears[slot] = [CALLER_SLOT, AGENT_SLOT, *others]
    return hears


@dataclass(frozen=True)
class Keypad:
    """The supervisor's keys during a session (`monitoring.keys`; ChanSpy's `d`)."""

    listen: str = "4"
    whisper: str = "5"
    barge: str = "6"
    intercept: str = "*"

    def __post_init__(self) -> None:
        keys = [self.listen, self.whisper, self.barge, self.intercept]
        if len(set(keys)) != len(keys):
            raise ValueError(f"monitoring keys must differ, got {keys}")
        for key in keys:
            if len(key) != 1 or key not in "0123456789*#":
                raise ValueError(f"a monitoring key is one of 0-9 * #, not {key!r}")

    @classmethod
    def parse(cls, text: str) -> Keypad:
        """`listen,whisper,barge,intercept`, e.g. `4,5,6,*`."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError(
                f"monitoring keys: four keys, listen,whisper,barge,intercept: {text!r}"
            )
        return cls(*parts)

    def action(self, digit: str) -> str | None:
        """The mode a key switches to, `intercept`, or None (other keys are ignored)."""
        return {
            self.listen: LISTEN,
            self.whisper: WHISPER,
            self.barge: BARGE,
            self.intercept: INTERCEPT,
        }.get(digit)
