"""Pure call state: a call, its legs, and the transitions allowed between states.

No SIP and no rtpengine here; the service (`_service.py`) drives these objects
and the adapters carry out what it decides.

A call has up to three legs, each in its own slot:
- `caller`: the external party. For an inbound call, the caller who dialled in; for an
  originated (outbound) call, the customer the controller dials. Always `L1`.
- `agent`: the agent the caller talks to, or is being connected to.
- `consult`: a second agent leg that rings (and may talk) while the agent leg stays:
  the target of an attended transfer, or the supervisor of an intercept. When it takes
  the caller over, it moves to the `agent` slot (`promote_consult`).
"""

from __future__ import annotations

import enum
import secrets
from collections import deque
from dataclasses import dataclass, field


class LegRole(enum.Enum):
    CALLER = "caller"
    AGENT = "agent"


class LegState(enum.Enum):
    PENDING = "pending"  # originated customer leg, dialled once the agent answers
    OFFERED = "offered"  # caller's INVITE received, not answered yet
    CALLING = "calling"  # our INVITE sent (to an agent, or to the customer)
    RINGING = "ringing"  # the party's phone rings (1xx)
    ANSWERED = "answered"  # 200 sent or received
    ENDED = "ended"


class CallPhase(enum.Enum):
    """Where the call stands in signalling and media (parked, ringing, bridged,
    consulting...). Not the ACD's `acd.CallState`, which says where a call stands in the
    queue work (queued, ringing, talking)."""

    NEW = "new"  # caller offered, waiting for a command
    PARKED = "parked"  # caller answered locally; media goes to the park side
    RINGING = "ringing"  # caller parked, an agent leg is being tried
    BRIDGED = "bridged"  # caller and agent talk through rtpengine
    CONSULT_RINGING = "consult_ringing"  # caller parked, the agent waits, the consult leg rings
    CONSULTING = "consulting"  # caller parked, the agent talks to the consult leg
    INTERCEPTING = "intercepting"  # caller and agent talk, the supervisor's leg rings
    ORIGINATING = "originating"  # outbound: the agent rings; the customer is not dialled yet
    DIALING = "dialing"  # outbound: the agent answered and waits; the customer rings
    ENDED = "ended"


# Every state change a call may make; anything else is a bug or a refused command.
_ALLOWED: dict[CallPhase, set[CallPhase]] = {
    CallPhase.NEW: {CallPhase.PARKED, CallPhase.ENDED},
    CallPhase.PARKED: {CallPhase.RINGING, CallPhase.ENDED},
    # RINGING -> RINGING: the next target, or an intercept of the ringing call.
    CallPhase.RINGING: {CallPhase.RINGING, CallPhase.BRIDGED, CallPhase.PARKED, CallPhase.ENDED},
    CallPhase.BRIDGED: {
        CallPhase.PARKED,
        CallPhase.CONSULT_RINGING,
        CallPhase.INTERCEPTING,
        CallPhase.ENDED,
    },
    # -> BRIDGED: back to the agent (no answer, refusal, cancel_consult).
    # -> RINGING: the agent hung up before the consult leg answered; it rings for the caller.
    CallPhase.CONSULT_RINGING: {
        CallPhase.CONSULTING,
        CallPhase.BRIDGED,
        CallPhase.RINGING,
        CallPhase.ENDED,
    },
    # -> BRIDGED: with the consult leg (complete_transfer, the agent hung up) or back
    # with the agent (cancel_consult, the consult leg hung up).
    CallPhase.CONSULTING: {CallPhase.BRIDGED, CallPhase.ENDED},
    # -> BRIDGED: with the supervisor (answered) or still with the agent (not answered).
    # -> RINGING: the agent hung up first; the supervisor rings for the parked caller.
    CallPhase.INTERCEPTING: {CallPhase.BRIDGED, CallPhase.RINGING, CallPhase.ENDED},
    CallPhase.ORIGINATING: {CallPhase.DIALING, CallPhase.ENDED},
    CallPhase.DIALING: {CallPhase.BRIDGED, CallPhase.ENDED},
    CallPhase.ENDED: set(),
}


class InvalidTransitionError(Exception):
    """A command or event that the call's current state does not allow."""


def new_correlation_id() -> str:
    return secrets.token_hex(16)


@dataclass(eq=False)  # a leg is one SIP dialog: compared by identity, never by value
class CallLeg:
    """One SIP dialog of a controlled call. Not the CDR's `analytics.Leg`, the record
    written about it afterwards."""

    leg_id: str  # also the leg's rtpengine tag
    role: LegRole
    state: LegState
    target: str | None = None  # agent id for agent legs; the dialled number of a customer
    remote_sdp: str | None = None  # what the party last sent us
    local_sdp: str | None = None  # what we last sent the party
    pending_update: bool = False  # our re-INVITE to this party awaits its answer
    relay_to: str | None = None  # leg id whose re-INVITE this update answers
    media_peer: str | None = None  # the rtpengine tag this leg's monologue is paired with


@dataclass
class Call:
    correlation_id: str
    caller: CallLeg
    state: CallPhase = CallPhase.NEW
    agent: CallLeg | None = None
    consult: CallLeg | None = None
    outbound: bool = False  # created by `originate`: no inbound leg
    caller_id: str | None = None  # outbound: the number presented to the customer
    targets: deque[str] = field(default_factory=deque)
    ring_timeout_s: float = 15.0
    # The ACD call the agents in `targets` are rung for (the Offer's call_id), sent to
    # their phones as X-Huaan-Call-Id; "" when nobody said (no ACD): no header.
    acd_call_id: str = ""
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (agent, outcome)
    seats: dict[str, str] = field(default_factory=dict)  # agent -> seat, from `connect`
    ring_attempts: int = 0  # agent INVITEs sent so far (call.ringing `attempt`)
    held_by: set[str] = field(default_factory=set)  # leg ids whose last offer holds
    _leg_counter: int = 1

    def transition(self, new: CallPhase) -> None:
        if new not in _ALLOWED[self.state]:
            raise InvalidTransitionError(
                f"call {self.correlation_id}: {self.state.value} -> {new.value} is not allowed"
            )
        self.state = new

    def require(self, *states: CallPhase) -> None:
        if self.state not in states:
            wanted = ", ".join(s.value for s in states)
            raise InvalidTransitionError(
                f"call {self.correlation_id} is {self.state.value}; this needs {wanted}"
            )

    def _next_leg(self, agent: str) -> CallLeg:
        self._leg_counter += 1
        return CallLeg(f"L{self._leg_counter}", LegRole.AGENT, LegState.CALLING, target=agent)

    def new_agent_leg(self, agent: str) -> CallLeg:
        self.agent = self._next_leg(agent)
        return self.agent

    def new_consult_leg(self, agent: str) -> CallLeg:
        self.consult = self._next_leg(agent)
        return self.consult

    def promote_consult(self) -> CallLeg:
        """The consult leg takes the caller over: it becomes the call's agent leg."""
        leg = self.consult
        if leg is None:
            raise InvalidTransitionError(f"call {self.correlation_id} has no consult leg")
        self.agent, self.consult = leg, None
        return leg

    def legs(self) -> list[CallLeg]:
        return [leg for leg in (self.caller, self.agent, self.consult) if leg is not None]

    def leg(self, leg_id: str) -> CallLeg | None:
        for leg in self.legs():
            if leg.leg_id == leg_id:
                return leg
        return None

    def talking_pair(self) -> tuple[CallLeg, CallLeg] | None:
        """The two legs whose media rtpengine bridges now, if any."""
        if self.state in (CallPhase.BRIDGED, CallPhase.INTERCEPTING) and self.agent is not None:
            return self.caller, self.agent
        if (
            self.state is CallPhase.CONSULTING
            and self.agent is not None
            and self.consult is not None
        ):
            return self.agent, self.consult
        return None

    def peer_of(self, leg: CallLeg) -> CallLeg | None:
        """Who hears `leg` now (None: nobody; a parked caller's re-INVITE goes to the park side)."""
        pair = self.talking_pair()
        if pair is None or leg not in pair:
            return None
        return pair[1] if leg is pair[0] else pair[0]

    def slot_of(self, leg: CallLeg) -> str:
        if leg is self.caller:
            return "caller"
        return "consult" if leg is self.consult else "agent"

    def describe(self) -> dict[str, object]:
        return {
            "cid": self.correlation_id,
            "state": self.state.value,
            "direction": "outbound" if self.outbound else "inbound",
            "legs": [
                {
                    "id": leg.leg_id,
                    "role": self.slot_of(leg),
                    "state": leg.state.value,
                    "target": leg.target,
                    "updating": leg.pending_update,
                }
                for leg in self.legs()
            ],
            "attempts": [list(a) for a in self.attempts],
        }
