"""Folding one call's events into its CDR and legs. Pure: no I/O, no clock.

The rules are documented in docs/analytics.md ("Disposition rules"). Events are
folded in `ts` order (stable for equal stamps), not arrival order, because nodes
append independently and Kamailio workers can reorder 180 and 200.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Final

from eventlog import (
    AGENT_WRAP_UP,
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_HOLD,
    CALL_IVR_DONE,
    CALL_IVR_STEP,
    CALL_MESSAGE_PLAYED,
    CALL_NO_ANSWER,
    CALL_ORIGINATED,
    CALL_OVERFLOW,
    CALL_QUEUED,
    CALL_RESUME,
    CALL_RINGING,
    CALL_TRANSFERRED,
    CALL_VOICEMAIL,
    IVR_CALLER_LEFT,
    IVR_CLOSED,
    IVR_ERROR,
    IVR_MAX_TIME,
    IVR_QUEUED,
    IVR_RETRIES_EXHAUSTED,
    IVR_SELF_SERVED,
    IVR_VOICEMAIL,
    RECORDING_PAUSED,
    RECORDING_STARTED,
    VOICEMAIL_LEFT,
    Event,
)

from ._records import (
    ABANDONED_IVR,
    ABANDONED_QUEUE,
    ABANDONED_RINGING,
    ANSWERED,
    CATEGORY_OUTBOUND,
    FAILED,
    LEG_ABANDONED,
    LEG_ANSWERED,
    LEG_CANCELLED,
    LEG_NO_ANSWER,
    LEG_RING,
    LEG_TRANSFER,
    LEG_TRANSFERRED,
    OVERFLOW,
    VOICEMAIL,
    Cdr,
    Leg,
)

_by_ts = attrgetter("ts")


class _OpenLeg:
    """A leg while the fold is running; frozen into a `Leg` at the end."""

    __slots__ = (
        "agent",
        "answered_at",
        "attempt",
        "ended_at",
        "hold_s",
        "leg_id",
        "leg_kind",
        "mode",
        "outcome",
        "seat",
        "started_at",
        "to_kind",
        "to_target",
    )

    def __init__(  # noqa: PLR0917  (hot path: positional is cheaper)
        self, leg_kind: str, leg_id: str, agent: str, seat: str, attempt: int, started_at: float
    ) -> None:
        self.leg_kind = leg_kind
        self.leg_id = leg_id
        self.agent = agent
        self.seat = seat
        self.attempt = attempt
        self.started_at = started_at
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.outcome = ""
        self.hold_s = 0.0
        self.to_kind = ""
        self.to_target = ""
        self.mode = ""


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _pos(value: float) -> float:
    # Clocks of different nodes disagree by a few ms; never report negative time.
    return value if value > 0.0 else 0.0


def _leg_talk(leg: _OpenLeg, call_ended_at: float) -> float:
    if leg.answered_at is None:
        return 0.0
    end = leg.ended_at if leg.ended_at is not None else call_ended_at
    return _pos(end - leg.answered_at - leg.hold_s)


def _close_hold_on(leg: _OpenLeg, hold_since: float | None, ts: float) -> None:
    if hold_since is not None and leg.answered_at is not None:
        leg.hold_s += _pos(ts - max(hold_since, leg.answered_at))


class _Fold:
    """What the fold knows about one call so far; each event handler updates it."""

    __slots__ = (
        "active",
        "agent",
        "answered_at",
        "arrived_at",
        "caller",
        "category",
        "dialled",
        "ended",
        "hold_s",
        "hold_since",
        "ivr_exit_node",
        "ivr_path",
        "ivr_result",
        "left_queue_at",
        "legs",
        "message_played",
        "originator",
        "outbound",
        "overflow_pending",
        "queue",
        "queued_at",
        "recording_pauses",
        "recording_ref",
        "ringing",
        "seat",
        "transfers",
        "trunk",
        "voicemail",
        "voicemail_box",
        "voicemail_ref",
        "wrap_up_code",
    )

    def __init__(self, arrived_at: float) -> None:
        self.trunk = ""
        self.caller = ""
        self.dialled = ""
        self.category = ""
        self.arrived_at = arrived_at
        self.queued_at: float | None = None
        self.answered_at: float | None = None
        self.left_queue_at: float | None = None
        self.queue = ""
        self.agent = ""
        self.seat = ""
        self.ivr_path: list[str] = []
        self.ivr_result = ""  # from call.ivr_done; inferred at the end without one
        self.ivr_exit_node = ""
        self.hold_since: float | None = None
        self.hold_s = 0.0
        self.transfers = 0
        self.recording_ref = ""  # the first recording.started that is not a voicemail
        self.voicemail_ref = ""  # the first voicemail's: recording_ref when no other
        self.recording_pauses = 0
        self.voicemail_box = ""
        self.message_played = 0
        self.voicemail = False
        self.overflow_pending = False
        self.outbound = False  # call.originated instead of call.arrived
        self.originator = ""  # the agent who placed it
        self.wrap_up_code = ""  # the last agent.wrap_up's code
        self.ended: Event | None = None
        self.legs: list[_OpenLeg] = []
        self.ringing: dict[str, _OpenLeg] = {}
        self.active: _OpenLeg | None = None


# -- one handler per event kind --------------------------------------------------------


def _on_arrived(f: _Fold, ev: Event) -> None:
    d = ev.data
    f.trunk = d["trunk"]
    f.caller = d["caller"]
    f.dialled = d["dialled"]
    f.category = d["category"]
    f.arrived_at = ev.ts


def _on_originated(f: _Fold, ev: Event) -> None:
    # An outbound call stands where an inbound one has call.arrived: the agent
    # calls `number`, presenting `caller_id` ("": the trunk's own number).
    d = ev.data
    f.outbound = True
    f.originator = d["agent"]
    f.caller = d["caller_id"]
    f.dialled = d["number"]
    f.category = CATEGORY_OUTBOUND
    f.arrived_at = ev.ts


def _on_ivr_step(f: _Fold, ev: Event) -> None:
    # Only the node: the step's `input` (the caller's digits, "<sensitive>" for a
    # masked node) is never part of a CDR (R-CORE-2, docs/analytics.md).
    f.ivr_path.append(ev.data["ivr_node"])


def _on_ivr_done(f: _Fold, ev: Event) -> None:
    # The last one wins: a call sent back into an IVR (after an agent) left it last there.
    d = ev.data
    f.ivr_result = d["result"]
    f.ivr_exit_node = d["ivr_node"]


def _on_queued(f: _Fold, ev: Event) -> None:
    if f.answered_at is None:
        f.queue = ev.data["queue"]
        if f.queued_at is None:
            f.queued_at = ev.ts
        f.left_queue_at = None
    f.overflow_pending = False


def _on_ringing(f: _Fold, ev: Event) -> None:
    d = ev.data
    leg = _OpenLeg(LEG_RING, d["leg_id"], d["agent"], d["seat"], _int(d["attempt"]), ev.ts)
    f.legs.append(leg)
    f.ringing[leg.leg_id] = leg


def _on_answered(f: _Fold, ev: Event) -> None:
    d = ev.data
    ts = ev.ts
    ringing = f.ringing
    leg = ringing.pop(d["leg_id"], None)
    if leg is None:
        # Answer without a ringing event (direct pickup): still a leg.
        leg = _OpenLeg(LEG_RING, d["leg_id"], d["agent"], d["seat"], 0, ts)
        f.legs.append(leg)
    leg.answered_at = ts
    leg.outcome = LEG_ANSWERED
    # Ring-all strategies: the other phones stop ringing now.
    for other in ringing.values():
        other.ended_at = ts
        other.outcome = LEG_CANCELLED
    ringing.clear()
    f.active = leg
    if f.answered_at is None:
        f.answered_at = ts
        f.agent = d["agent"]
        f.seat = d["seat"]
        if f.queued_at is not None and f.left_queue_at is None:
            f.left_queue_at = ts


def _on_no_answer(f: _Fold, ev: Event) -> None:
    d = ev.data
    leg = f.ringing.pop(d["leg_id"], None)
    if leg is None:
        leg = _OpenLeg(LEG_RING, d["leg_id"], d["agent"], "", 0, ev.ts)
        f.legs.append(leg)
    leg.ended_at = ev.ts
    leg.outcome = LEG_NO_ANSWER


def _on_hold(f: _Fold, ev: Event) -> None:
    if f.hold_since is None:
        f.hold_since = ev.ts


def _on_resume(f: _Fold, ev: Event) -> None:
    hold_since = f.hold_since
    if hold_since is not None:
        ts = ev.ts
        f.hold_s += _pos(ts - hold_since)
        if f.active is not None:
            _close_hold_on(f.active, hold_since, ts)
        f.hold_since = None


def _on_transferred(f: _Fold, ev: Event) -> None:
    d = ev.data
    ts = ev.ts
    f.transfers += 1
    from_agent = d["from_agent"]
    active = f.active
    if active is not None and (not from_agent or active.agent == from_agent):
        _close_hold_on(active, f.hold_since, ts)
        active.ended_at = ts
        f.active = None
    xfer = _OpenLeg(LEG_TRANSFER, "", from_agent, "", 0, ts)
    xfer.ended_at = ts
    xfer.outcome = LEG_TRANSFERRED
    xfer.to_kind = d["to_kind"]
    xfer.to_target = d["to"]
    xfer.mode = d["mode"]
    f.legs.append(xfer)


def _on_overflow(f: _Fold, ev: Event) -> None:
    f.overflow_pending = True
    if f.answered_at is None:
        from_queue = ev.data["from_queue"]
        if from_queue:
            f.queue = from_queue
        if f.queued_at is not None and f.left_queue_at is None:
            f.left_queue_at = ev.ts


def _on_voicemail(f: _Fold, ev: Event) -> None:
    f.voicemail = True
    if f.answered_at is None and f.queued_at is not None and f.left_queue_at is None:
        f.left_queue_at = ev.ts


def _on_recording(f: _Fold, ev: Event) -> None:
    # The call's recording is the conversation's; a voicemail's recording (the caller
    # alone, into a box) stands in only for a call with no other, and a monitoring
    # session's (the mixer's 3 channels) never does.
    d = ev.data
    if d["reason"] == "monitor":
        return  # a monitoring session's own recording: its row's (monitor_sessions)
    if d["reason"] == "voicemail":
        if not f.voicemail_ref:
            f.voicemail_ref = d["ref"]
        if not f.voicemail_box:
            f.voicemail_box = d["name"]
    elif not f.recording_ref:
        f.recording_ref = d["ref"]


def _on_recording_paused(f: _Fold, _ev: Event) -> None:
    f.recording_pauses += 1


def _on_voicemail_left(f: _Fold, ev: Event) -> None:
    # The box the message was stored in (the recorder writes it after the hang-up: a
    # late event); recording.started named the same box while the caller spoke.
    f.voicemail_box = ev.data["box"]


def _on_message_played(f: _Fold, _ev: Event) -> None:
    f.message_played = 1


def _on_wrap_up(f: _Fold, ev: Event) -> None:
    # Events come in time order: an agent who saves again replaces its code. After a
    # transfer each agent may save one; the last saved is the call's.
    f.wrap_up_code = ev.data["code"]


def _on_ended(f: _Fold, ev: Event) -> None:
    if f.ended is None:
        f.ended = ev


# Kinds not listed (agent.state) never reach a call fold; any that do are ignored:
# recording.resumed/stopped/stored/failed and voicemail.heard/deleted say nothing a CDR
# keeps (the builder drops them before they reach a call, _builder.NOT_IN_CDR).
# The table costs about 0.1 us per event over one flat if/elif loop with locals (a
# lookup, a call, attributes instead of locals), ~0.6 us per call; building the
# records positionally (_cdr, _frozen_legs) saves more than that (BENCHMARKS.md,
# "Statistics pipeline").
_HANDLERS: Final[dict[str, Callable[[_Fold, Event], None]]] = {
    CALL_ARRIVED: _on_arrived,
    CALL_ORIGINATED: _on_originated,
    CALL_IVR_STEP: _on_ivr_step,
    CALL_IVR_DONE: _on_ivr_done,
    CALL_QUEUED: _on_queued,
    CALL_RINGING: _on_ringing,
    CALL_ANSWERED: _on_answered,
    CALL_NO_ANSWER: _on_no_answer,
    CALL_HOLD: _on_hold,
    CALL_RESUME: _on_resume,
    CALL_TRANSFERRED: _on_transferred,
    CALL_OVERFLOW: _on_overflow,
    CALL_VOICEMAIL: _on_voicemail,
    RECORDING_STARTED: _on_recording,
    RECORDING_PAUSED: _on_recording_paused,
    VOICEMAIL_LEFT: _on_voicemail_left,
    CALL_MESSAGE_PLAYED: _on_message_played,
    CALL_ENDED: _on_ended,
    AGENT_WRAP_UP: _on_wrap_up,
}


def fold_call(
    events: Sequence[Event], *, wrapup_s: float = 0.0, version: int = 0
) -> tuple[Cdr, list[Leg]] | None:
    """Build the CDR and legs of one ended call; None if there is no call.ended yet.

    `events` are the call's events (one correlation_id, no duplicates) in any order.
    `wrapup_s` is the wrap-up time the builder attributed from agent.state.
    """
    ordered = sorted(events, key=_by_ts)
    f = _Fold(ordered[0].ts)
    handler_for = _HANDLERS.get
    for ev in ordered:
        handler = handler_for(ev.kind)
        if handler is not None:
            handler(f, ev)
    ended = f.ended
    if ended is None:
        return None
    if version == 0:
        version = len(ordered)
    cid = ordered[0].correlation_id
    _close_at_end(f, ended)
    legs = _frozen_legs(f, ended.ts, cid, version)
    return _cdr(f, ended, cid, legs, wrapup_s, version), legs


# -- at call.ended ---------------------------------------------------------------------


def _close_at_end(f: _Fold, ended: Event) -> None:
    """Close the hold, the active leg and the legs still ringing when the call ended."""
    ended_at = ended.ts
    hold_since = f.hold_since
    if hold_since is not None:
        f.hold_s += _pos(ended_at - hold_since)
    if f.active is not None:
        _close_hold_on(f.active, hold_since, ended_at)
        f.active.ended_at = ended_at
    # Before an outbound call is bridged, its `caller` side is the dialled customer, who
    # never waited for the agent's leg: a refusal or hang-up there abandons nothing.
    # (Schema 1 has no event for the agent answering its own ring while the customer is
    # dialled, so that leg stays open until the end; see docs/events.md, gaps.)
    abandons = ended.data["side"] == "caller" and not (f.outbound and f.answered_at is None)
    outcome = LEG_ABANDONED if abandons else LEG_CANCELLED
    for leg in f.ringing.values():
        leg.ended_at = ended_at
        leg.outcome = outcome


# call.ivr_done results after which the IVR itself hangs up, as the flow says: the call
# ended in the IVR (rule 6), not in a failure, whichever side the controller reports.
_ENDED_BY_THE_FLOW: Final = frozenset(
    {IVR_SELF_SERVED, IVR_CLOSED, IVR_MAX_TIME, IVR_RETRIES_EXHAUSTED}
)


def _disposition(f: _Fold, side: str) -> str:
    """Disposition rules, first match wins (docs/analytics.md)."""
    if f.answered_at is not None:
        return ANSWERED
    if f.voicemail:
        return VOICEMAIL
    if f.outbound:
        # An outbound call the customer was not bridged to: nobody waited in a queue or
        # an IVR, so no rule about callers who left applies; cause and side say why
        # (the customer's SIP code with side caller, `no answer`, the agent's refusal).
        return FAILED
    if f.overflow_pending:
        return OVERFLOW
    if side == "caller" and f.ringing:
        return ABANDONED_RINGING
    if side == "caller" and f.queued_at is not None:
        return ABANDONED_QUEUE
    if side == "caller" or f.ivr_result in _ENDED_BY_THE_FLOW:
        return ABANDONED_IVR
    return FAILED


def _ivr_outcome(f: _Fold, disposition: str, side: str) -> tuple[str, str]:
    """(ivr_result, ivr_exit_node): the call.ivr_done's, or inferred when the call has
    IVR steps but no call.ivr_done (the controller died, or a log from before the event
    existed) from what happened after the IVR, at the last node of the path. The same
    rules, on the same columns, are the DEFAULT of both columns in
    schema/006_cdr_ivr_result.sql: what CDRs stored before that migration read as."""
    if f.ivr_result or not f.ivr_path:
        return f.ivr_result, f.ivr_exit_node
    if f.queued_at is not None:
        result = IVR_QUEUED
    elif disposition == VOICEMAIL:
        result = IVR_VOICEMAIL
    elif side == "caller":
        result = IVR_CALLER_LEFT
    else:
        result = IVR_ERROR
    return result, f.ivr_path[-1]


def _talk_s(f: _Fold, legs: list[Leg], ended_at: float) -> float:
    # Talk is what the agents spent talking: the sum over the answered ring legs. The
    # span from the first answer to the end would also count a transferred caller's
    # second wait in a queue (minutes, sometimes) and inflate AHT.
    leg_talks = [
        leg.talk_s for leg in legs if leg.leg_kind == LEG_RING and leg.answered_at is not None
    ]
    if leg_talks:
        return sum(leg_talks)
    # An answer without a ring leg (an older or partial log).
    if f.answered_at is not None:
        return _pos(ended_at - f.answered_at - f.hold_s)
    return 0.0


def _cdr(  # noqa: PLR0917  (all positional: one call per CDR on the hot path)
    f: _Fold, ended: Event, cid: str, legs: list[Leg], wrapup_s: float, version: int
) -> Cdr:
    ended_at = ended.ts
    side = ended.data["side"]
    if f.queued_at is None:
        wait_s = 0.0
    else:
        left = f.left_queue_at if f.left_queue_at is not None else ended_at
        wait_s = _pos(left - f.queued_at)
    agent = f.agent
    seat = f.seat
    disposition = _disposition(f, side)
    ivr_result, ivr_exit_node = _ivr_outcome(f, disposition, side)
    if not agent and f.originator:
        # The agent who placed an unanswered outbound call still owns it.
        agent = f.originator
        seat = next((leg.seat for leg in f.legs if leg.agent == agent), "")
    # Positional, in the field order of Cdr (_records.py): a frozen dataclass takes
    # them about 0.7 us faster than keywords, which pays for the handler table.
    return Cdr(
        cid,  # correlation_id
        f.trunk,
        f.caller,
        f.dialled,
        f.category,
        f.arrived_at,
        f.queued_at,
        f.answered_at,
        ended_at,
        f.queue,
        agent,
        seat,
        tuple(f.ivr_path),  # ivr_path
        ivr_result,
        ivr_exit_node,
        wait_s,
        _talk_s(f, legs, ended_at),  # talk_s
        f.hold_s,
        wrapup_s,
        disposition,
        ended.data["cause"],  # hangup_cause
        side,  # hangup_side
        f.recording_ref or f.voicemail_ref,  # recording_ref
        f.transfers,
        version,
        f.wrap_up_code,
        f.recording_pauses,
        f.voicemail_box,
        f.message_played,
    )


def _frozen_legs(f: _Fold, ended_at: float, cid: str, version: int) -> list[Leg]:
    out: list[Leg] = []
    for seq, leg in enumerate(f.legs, start=1):
        end = leg.ended_at if leg.ended_at is not None else ended_at
        out.append(
            Leg(  # positional, in Leg's field order (see Cdr above)
                cid,  # correlation_id
                seq,
                leg.leg_kind,
                leg.leg_id,
                leg.agent,
                leg.seat,
                leg.attempt,
                leg.started_at,
                leg.answered_at,
                end,  # ended_at
                leg.outcome,
                _leg_talk(leg, ended_at),  # talk_s
                leg.hold_s,
                leg.to_kind,
                leg.to_target,
                leg.mode,
                version,
            )
        )
    return out
