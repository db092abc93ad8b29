"""Pure call state: a call, its legs, and the transitions allowed between states.

No SIP and no rtpengine here; the service (`_service.py`) drives these objects
and the adapters carry out what it decides.
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
    OFFERED = "offered"      # caller's INVITE received, not answered yet
    CALLING = "calling"      # our INVITE sent to an agent
    RINGING = "ringing"      # the agent's phone rings (1xx)
    ANSWERED = "answered"    # 200 sent or received
    ENDED = "ended"


class CallState(enum.Enum):
    NEW = "new"              # caller offered, waiting for a command
    PARKED = "parked"        # caller answered locally; media goes to the park side
    RINGING = "ringing"      # caller parked, an agent leg is being tried
    BRIDGED = "bridged"      # caller and agent talk through rtpengine
    ENDED = "ended"


_ALLOWED: dict[CallState, set[CallState]] = {
    CallState.NEW: {CallState.PARKED, CallState.ENDED},
    CallState.PARKED: {CallState.RINGING, CallState.ENDED},
    CallState.RINGING: {CallState.RINGING, CallState.BRIDGED, CallState.PARKED, CallState.ENDED},
    CallState.BRIDGED: {CallState.PARKED, CallState.ENDED},
    CallState.ENDED: set(),
}


class InvalidTransitionError(Exception):
    """A command or event that the call's current state does not allow."""


def new_correlation_id() -> str:
    return secrets.token_hex(16)


@dataclass
class Leg:
    leg_id: str              # also the leg's rtpengine tag
    role: LegRole
    state: LegState
    target: str | None = None      # agent id for agent legs
    remote_sdp: str | None = None  # what the party last sent us
    local_sdp: str | None = None   # what we last sent the party
    pending_update: bool = False   # our re-INVITE to this party awaits its answer
    relay_to: str | None = None    # leg id whose re-INVITE this update answers


@dataclass
class Call:
    correlation_id: str
    caller: Leg
    state: CallState = CallState.NEW
    agent: Leg | None = None
    targets: deque[str] = field(default_factory=deque)
    ring_timeout_s: float = 15.0
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (agent, outcome)
    seats: dict[str, str] = field(default_factory=dict)  # agent -> seat, from `connect`
    ring_attempts: int = 0         # agent INVITEs sent so far (call.ringing `attempt`)
    held_by: set[str] = field(default_factory=set)  # leg ids whose last offer holds
    _leg_counter: int = 1

    def transition(self, new: CallState) -> None:
        if new not in _ALLOWED[self.state]:
            raise InvalidTransitionError(
                f"call {self.correlation_id}: {self.state.value} -> {new.value} is not allowed"
            )
        self.state = new

    def require(self, *states: CallState) -> None:
        if self.state not in states:
            wanted = ", ".join(s.value for s in states)
            raise InvalidTransitionError(
                f"call {self.correlation_id} is {self.state.value}; this needs {wanted}"
            )

    def new_agent_leg(self, agent: str) -> Leg:
        self._leg_counter += 1
        self.agent = Leg(f"L{self._leg_counter}", LegRole.AGENT, LegState.CALLING, target=agent)
        return self.agent

    def leg(self, leg_id: str) -> Leg | None:
        if self.caller.leg_id == leg_id:
            return self.caller
        if self.agent is not None and self.agent.leg_id == leg_id:
            return self.agent
        return None

    def peer_of(self, leg: Leg) -> Leg | None:
        if leg is self.caller:
            return self.agent if self.state is CallState.BRIDGED else None
        return self.caller

    def describe(self) -> dict[str, object]:
        legs = [self.caller] + ([self.agent] if self.agent is not None else [])
        return {
            "cid": self.correlation_id,
            "state": self.state.value,
            "legs": [{"id": leg.leg_id, "role": leg.role.value, "state": leg.state.value,
                      "target": leg.target} for leg in legs],
            "attempts": [list(a) for a in self.attempts],
        }
