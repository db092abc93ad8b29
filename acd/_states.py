"""Agent states and the transition table every state change is checked against."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from ._errors import ErrorCode

__all__ = [
    "REFUSAL_CODES",
    "TRANSITIONS",
    "AgentState",
    "CallState",
    "Trigger",
    "refusal_for",
    "targets",
]


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    IDLE = "idle"
    RESERVED = "reserved"  # a call is ringing the agent's phone
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    BUSY = "busy"  # not ready, with a reason code


class CallState(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    TALKING = "talking"


class Trigger(StrEnum):
    """What asks for a state change: an agent or supervisor command, a call event or a timer."""

    LOGIN = "login"
    LOGOUT = "logout"
    FORCE_LOGOUT = "force_logout"
    LEASE_EXPIRED = "lease_expired"
    GO_BUSY = "go_busy"
    FORCE_BUSY = "force_busy"
    GO_IDLE = "go_idle"
    FORCE_IDLE = "force_idle"
    PHONE_LOST = "phone_lost"
    PHONE_BACK = "phone_back"
    RESERVE = "reserve"
    ANSWER = "answer"
    NO_ANSWER = "no_answer"
    # Ringing stopped without a no-answer: abandoned, ring-all loser, reconciled.
    RELEASE = "release"
    CALL_END = "call_end"
    WRAP_END = "wrap_end"
    # The agent places an internal call (its phone dials another agent): out of service
    # (busy, INTERNAL_CALL) until that call ends, then back (PLACED_CALL_END).
    PLACE_CALL = "place_call"
    PLACED_CALL_END = "placed_call_end"


S = AgentState
_LEAVE = {
    S.IDLE: {S.LOGGED_OUT},
    S.BUSY: {S.LOGGED_OUT},
    S.WRAP_UP: {S.LOGGED_OUT},
    # reserved: the ringing call is released back to its queue
    S.RESERVED: {S.LOGGED_OUT},
    # talking: the agent stays in the call and leaves when it ends (deferred)
    S.TALKING: {S.TALKING},
}
_TO_BUSY = {S.IDLE: {S.BUSY}, S.WRAP_UP: {S.BUSY}, S.BUSY: {S.BUSY}}
# Supervisor or phone loss: a ringing call is taken back; talking goes busy after the call.
_FORCED_BUSY = {**_TO_BUSY, S.RESERVED: {S.BUSY}, S.TALKING: {S.TALKING}}
_TO_IDLE = {S.IDLE: {S.IDLE}, S.WRAP_UP: {S.IDLE}, S.BUSY: {S.IDLE}}

# The whole agent state machine as data: trigger -> from-state -> allowed to-states.
# A from-state missing for a trigger means the trigger is refused in that state
# (with REFUSAL_CODES[trigger]); the core never changes a state any other way.
TRANSITIONS: Mapping[Trigger, Mapping[AgentState, frozenset[AgentState]]] = {
    trigger: {state: frozenset(to) for state, to in rule.items()}
    for trigger, rule in {
        Trigger.LOGIN: {S.LOGGED_OUT: {S.IDLE, S.BUSY}},
        Trigger.LOGOUT: _LEAVE,
        Trigger.FORCE_LOGOUT: _LEAVE,
        Trigger.LEASE_EXPIRED: _LEAVE,
        Trigger.GO_BUSY: _TO_BUSY,
        Trigger.FORCE_BUSY: _FORCED_BUSY,
        Trigger.GO_IDLE: _TO_IDLE,
        Trigger.FORCE_IDLE: _TO_IDLE,
        Trigger.PHONE_LOST: _FORCED_BUSY,
        Trigger.PHONE_BACK: {
            S.BUSY: {S.IDLE, S.BUSY},
            S.IDLE: {S.IDLE},
            S.WRAP_UP: {S.WRAP_UP},
            S.RESERVED: {S.RESERVED},
            S.TALKING: {S.TALKING},
        },
        Trigger.RESERVE: {S.IDLE: {S.RESERVED}},
        Trigger.ANSWER: {S.RESERVED: {S.TALKING}},
        Trigger.NO_ANSWER: {S.RESERVED: {S.IDLE, S.BUSY}},
        Trigger.RELEASE: {S.RESERVED: {S.IDLE}},
        Trigger.CALL_END: {S.TALKING: {S.WRAP_UP, S.IDLE, S.BUSY, S.LOGGED_OUT}},
        Trigger.WRAP_END: {S.WRAP_UP: {S.IDLE}},
        # Ringing or talking: the agent already has a call (it is never given two).
        Trigger.PLACE_CALL: _TO_BUSY,
        # Idle again, or busy with the reason it had before the call (or its phone's).
        Trigger.PLACED_CALL_END: {S.BUSY: {S.IDLE, S.BUSY}},
    }.items()
}

# The reason given when a trigger is not allowed in the agent's current state.
REFUSAL_CODES: Mapping[Trigger, ErrorCode] = {
    Trigger.LOGIN: ErrorCode.ALREADY_LOGGED_IN,
    Trigger.GO_BUSY: ErrorCode.NOT_ON_HOOK,
    Trigger.RESERVE: ErrorCode.AGENT_NOT_AVAILABLE,
    Trigger.ANSWER: ErrorCode.NOT_RINGING,
    Trigger.NO_ANSWER: ErrorCode.NOT_RINGING,
    Trigger.PLACE_CALL: ErrorCode.NOT_ON_HOOK,
}


def targets(trigger: Trigger, state: AgentState) -> frozenset[AgentState]:
    """The states `trigger` may move an agent in `state` to; empty if refused."""
    return TRANSITIONS[trigger].get(state, frozenset())


def refusal_for(trigger: Trigger, state: AgentState) -> ErrorCode | None:
    """None if `trigger` is allowed in `state`, else the code to refuse it with."""
    if state in TRANSITIONS[trigger]:
        return None
    if state is AgentState.LOGGED_OUT:
        return ErrorCode.NOT_LOGGED_IN
    return REFUSAL_CODES.get(trigger, ErrorCode.INVALID_TRANSITION)
