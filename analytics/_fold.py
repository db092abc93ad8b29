"""Folding one call's events into its CDR and legs. Pure: no I/O, no clock.

The rules are documented in docs/analytics.md ("Disposition rules"). Events are
folded in `ts` order (stable for equal stamps), not arrival order, because nodes
append independently and Kamailio workers can reorder 180 and 200.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_HOLD,
    CALL_IVR_STEP,
    CALL_NO_ANSWER,
    CALL_ORIGINATED,
    CALL_OVERFLOW,
    CALL_QUEUED,
    CALL_RECORDING,
    CALL_RESUME,
    CALL_RINGING,
    CALL_TRANSFERRED,
    CALL_VOICEMAIL,
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


# One flat loop with local variables: this runs for every call, and a dispatch table
# of small functions sharing state costs about twice as much per event. Branches are
# ordered by how often each kind occurs (every call arrives, queues, rings, ends), and
# there is no closure, so no local turns into a slower cell variable.
def fold_call(  # noqa: PLR0912, PLR0915
    events: Sequence[Event], *, wrapup_s: float = 0.0, version: int = 0
) -> tuple[Cdr, list[Leg]] | None:
    """Build the CDR and legs of one ended call; None if there is no call.ended yet.

    `events` are the call's events (one correlation_id, no duplicates) in any order.
    `wrapup_s` is the wrap-up time the builder attributed from agent.state.
    """
    ordered = sorted(events, key=_by_ts)
    cid = ordered[0].correlation_id
    trunk = caller = dialled = category = ""
    arrived_at = ordered[0].ts
    queued_at: float | None = None
    answered_at: float | None = None
    left_queue_at: float | None = None
    queue = agent = seat = ""
    ivr_path: list[str] = []
    hold_since: float | None = None
    hold_s = 0.0
    transfers = 0
    recording_ref = ""
    voicemail = False
    overflow_pending = False
    outbound = False  # call.originated instead of call.arrived
    originator = ""  # the agent who placed it
    ended: Event | None = None
    legs: list[_OpenLeg] = []
    ringing: dict[str, _OpenLeg] = {}
    active: _OpenLeg | None = None

    for ev in ordered:
        kind = ev.kind
        d = ev.data
        ts = ev.ts
        if kind == CALL_ARRIVED:
            trunk = d["trunk"]
            caller = d["caller"]
            dialled = d["dialled"]
            category = d["category"]
            arrived_at = ts
        elif kind == CALL_IVR_STEP:
            ivr_path.append(d["ivr_node"])
        elif kind == CALL_QUEUED:
            if answered_at is None:
                queue = d["queue"]
                if queued_at is None:
                    queued_at = ts
                left_queue_at = None
            overflow_pending = False
        elif kind == CALL_RINGING:
            leg = _OpenLeg(LEG_RING, d["leg_id"], d["agent"], d["seat"], _int(d["attempt"]), ts)
            legs.append(leg)
            ringing[leg.leg_id] = leg
        elif kind == CALL_ANSWERED:
            leg_or_none = ringing.pop(d["leg_id"], None)
            if leg_or_none is None:
                # Answer without a ringing event (direct pickup): still a leg.
                leg_or_none = _OpenLeg(LEG_RING, d["leg_id"], d["agent"], d["seat"], 0, ts)
                legs.append(leg_or_none)
            leg = leg_or_none
            leg.answered_at = ts
            leg.outcome = LEG_ANSWERED
            # Ring-all strategies: the other phones stop ringing now.
            for other in ringing.values():
                other.ended_at = ts
                other.outcome = LEG_CANCELLED
            ringing.clear()
            active = leg
            if answered_at is None:
                answered_at = ts
                agent = d["agent"]
                seat = d["seat"]
                if queued_at is not None and left_queue_at is None:
                    left_queue_at = ts
        elif kind == CALL_ENDED:
            if ended is None:
                ended = ev
        elif kind == CALL_NO_ANSWER:
            leg_or_none = ringing.pop(d["leg_id"], None)
            if leg_or_none is None:
                leg_or_none = _OpenLeg(LEG_RING, d["leg_id"], d["agent"], "", 0, ts)
                legs.append(leg_or_none)
            leg_or_none.ended_at = ts
            leg_or_none.outcome = LEG_NO_ANSWER
        elif kind == CALL_HOLD:
            if hold_since is None:
                hold_since = ts
        elif kind == CALL_RESUME:
            if hold_since is not None:
                hold_s += _pos(ts - hold_since)
                if active is not None:
                    _close_hold_on(active, hold_since, ts)
                hold_since = None
        elif kind == CALL_TRANSFERRED:
            transfers += 1
            from_agent = d["from_agent"]
            if active is not None and (not from_agent or active.agent == from_agent):
                _close_hold_on(active, hold_since, ts)
                active.ended_at = ts
                active = None
            xfer = _OpenLeg(LEG_TRANSFER, "", from_agent, "", 0, ts)
            xfer.ended_at = ts
            xfer.outcome = LEG_TRANSFERRED
            xfer.to_kind = d["to_kind"]
            xfer.to_target = d["to"]
            xfer.mode = d["mode"]
            legs.append(xfer)
        elif kind == CALL_OVERFLOW:
            overflow_pending = True
            if answered_at is None:
                if d["from_queue"]:
                    queue = d["from_queue"]
                if queued_at is not None and left_queue_at is None:
                    left_queue_at = ts
        elif kind == CALL_VOICEMAIL:
            voicemail = True
            if answered_at is None and queued_at is not None and left_queue_at is None:
                left_queue_at = ts
        elif kind == CALL_RECORDING and not recording_ref:
            recording_ref = d["ref"]
        elif kind == CALL_ORIGINATED:
            # An outbound call stands where an inbound one has call.arrived: the agent
            # calls `number`, presenting `caller_id` ("": the trunk's own number).
            outbound = True
            originator = d["agent"]
            caller = d["caller_id"]
            dialled = d["number"]
            category = CATEGORY_OUTBOUND
            arrived_at = ts
        # Other kinds (agent.state) never reach a call fold.

    if ended is None:
        return None
    ended_at = ended.ts
    side = ended.data["side"]
    if hold_since is not None:
        hold_s += _pos(ended_at - hold_since)
    if active is not None:
        _close_hold_on(active, hold_since, ended_at)
        active.ended_at = ended_at
    # Before an outbound call is bridged, its `caller` side is the dialled customer, who
    # never waited for the agent's leg: a refusal or hang-up there abandons nothing.
    # (Schema 1 has no event for the agent answering its own ring while the customer is
    # dialled, so that leg stays open until the end; see docs/events.md, gaps.)
    abandons = side == "caller" and not (outbound and answered_at is None)
    for leg in ringing.values():
        leg.ended_at = ended_at
        leg.outcome = LEG_ABANDONED if abandons else LEG_CANCELLED

    # Disposition rules, first match wins (docs/analytics.md).
    if answered_at is not None:
        disposition = ANSWERED
    elif voicemail:
        disposition = VOICEMAIL
    elif outbound:
        # An outbound call the customer was not bridged to: nobody waited in a queue or
        # an IVR, so no rule about callers who left applies; cause and side say why
        # (the customer's SIP code with side caller, `no answer`, the agent's refusal).
        disposition = FAILED
    elif overflow_pending:
        disposition = OVERFLOW
    elif side == "caller" and ringing:
        disposition = ABANDONED_RINGING
    elif side == "caller" and queued_at is not None:
        disposition = ABANDONED_QUEUE
    elif side == "caller":
        disposition = ABANDONED_IVR
    else:
        disposition = FAILED

    if queued_at is None:
        wait_s = 0.0
    else:
        wait_s = _pos((left_queue_at if left_queue_at is not None else ended_at) - queued_at)
    # Talk is what the agents spent talking: the sum over the answered ring legs. The
    # span from the first answer to the end would also count a transferred caller's
    # second wait in a queue (minutes, sometimes) and inflate AHT.
    leg_talks = [_leg_talk(leg, ended_at) for leg in legs
                 if leg.leg_kind == LEG_RING and leg.answered_at is not None]
    if leg_talks:
        talk_s = sum(leg_talks)
    else:  # an answer without a ring leg (an older or partial log)
        talk_s = _pos(ended_at - answered_at - hold_s) if answered_at is not None else 0.0
    if not agent and originator:
        # The agent who placed an unanswered outbound call still owns it.
        agent = originator
        seat = next((leg.seat for leg in legs if leg.agent == originator), "")
    if version == 0:
        version = len(ordered)
    cdr = Cdr(
        correlation_id=cid,
        trunk=trunk,
        caller=caller,
        dialled=dialled,
        category=category,
        arrived_at=arrived_at,
        queued_at=queued_at,
        answered_at=answered_at,
        ended_at=ended_at,
        queue=queue,
        agent=agent,
        seat=seat,
        ivr_path=tuple(ivr_path),
        wait_s=wait_s,
        talk_s=talk_s,
        hold_s=hold_s,
        wrapup_s=wrapup_s,
        disposition=disposition,
        hangup_cause=ended.data["cause"],
        hangup_side=side,
        recording_ref=recording_ref,
        transfers=transfers,
        version=version,
    )
    out: list[Leg] = []
    for seq, leg in enumerate(legs, start=1):
        end = leg.ended_at if leg.ended_at is not None else ended_at
        leg_talk = _leg_talk(leg, ended_at)
        out.append(
            Leg(
                correlation_id=cid,
                seq=seq,
                leg_kind=leg.leg_kind,
                leg_id=leg.leg_id,
                agent=leg.agent,
                seat=leg.seat,
                attempt=leg.attempt,
                started_at=leg.started_at,
                answered_at=leg.answered_at,
                ended_at=end,
                outcome=leg.outcome,
                talk_s=leg_talk,
                hold_s=leg.hold_s,
                to_kind=leg.to_kind,
                to_target=leg.to_target,
                mode=leg.mode,
                version=version,
            )
        )
    return cdr, out
