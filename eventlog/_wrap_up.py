"""The one event the agent desktop writes: `agent.wrap_up`, a wrap-up code saved for
a call (docs/events.md). `wrap_up_event` builds it with the envelope the CDR fold
needs, so the desktop never has to know how the fold groups events."""

from __future__ import annotations

import re
from typing import Final

from ._event import Event, EventError
from ._kinds import AGENT_WRAP_UP

__all__ = ["MAX_WRAP_UP_CODE", "call_of_acd_call", "wrap_up_event"]

MAX_WRAP_UP_CODE: Final = 64
# The ACD's own IDs for the parties a call controller reserves beside a call (a consult
# target, an intercepting supervisor): `<correlation id>.consult<n>` and
# `<correlation id>.intercept<n>` (controller/_side_reservations.py). Every other ACD
# call ID is the call's correlation ID.
_SIDE_RESERVATION: Final = re.compile(r"^(?P<cid>.+)\.(?:consult|intercept)[0-9]+$")


def call_of_acd_call(call_id: str) -> str:
    """The correlation ID (the CDR's call) of an ACD call ID, as an Offer names it."""
    side = _SIDE_RESERVATION.match(call_id)
    return side["cid"] if side else call_id


def wrap_up_event(
    call_id: str, *, agent: str, code: str, node: str, ts: float | None = None
) -> Event:
    """`agent.wrap_up` for `agent` (its account) saving `code` for the ACD call `call_id`
    (the Offer's call ID), written by `node` (the desktop backend's instance). Append
    it with `EventLog.append`; the CDR of the call gets the last code saved (its
    `wrap_up_code`). EventError for an empty call ID, agent or code, or a code longer
    than MAX_WRAP_UP_CODE characters."""
    for name, value in (("call_id", call_id), ("agent", agent), ("code", code)):
        if not value or not value.strip():
            raise EventError(f"{AGENT_WRAP_UP}: {name} must not be empty")
    if len(code) > MAX_WRAP_UP_CODE:
        raise EventError(
            f"{AGENT_WRAP_UP}: code is {len(code)} characters, at most {MAX_WRAP_UP_CODE}"
        )
    return Event.new(
        AGENT_WRAP_UP,
        correlation_id=call_of_acd_call(call_id),
        node=node,
        ts=ts,
        call_id=call_id,
        agent=agent,
        code=code,
    )
