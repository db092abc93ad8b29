"""The core's state: one small flat record per logged-in agent and per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._config import MonitorScope
from ._states import AgentState, CallState

__all__ = ["AgentRecord", "CallRecord", "MonitorSession"]


@dataclass(slots=True)
class AgentRecord:
    """A logged-in agent. Logged-out agents have no record at all."""

    employee_id: int
    username: str
    seat: int
    role: str
    skills: dict[str, int]
    session: str
    state: AgentState
    since: float  # when the current state began
    lease_until: float
    idle_since: float  # last time the agent became idle: longest-idle ordering
    reason: str | None = None  # busy reason code, or why the last change happened
    call: str | None = None  # the call ringing (reserved) or in progress (talking)
    wrap_until: float | None = None
    calls: int = 0  # calls answered since login: fewest-calls ordering
    no_answers: int = 0  # consecutive queue calls not answered
    phone_ok: bool = True
    after_call: str | None = None  # "logout" or "busy": applied when the call ends
    after_call_reason: str | None = None
    logged_in_at: float = 0.0
    # From the account at login (docs/monitoring.md): the agent's team, which a
    # supervisor's scope may name, and whom this supervisor may monitor (None: nobody).
    team: str | None = None
    supervises: MonitorScope | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "employee_id": self.employee_id,
            "username": self.username,
            "seat": self.seat,
            "role": self.role,
            "skills": dict(self.skills),
            "session": self.session,
            "state": self.state.value,
            "since": self.since,
            "lease_until": self.lease_until,
            "idle_since": self.idle_since,
            "reason": self.reason,
            "call": self.call,
            "wrap_until": self.wrap_until,
            "calls": self.calls,
            "no_answers": self.no_answers,
            "phone_ok": self.phone_ok,
            "after_call": self.after_call,
            "after_call_reason": self.after_call_reason,
            "logged_in_at": self.logged_in_at,
        }
        # Only when set, so a record without them is stored as before the fields
        # existed and a replica of the previous release (a rolling upgrade) loads it.
        if self.team is not None:
            data["team"] = self.team
        if self.supervises is not None:
            data["supervises"] = self.supervises.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentRecord:
        fields = dict(data)
        fields["state"] = AgentState(fields["state"])
        fields["skills"] = {str(k): int(v) for k, v in fields["skills"].items()}
        scope = fields.get("supervises")
        fields["supervises"] = None if scope is None else MonitorScope.from_dict(scope)
        return cls(**fields)


@dataclass(slots=True)
class CallRecord:
    """A call the ACD is handling: waiting in a queue, ringing agent(s), or answered."""

    call_id: str
    queue: str | None  # None for internal calls and intercepts
    caller: str
    category: str  # business category shown to the agent
    priority: int
    seq: int  # position key within a priority: lower goes first
    state: CallState
    arrived: float  # start of the current wait (entry to the ACD, or the last transfer)
    enqueued: float  # entry to the current queue: the max-wait clock
    kind: str = "queue"  # "queue", "internal" or "intercept"
    direct: bool = False  # ringing one named agent (internal call, transfer to agent)
    ring_started: float | None = None
    ringing: list[int] = field(default_factory=list)
    agent: int | None = None  # the agent talking
    answered: float | None = None
    tried: list[int] = field(default_factory=list)  # agents who let this call ring out
    # Who enqueued it: a call controller's "<node>#<instance>" (its live-call registry,
    # which the service's reconciler checks), or "" for clients without one.
    source: str = ""
    # An internal call placed by a logged-in agent: that agent (busy, INTERNAL_CALL, for
    # the call's length) and the busy reason it goes back to when the call leaves the
    # ACD (None: idle). Both None for every other call.
    origin: int | None = None
    origin_reason: str | None = None
    # The call's own skill requirements (skill -> minimum level), on top of its queue's:
    # an agent is offered the call only if it meets both. Set at enqueue (the IVR's
    # "queue with skill"); kept through transfers and overflows.
    skills: dict[str, int] = field(default_factory=dict)
    # What the call brought for its agent (the IVR path, the account entered...), set at
    # enqueue and copied onto every Offer of the call; the ACD never reads it.
    call_data: dict[str, str] = field(default_factory=dict)
    # The call's recording (`_recording.py`): "off", "on" or "paused", and the ref of the
    # recording while it is on or paused ("" when off). Set by the agent's
    # ControlRecording and the controller's ReportRecording; it follows the call
    # through transfers.
    recording: str = "off"
    recording_ref: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "call_id": self.call_id,
            "queue": self.queue,
            "caller": self.caller,
            "category": self.category,
            "priority": self.priority,
            "seq": self.seq,
            "state": self.state.value,
            "arrived": self.arrived,
            "enqueued": self.enqueued,
            "kind": self.kind,
            "direct": self.direct,
            "ring_started": self.ring_started,
            "ringing": list(self.ringing),
            "agent": self.agent,
            "answered": self.answered,
            "tried": list(self.tried),
            "source": self.source,
            "origin": self.origin,
            "origin_reason": self.origin_reason,
        }
        # Only when there are any: a call without requirements is stored exactly as
        # before the field existed, so a replica of the previous release (a rolling
        # upgrade) still loads every such call.
        if self.skills:
            data["skills"] = dict(self.skills)
        if self.call_data:  # likewise
            data["call_data"] = dict(self.call_data)
        if self.recording != "off":  # likewise
            data["recording"] = self.recording
            data["recording_ref"] = self.recording_ref
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        fields = dict(data)
        fields["state"] = CallState(fields["state"])
        fields["ringing"] = [int(x) for x in fields["ringing"]]
        fields["tried"] = [int(x) for x in fields["tried"]]
        fields["skills"] = {str(k): int(v) for k, v in fields.get("skills", {}).items()}
        fields["call_data"] = {str(k): str(v) for k, v in fields.get("call_data", {}).items()}
        return cls(**fields)


@dataclass(slots=True)
class MonitorSession:
    """A supervisor listening to, whispering to or barging in on a call (docs/monitoring.md).

    Made by Monitor (state "ringing": the controller rings the supervisor), "active"
    once the controller reports the answer; a session that ends is removed.
    """

    session_id: str
    call_id: str  # the ACD call monitored (a transfer reported by the controller moves it)
    supervisor: str  # the supervisor's account (its SIP user)
    supervisor_id: int  # its employee ID
    agent: str  # the monitored agent's account
    mode: str  # "listen", "whisper", "barge"; "intercept" once asked to take the call
    state: str  # "ringing" or "active"
    since: float  # when it entered its state
    started: float  # when it was asked for
    requested_by: str  # the actor's account
    record: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "call_id": self.call_id,
            "supervisor": self.supervisor,
            "supervisor_id": self.supervisor_id,
            "agent": self.agent,
            "mode": self.mode,
            "state": self.state,
            "since": self.since,
            "started": self.started,
            "requested_by": self.requested_by,
            "record": self.record,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorSession:
        return cls(
            session_id=str(data["session_id"]),
            call_id=str(data["call_id"]),
            supervisor=str(data["supervisor"]),
            supervisor_id=int(data["supervisor_id"]),
            agent=str(data["agent"]),
            mode=str(data["mode"]),
            state=str(data["state"]),
            since=float(data["since"]),
            started=float(data["started"]),
            requested_by=str(data["requested_by"]),
            record=bool(data.get("record", False)),
        )
