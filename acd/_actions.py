"""What a command produces: events to publish, actions for the call controller, or a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ._errors import AcdError, Refusal

__all__ = [
    "Action",
    "CancelRing",
    "Event",
    "InterceptCall",
    "MonitorCall",
    "MonitorCommand",
    "Offer",
    "PlayMessageCall",
    "RecordingCommand",
    "Release",
    "Result",
    "Route",
    "Undelivered",
]

# Events are flat JSON-able dicts: {"kind": "agent.state", "ts": ..., "agent": 7, ...}.
Event = dict[str, str | int | float | bool | None]


def _flat(action: Any) -> dict[str, object]:
    """An action as {"kind": ..., field: value...}: like dataclasses.asdict (the fields
    are all scalars) without its deep copy, which costs more than the rest of a commit."""
    return {"kind": action.kind, **{name: getattr(action, name) for name in action.__slots__}}


@dataclass(frozen=True, slots=True)
class Offer:
    """Ring `agent` at `seat` with this call; the agent is already reserved for it."""

    kind: ClassVar[str] = "offer"
    call_id: str
    agent: int
    seat: int
    caller: str
    category: str
    queue: str | None
    ring_timeout: float
    # The agent's account, which is also its SIP user (the call controller rings it).
    # Defaults to "" so offers stored by an older core still load (`action_from_dict`).
    username: str = ""
    # The call's data (`CallRecord.call_data`): the same on every Offer of the call.
    # Not hashed (a dict); left out of `to_dict` when empty, so an offer without any
    # is stored exactly as an older core stored it and an older replica still loads it.
    call_data: dict[str, str] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, object]:
        data = _flat(self)
        if not self.call_data:
            del data["call_data"]
        else:
            data["call_data"] = dict(self.call_data)
        return data


@dataclass(frozen=True, slots=True)
class CancelRing:
    """Stop ringing `agent` for this call (answered elsewhere, abandoned, timed out...)."""

    kind: ClassVar[str] = "cancel_ring"
    call_id: str
    agent: int
    seat: int
    reason: str
    username: str = ""  # the agent's account / SIP user, as in its Offer

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class Release:
    """`agent` is no longer on this answered call, which stays with the ACD (a blind
    transfer): the call controller drops the agent's leg and keeps the caller, who
    waits in `queue` (or for the named agent the next Offer rings). The ACD has
    already moved the agent on (wrap-up), so nothing is reported back for it."""

    kind: ClassVar[str] = "release"
    call_id: str
    agent: int
    seat: int
    reason: str
    username: str
    # The call's queue after the transfer (the caller's music follows it); None for a
    # call that never had one (an internal call).
    queue: str | None

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class Route:
    """The call leaves the ACD for a named target outside it (overflow to voicemail...)."""

    kind: ClassVar[str] = "route"
    call_id: str
    target: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A call rung to one named agent was not answered; the ACD has dropped it.

    The controller decides what happens next (the callee's voicemail, back to
    the calling agent...). Transferred queue calls are not dropped: they go
    back to their queue instead.
    """

    kind: ClassVar[str] = "undelivered"
    call_id: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class InterceptCall:
    """A supervisor asked to take this call over (`Acd.intercept`). The controller that
    owns the call rings `username` through its own intercept, which reserves the
    supervisor first (`reserve_for_internal_call`, kind "intercept"): the ACD changes
    nothing until then. No `agent` field on purpose: the supervisor's record is not
    touched by this command (the engine re-writes the records an action names)."""

    kind: ClassVar[str] = "intercept_call"
    call_id: str
    username: str  # the supervisor's account, which is its SIP user
    employee_id: int
    ring_timeout: float
    requested_by: str  # the actor's account, for the logs

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class PlayMessageCall:
    """The agent asked that its caller hear `text` `repeats` times before the call ends
    (`Acd.play_message`). The ACD has already taken the agent off the call (wrap-up) and
    forgotten the call: the controller that owns it drops the agent's leg, plays the text
    and hangs up. `employee_id`, not `agent`: the engine re-writes the records an action
    names as `agent`, and the agent's change is named by its own event already."""

    kind: ClassVar[str] = "play_message"
    call_id: str
    text: str
    language: str  # "zh" or "en"
    repeats: int
    username: str  # the agent's account (SIP user), as in its Offer
    employee_id: int

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class RecordingCommand:
    """Start, pause, resume or stop recording this call (`Acd.control_recording`): the
    controller that owns it carries it out on rtpengine and writes the recording events.
    `ref` is the recording's (made by the ACD on start); `name` only on start."""

    kind: ClassVar[str] = "recording_command"
    call_id: str
    op: str  # "start", "pause", "resume" or "stop"
    ref: str
    name: str
    requested_by: str  # the agent's account

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class MonitorCall:
    """A supervisor is to listen to, whisper to or barge in on this call (`Acd.monitor`,
    docs/monitoring.md): the controller that owns the call rings `username` and, on
    answer, puts the call's media through a mixer, then reports (`report_monitor`).
    No `agent` field holding an employee ID on purpose (the engine re-writes the
    records an action names): the monitored agent's state does not change."""

    kind: ClassVar[str] = "monitor_call"
    call_id: str
    session_id: str
    username: str  # the supervisor's account, which is its SIP user
    employee_id: int  # the supervisor's
    mode: str  # "listen", "whisper" or "barge"
    ring_timeout: float
    record: bool  # the mixer records the session
    requested_by: str  # the actor's account
    agent: str  # the monitored agent's account

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class MonitorCommand:
    """Switch a session to `mode` ("listen", "whisper", "barge", "intercept"), or end it
    (`mode` "": StopMonitor). For the controller that owns `call_id`."""

    kind: ClassVar[str] = "monitor_command"
    call_id: str
    session_id: str
    mode: str
    requested_by: str  # the actor's account

    def to_dict(self) -> dict[str, object]:
        return _flat(self)


Action = (
    Offer
    | CancelRing
    | Release
    | Route
    | Undelivered
    | InterceptCall
    | PlayMessageCall
    | RecordingCommand
    | MonitorCall
    | MonitorCommand
)


@dataclass(slots=True)
class Result:
    """The outcome of one command. A refused command changed nothing it was asked to.

    `events` and `actions` may be present even on a refusal: due timers (lease
    expiry, ring timeouts...) run at the start of every command, whatever its fate.
    """

    error: Refusal | None = None
    events: list[Event] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    session_id: str | None = None  # set by login
    deferred: bool = False  # set when logout/force-busy waits for the current call to end

    @property
    def ok(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> Result:
        if self.error is not None:
            raise AcdError(self.error)
        return self

    def offers(self) -> list[Offer]:
        return [a for a in self.actions if isinstance(a, Offer)]
