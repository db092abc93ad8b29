"""What the ACD driver keeps per call, and the causes it ends calls with.

A call the ACD drives (`DrivenCall`) has at most one agent ringing (`AgentRing`), the
agent who answered, and at most one consult target or intercepting supervisor beside
it, reserved at the ACD under an ID of its own (`SideReservation`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from controller._ports import Cancellable
from prompts import Language

__all__ = [
    "CAUSE_ACD_REFUSED",
    "CAUSE_ACD_UNAVAILABLE",
    "CAUSE_NO_QUEUE",
    "CAUSE_OVERFLOW",
    "CAUSE_UNDELIVERED",
    "NO_ANSWER",
    "AgentRing",
    "DrivenCall",
    "SideReservation",
    "acd_log",
]

log = logging.getLogger("controller.acd")

# `call.ended` causes of the hang-ups the driver makes (docs/call-control.md).
CAUSE_NO_QUEUE = "no queue"
CAUSE_ACD_UNAVAILABLE = "acd unavailable"
CAUSE_ACD_REFUSED = "acd refused"  # + ":<ErrorCode name>"
CAUSE_OVERFLOW = "overflow"  # + ":<target>"
CAUSE_UNDELIVERED = "undelivered"  # + ":<reason>"
# The reason of a side leg that took nobody over (as the ACD's Undelivered says it).
NO_ANSWER = "NO_ANSWER"


def acd_log(cid: str, message: str, *args: object, level: int = logging.INFO) -> None:
    """Like the service's log lines: every line about a call starts with its ID."""
    log.log(level, "cid=%s " + message, cid, *args)


@dataclass
class AgentRing:
    """The agent the ACD offered the call to and the controller rings."""

    employee_id: int
    username: str
    leg_id: str | None = None  # from call.ringing; None: no INVITE went out


@dataclass(eq=False)
class DrivenCall:
    """A call of this replica that the ACD drives (queued, or an internal call)."""

    cid: str
    queue: str
    caller: str
    category: str
    deadline: float  # monotonic: the ACD must have taken the call by then
    enqueued: bool = False
    # The ACD no longer has the call (refused it, routed it away, gave up on it):
    # nothing to report when it ends.
    acd_done: bool = False
    ring: AgentRing | None = None
    agent: AgentRing | None = None  # the agent who answered
    last_commit: tuple[int, int] = (0, 0)
    seen: set[tuple[str, str, int]] = field(default_factory=set)
    guard: Cancellable | None = None
    # Set when the call ends: the worker stops retrying its Enqueue.
    gone: threading.Event = field(default_factory=threading.Event)
    enqueue_sent: bool = False  # written and read by the call's own RPC chain only
    # An internal call: the callee's account (the dialled number), reserved through
    # ReserveForInternalCall instead of a queue. "" for every other call.
    callee: str = ""
    # The ACD call that carries this call now: "" for the call's own ID. A consult target
    # or supervisor that takes the caller over brings its reservation's ID along.
    acd_id: str = ""
    # That ACD call is over at the ACD although the controller's call goes on (an
    # intercept of a ringing call abandoned the agent's ring): nothing to report for it.
    acd_gone: bool = False
    # The consult target or supervisor that rings or consults beside the agent.
    side: SideReservation | None = None
    sides: int = 0  # reservations made for the call so far (each gets its own ID)
    # The agent left while the side leg rang (hang up to transfer, intercept): whoever
    # answers that leg takes the caller; if nobody does, the call goes back to its queue.
    agent_left: bool = False
    # What the IVR decided for a call it hands over (`AcdDriver.enqueue_answered`): its
    # priority and skill requirements at the ACD, and the caller's language, which
    # replaces the queue's for the announcements (and, later, voicemail). A call the
    # driver answered itself has priority 0, no skills and the queue's language (None).
    priority: int = 0
    skills: dict[str, int] = field(default_factory=dict)
    language: Language | None = None
    # What the call brings for its agent (acd.v1 EnqueueRequest.call_data: ivr_path,
    # account); empty for a call that did not come through an IVR.
    call_data: dict[str, str] = field(default_factory=dict)

    @property
    def acd_call(self) -> str:
        return self.acd_id or self.cid


@dataclass(eq=False)
class SideReservation:
    """A consult target or an intercepting supervisor, reserved at the ACD under an ID
    of its own (the ACD's calls have one agent each, and the call's own ID is the
    agent's): `<cid>.consult1`, `<cid>.intercept2`, ..."""

    rid: str
    command: str  # "consult" | "intercept"
    username: str
    employee_id: int = 0  # from the reservation's Offer
    started: bool = False  # the ACD reserved it and the command rang it
    leg_id: str | None = None  # from call.ringing
    answered: bool = False  # reported Answered: the ACD counts it talking
    acd_dropped: bool = False  # the ACD took the reservation back (CancelRing, Undelivered)
