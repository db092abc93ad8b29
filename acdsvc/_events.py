"""The core's events as call event log entries (docs/events.md, schema version 1).

The core's event kinds are richer than the log's schema, so this maps them:

| core | event log |
|---|---|
| agent.state | agent.state (`state`/`previous` are the core's state names) |
| call.queued, call.ringing, call.no_answer, call.answered, call.overflow | same kind |
| call.transferred | call.transferred, mode `blind` |
| call.abandoned | call.ended, cause `ABANDONED`, side `caller` |
| call.ended | call.ended, cause = the core's reason, side from the Hangup request |
| agent.pending | not logged (no such kind); the agent.state at the call's end records it |

Who writes the call's own events is `acd.call_events`:

- `controller` (the default): the call controller rings the agents and sees the
  legs, so it writes call.ringing, call.no_answer, call.answered and call.ended
  (with leg IDs and SIP causes). The ACD writes only what it alone knows:
  agent.state, call.queued, call.overflow and call.transferred. Writing the
  others too would double every leg in the CDR (docs/events.md).
- `acd`: no call controller (simulated agents report Answered/Hangup themselves,
  benchmarks); the ACD writes every kind in the table, with `leg_id` "".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import eventlog
from acd import Action, Event, Offer

__all__ = ["CALL_EVENTS_ACD", "CALL_EVENTS_CONTROLLER", "to_log_events"]

CALL_EVENTS_CONTROLLER = "controller"
CALL_EVENTS_ACD = "acd"


def _s(value: object) -> str:
    return "" if value is None else str(value)


def to_log_events(
    events: Iterable[Event],
    actions: Iterable[Action],
    *,
    agent: Callable[[int], Mapping[str, Any] | None],
    call: Callable[[str], Mapping[str, Any] | None],
    node: str,
    side: str = "system",
    call_events: str = CALL_EVENTS_ACD,
    reconciled: Mapping[str, bool] | None = None,
) -> list[eventlog.Event]:
    """Map one command's events; `agent`/`call` look up records in the state after it.

    `call_events` is `acd.call_events`: with `controller` the ringing, no-answer,
    answered and ended kinds are left to the call controller.

    `reconciled`: calls the reconciler ended (docs/acd-service.md, "Reconcile"), call
    ID -> whether the ACD writes their `call.ended` even with `controller` (True: the
    controller that had the call is gone and cannot). Their end, queued or ringing
    included, gets the core's reason as cause and side `system`.
    """
    if call_events not in (CALL_EVENTS_ACD, CALL_EVENTS_CONTROLLER):
        raise ValueError(f"call_events must be 'controller' or 'acd', not {call_events!r}")
    legs = call_events == CALL_EVENTS_ACD

    def name_of(eid: int) -> str:
        """Events name an agent by account (username), as the controller's do; the
        employee ID only when the agent is gone from the state (logged out)."""
        record = agent(eid)
        return _s(record.get("username") if record else None) or str(eid)

    seats = {(a.call_id, a.agent): a.seat for a in actions if isinstance(a, Offer)}
    out: list[eventlog.Event] = []
    for e in events:
        kind = e["kind"]
        ts = float(e["ts"] or 0.0)
        cid = _s(e.get("call"))

        def new(log_kind: str, _ts: float = ts, _cid: str = cid, **data: str) -> eventlog.Event:
            return eventlog.Event.new(log_kind, correlation_id=_cid, node=node, ts=_ts, **data)

        if kind == "agent.state":
            out.append(
                new(
                    eventlog.AGENT_STATE,
                    agent=_s(e.get("username") or e["agent"]),
                    seat=_s(e["seat"]),
                    state=_s(e["to"]),
                    previous=_s(e["from"]),
                    reason=_s(e["reason"]),
                )
            )
        elif kind == "call.queued":
            out.append(new(eventlog.CALL_QUEUED, queue=_s(e["queue"]), priority=_s(e["priority"])))
        elif kind == "call.ringing" and legs:
            eid = int(e["agent"] or 0)
            record = call(cid)
            attempt = len(record["tried"]) + 1 if record is not None else 1
            out.append(
                new(
                    eventlog.CALL_RINGING,
                    agent=name_of(eid),
                    seat=_s(seats.get((cid, eid))),
                    leg_id="",
                    attempt=str(attempt),
                )
            )
        elif kind == "call.no_answer" and legs:
            out.append(new(eventlog.CALL_NO_ANSWER, agent=name_of(int(e["agent"] or 0)), leg_id=""))
        elif kind == "call.answered" and legs:
            who = agent(int(e["agent"] or 0))
            out.append(
                new(
                    eventlog.CALL_ANSWERED,
                    agent=name_of(int(e["agent"] or 0)),
                    seat=_s(who["seat"] if who else None),
                    leg_id="",
                )
            )
        elif kind == "call.overflow":
            out.append(new(eventlog.CALL_OVERFLOW, from_queue=_s(e["queue"]), to=_s(e["target"])))
        elif kind == "call.transferred":
            to_agent = e.get("to_agent")
            out.append(
                new(
                    eventlog.CALL_TRANSFERRED,
                    from_agent=name_of(int(e["agent"] or 0)),
                    to_kind="agent" if to_agent is not None else "queue",
                    to=name_of(int(to_agent)) if to_agent is not None else _s(e.get("to_queue")),
                    mode="blind",
                )
            )
        elif kind in ("call.abandoned", "call.ended"):
            end = _end(e, legs=legs, side=side, reconciled=reconciled or {})
            if end is not None:
                out.append(new(eventlog.CALL_ENDED, cause=end[0], side=end[1]))
    return out


def _end(
    e: Event, *, legs: bool, side: str, reconciled: Mapping[str, bool]
) -> tuple[str, str] | None:
    """(cause, side) of the `call.ended` for a core call.abandoned/call.ended, or None
    when the ACD does not write it."""
    cid = _s(e.get("call"))
    if cid in reconciled:
        return (_s(e.get("reason")), "system") if legs or reconciled[cid] else None
    if not legs:
        return None
    if e["kind"] == "call.abandoned":
        return "ABANDONED", "caller"
    return _s(e.get("reason")), side
