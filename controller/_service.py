"""Call-control service logic: what to do on each command and each SIP event.

It owns the calls (pure `_call` objects) and talks to the outside only through
small ports: `SipLegs` (the Sippy adapter), `MediaServer` (rtpengine over ng),
`Timers` (the event loop's timers) and `EventPublisher` (the call event log).
Everything runs on one thread, the SIP event loop; transports marshal commands
onto it.

Media moves by pairing two legs' rtpengine monologues (offer from one tag to the
other, answer with the second party's SDP) and re-INVITEing each party whose
rtpengine-facing SDP changed; docs/call-control.md has the rules and the sequences
of every capability.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Protocol

from controller._call import (
    Call,
    CallLeg,
    CallPhase,
    InvalidTransitionError,
    LegRole,
    LegState,
    new_correlation_id,
)
from controller._dtmf import DtmfDigits
from controller._media import MediaError, MediaServer
from controller._ports import Cancellable, EventPublisher, Timers
from controller._sdp import is_hold, offers_telephone_event, park_answer, park_offer, same_media
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_HOLD,
    CALL_NO_ANSWER,
    CALL_ORIGINATED,
    CALL_RESUME,
    CALL_RINGING,
    CALL_TRANSFERRED,
    Event,
)

log = logging.getLogger("controller")

PARK_TAG = "park"
# The `held_by` entry that stands for "the caller waits while its agent consults".
CONSULT_HOLD = "consult"
_CID = re.compile(r"^[0-9A-Za-z._-]{8,64}$")
# An external number or caller ID as the edge routes it: digits, optionally E.164's +.
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")


class UnknownCallError(KeyError):
    """No live call has this correlation ID."""


class SipLegs(Protocol):
    def answer(self, cid: str, leg_id: str, sdp: str) -> None: ...
    def originate(
        self,
        cid: str,
        leg_id: str,
        *,
        address: tuple[str, int],
        user: str,
        sdp: str,
        caller: str | None,
        acd_call_id: str = "",
    ) -> None: ...
    def update(self, cid: str, leg_id: str, sdp: str) -> None: ...
    def answer_update(self, cid: str, leg_id: str, sdp: str) -> None: ...
    def reject_update(self, cid: str, leg_id: str, code: int, reason: str) -> None: ...
    def hangup(self, cid: str, leg_id: str, reason: tuple[int, str] | None = None) -> None: ...


class MonitoringHooks(Protocol):
    """Where supervisor monitoring (controller/_monitoring) joins call handling: the
    SIP events of supervisors' legs, every pairing of the caller with its agent, the
    re-INVITEs of parties paired with a mixer, and the end of the call."""

    def owns(self, cid: str, leg_id: str) -> bool: ...
    def ringing(self, cid: str, leg_id: str) -> None: ...
    def answered(self, cid: str, leg_id: str, sdp: str | None) -> None: ...
    def failed(self, cid: str, leg_id: str, code: int, reason: str) -> None: ...
    def ended(self, cid: str, leg_id: str) -> None: ...
    def supervisor_reinvite(self, cid: str, leg_id: str, sdp: str | None) -> None: ...
    def dtmf(self, cid: str, leg_id: str, digit: str) -> bool: ...
    def reinvite(self, call: Call, leg: CallLeg, sdp: str) -> bool: ...
    def through_mixer(self, call: Call, first: CallLeg, second: CallLeg) -> bool: ...
    def call_ending(self, call: Call) -> None: ...
    def owns_media(self, cid: str) -> bool: ...


class _NoEvents:
    def publish(self, event: Event) -> None:
        return None


# Who ended the call (`call.ended` side). On an originated call, `caller` is the customer.
SIDE_CALLER = "caller"
SIDE_AGENT = "agent"
SIDE_SYSTEM = "system"

# `call.transferred` modes (docs/events.md).
MODE_BLIND = "blind"
MODE_ATTENDED = "attended"
MODE_INTERCEPT = "intercept"

# The cause of a ring that our own timer ended, and the Reason the agent's BYE carries
# when the customer of an originated call did not answer (RFC 3398 maps Q.850 19,
# "no answer from user", to 480).
CAUSE_NO_ANSWER = "no answer"
REASON_NO_ANSWER = (480, "No Answer")


def park_tag(call: Call, leg: CallLeg) -> str:
    """The rtpengine tag that stands in for `leg`'s missing peer.

    The caller keeps the historical `park`; any other leg that needs a peer before it
    has one (an originated agent, an intercepting supervisor) gets its own, so that
    pairing it never disturbs the caller's park.
    """
    return PARK_TAG if leg is call.caller else f"{PARK_TAG}-{leg.leg_id}"


def call_log(cid: str, message: str, *args: object, level: int = logging.INFO) -> None:
    """Every log line about a call starts with its correlation ID."""
    log.log(level, "cid=%s " + message, cid, *args)


class CallService:
    def __init__(
        self,
        sip: SipLegs,
        media: MediaServer,
        timers: Timers,
        *,
        agents: Mapping[str, tuple[str, int]],
        edge: tuple[str, int] | None = None,
        park_address: tuple[str, int] = ("127.0.0.1", 9),
        ring_timeout_s: float = 15.0,
        events: EventPublisher | None = None,
        node: str = "",
        clock: Callable[[], float] = time.time,
        inband_dtmf: bool = False,
        record_dtmf: bool = False,
    ) -> None:
        """`inband_dtmf`: have rtpengine listen for DTMF tones from a caller that offers no
        telephone-event, when it is answered (only worth it when rtpengine's DTMF events
        reach this replica). `record_dtmf`: keep each live call's digits for the `dtmf`
        command (tests and labs; the values are sensitive)."""
        self.sip = sip
        self.media = media
        self.timers = timers
        self.agents = dict(agents)
        # The SIP edge (Kamailio): legs to agents not in `agents` go there, and the edge
        # finds the agent's registered phone (docs/call-control.md, "Legs to agents").
        # Originated calls reach their external number through it too.
        self.edge = edge
        self.park_address = park_address
        self.ring_timeout_s = ring_timeout_s
        self.calls: dict[str, Call] = {}
        self._ring_timers: dict[tuple[str, str], Cancellable] = {}  # (cid, leg id)
        self._caller_numbers: dict[str, str | None] = {}
        self._queued: dict[tuple[str, str], str] = {}
        self.events: EventPublisher = events if events is not None else _NoEvents()
        self.node = node
        self.clock = clock
        self.events_failed = 0
        # Told (cid, leg id, agent) when a consult target answers the consulting agent.
        # No event says so (its `call.answered` is written when it takes the caller), but
        # the ACD must count that agent as talking from then on (controller/_acd_driver.py).
        self.on_consult_answered: Callable[[str, str, str], None] | None = None
        # Told the cid when the controller has answered a caller (always-on recording of
        # a number starts there), and when a call is ending, before rtpengine's `delete`
        # (its recording stops there: controller/_recording.py).
        self.on_caller_answered: Callable[[str], None] | None = None
        self.on_call_ending: Callable[[str], None] | None = None
        # The caller's digits, from rtpengine and SIP INFO; the IVR host subscribes.
        self.inband_dtmf = inband_dtmf
        self.dtmf = DtmfDigits(self._caller_leg_of, record=record_dtmf)
        # Supervisor monitoring (controller/_monitoring), when configured.
        self.monitoring: MonitoringHooks | None = None

    # ------------------------------------------------------------------ events
    def incoming(
        self,
        header_cid: str | None,
        sdp: str | None,
        caller: str | None,
        dialled: str | None,
        category: str | None = None,
    ) -> tuple[str, str]:
        """A new INVITE: register the call and wait for a command."""
        cid = header_cid if header_cid and _CID.match(header_cid) else None
        if cid is None or cid in self.calls or set(cid) == {"0"}:
            fresh = new_correlation_id()
            if cid is not None:
                call_log(fresh, "replaces correlation ID %s from the INVITE", cid)
            cid = fresh
        call = Call(
            cid,
            CallLeg("L1", LegRole.CALLER, LegState.OFFERED, remote_sdp=sdp),
            ring_timeout_s=self.ring_timeout_s,
        )
        self.calls[cid] = call
        self._caller_numbers[cid] = caller
        call_log(
            cid,
            "incoming call from %s to %s (offer %s)",
            caller,
            dialled,
            "with SDP" if sdp else "without SDP",
        )
        # The controller does not know the trunk (the edge does): "" until it passes it on.
        self._emit(
            cid,
            CALL_ARRIVED,
            trunk="",
            caller=caller or "",
            dialled=dialled or "",
            category=category or "",
        )
        return cid, call.caller.leg_id

    def ringing(self, cid: str, leg_id: str) -> None:
        if self.monitoring is not None and self.monitoring.owns(cid, leg_id):
            self.monitoring.ringing(cid, leg_id)
            return
        call, leg = self._find(cid, leg_id)
        if call is not None and leg is not None and leg.state is LegState.CALLING:
            leg.state = LegState.RINGING
            call_log(cid, "%s %s ringing (leg %s)", call.slot_of(leg), leg.target, leg_id)

    def answered(self, cid: str, leg_id: str, sdp: str | None) -> None:
        """A 200 to our INVITE or re-INVITE."""
        if self.monitoring is not None and self.monitoring.owns(cid, leg_id):
            self.monitoring.answered(cid, leg_id, sdp)
            return
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or leg.state is LegState.ENDED:
            return
        if leg.pending_update:
            self._update_answered(call, leg, sdp)
            return
        if leg.state not in (LegState.CALLING, LegState.RINGING):
            return
        on_answer = self._answer_rule(call, leg)
        if on_answer is None:
            return
        self._cancel_ring_timer(cid, leg_id)
        leg.state = LegState.ANSWERED
        leg.remote_sdp = sdp
        if sdp is None:
            self._answered_without_sdp(call, leg)
            return
        try:
            on_answer(call, leg)
        except MediaError as exc:
            self._media_failed(call, exc)

    def failed(self, cid: str, leg_id: str, code: int, reason: str = "") -> None:
        """A final non-2xx answer to our INVITE or re-INVITE."""
        if self.monitoring is not None and self.monitoring.owns(cid, leg_id):
            self.monitoring.failed(cid, leg_id, code, reason)
            return
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None:
            return
        if leg.pending_update:
            leg.pending_update = False
            call_log(
                cid,
                "re-INVITE to leg %s failed: %s %s",
                leg_id,
                code,
                reason,
                level=logging.WARNING,
            )
            if leg.relay_to is not None:
                origin = call.leg(leg.relay_to)
                leg.relay_to = None
                if origin is not None:
                    self.sip.reject_update(cid, origin.leg_id, code, reason or "Failed")
            return
        if leg.state is LegState.ENDED:
            return
        was = leg.state
        leg.state = LegState.ENDED
        if leg is call.caller and not call.outbound:
            # Our own transaction with the caller failed (e.g. no ACK): nobody hung up.
            self._end(call, str(code), SIDE_SYSTEM)
        elif was in (LegState.CALLING, LegState.RINGING):
            call_log(cid, "%s %s refused: %s %s", call.slot_of(leg), leg.target, code, reason)
            self._unanswered(call, leg, f"failed {code}", str(code), (code, reason or "Refused"))
        else:
            self._hung_up(call, leg)

    def ended(self, cid: str, leg_id: str) -> None:
        """The party hung up (BYE) or cancelled its INVITE."""
        if self.monitoring is not None and self.monitoring.owns(cid, leg_id):
            self.monitoring.ended(cid, leg_id)
            return
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or leg.state is LegState.ENDED:
            return
        was = leg.state
        leg.state = LegState.ENDED
        if leg is call.caller and not call.outbound:
            # BYE after our 200 is a normal clearing (200); before it, a CANCEL (487).
            call_log(cid, "caller hung up")
            self._end(call, "200" if was is LegState.ANSWERED else "487", SIDE_CALLER)
        elif was in (LegState.CALLING, LegState.RINGING):
            self._unanswered(call, leg, "gone", "487", None)
        else:
            self._hung_up(call, leg)

    def reinvite(self, cid: str, leg_id: str, sdp: str | None) -> None:
        """A re-INVITE from a party: relay it to the peer, or answer it from the park side."""
        if self.monitoring is not None and self.monitoring.owns(cid, leg_id):
            self.monitoring.supervisor_reinvite(cid, leg_id, sdp)
            return
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None:
            return
        if sdp is None:
            self.sip.reject_update(cid, leg_id, 488, "Not Acceptable Here")
            return
        leg.remote_sdp = sdp
        try:
            # A party paired with a monitoring mixer: the mixer's slot answers.
            if self.monitoring is not None and self.monitoring.reinvite(call, leg, sdp):
                return
        except MediaError as exc:
            self._media_failed(call, exc)
            return
        peer = call.peer_of(leg)
        try:
            if peer is None:
                # Only the caller has a park side; an agent waiting alone (its caller
                # parked for a consult, or its customer still ringing) has nobody to
                # answer its offer.
                if leg is not call.caller:
                    self.sip.reject_update(cid, leg_id, 488, "Not Acceptable Here")
                    return
                answer = self._park(call)
                leg.local_sdp = answer
                call_log(cid, "re-INVITE from the caller answered by the park side")
                self.sip.answer_update(cid, leg_id, answer)
                return
            if peer.pending_update or leg.pending_update:  # glare (RFC 3261 14.2)
                self.sip.reject_update(cid, leg_id, 491, "Request Pending")
                return
            offer = self.media.offer(cid, leg.leg_id, peer.leg_id, sdp)
        except MediaError as exc:
            self._media_failed(call, exc)
            return
        call_log(cid, "relaying re-INVITE from leg %s to leg %s", leg_id, peer.leg_id)
        peer.relay_to = leg.leg_id
        self._send_update(call, peer, offer, only_if_changed=False)

    def dtmf_info(self, cid: str, leg_id: str, digit: str) -> None:
        """A SIP INFO with a DTMF digit in a leg's dialog (answered 200 already)."""
        if self.monitoring is not None and self.monitoring.dtmf(cid, leg_id, digit):
            return  # a supervisor's key: not the caller's digits
        self.dtmf.from_info(cid, leg_id, digit)

    def _caller_leg_of(self, cid: str) -> str | None:
        call = self.calls.get(cid)
        return None if call is None else call.caller.leg_id

    # ---------------------------------------------------------------- commands
    def answer(self, cid: str) -> dict[str, object]:
        """Answer the caller locally: 200 with rtpengine's SDP, media to the park side."""
        call = self._call(cid)
        call.require(CallPhase.NEW)
        if call.caller.remote_sdp is None:
            raise InvalidTransitionError(f"call {cid}: late offer (INVITE without SDP)")
        sdp = self._park(call)
        call.caller.local_sdp = sdp
        call.caller.state = LegState.ANSWERED
        call.transition(CallPhase.PARKED)
        if self.inband_dtmf and not offers_telephone_event(call.caller.remote_sdp):
            self._detect_inband_dtmf(call)
        self.sip.answer(cid, call.caller.leg_id, sdp)
        call_log(cid, "answered the caller locally")
        self._tell(self.on_caller_answered, cid)
        return call.describe()

    def _detect_inband_dtmf(self, call: Call) -> None:
        """A caller that cannot send RFC 4733 may send tones (trunks from the PSTN do):
        rtpengine decodes its audio and reports them. Only such callers pay for the
        decoding; a failure costs the call its tone digits, not the call."""
        cid = call.correlation_id
        try:
            self.media.detect_dtmf(cid, call.caller.leg_id)
        except MediaError as exc:
            call_log(cid, "in-band DTMF detection not set: %s", exc, level=logging.WARNING)
            return
        self.dtmf.detect_inband(cid)
        call_log(cid, "no telephone-event offered: rtpengine listens for DTMF tones")

    def play(self, cid: str, file: str) -> dict[str, object]:
        call = self._call(cid)
        call.require(
            CallPhase.PARKED,
            CallPhase.RINGING,
            CallPhase.BRIDGED,
            CallPhase.CONSULT_RINGING,
            CallPhase.CONSULTING,
            CallPhase.INTERCEPTING,
        )
        self.media.play(cid, call.caller.leg_id, file)
        call_log(cid, "playing %s to the caller", file)
        return call.describe()

    def stop_media(self, cid: str) -> dict[str, object]:
        call = self._call(cid)
        self._stop_media(call)
        return call.describe()

    def connect(
        self,
        cid: str,
        agents: Sequence[str],
        ring_timeout_s: float | None = None,
        seats: Mapping[str, str] | None = None,
        *,
        acd_call_id: str | None = None,
    ) -> dict[str, object]:
        """Ring the agents in turn (ring-no-answer moves on) and bridge the first to answer.

        `seats` (agent -> seat, from the ACD) only fills the events' `seat` field.
        `acd_call_id` (the Offer's call ID) goes to the agents' phones as X-Huaan-Call-Id,
        so that a softphone pairs the ringing call with its desktop's offer.
        """
        call = self._call(cid)
        if call.state is CallPhase.NEW:
            self.answer(cid)
        call.require(CallPhase.PARKED)
        if not agents:
            raise ValueError("connect needs at least one agent")
        call.targets = deque(agents)
        call.acd_call_id = acd_call_id or ""
        call.seats.update(seats or {})
        if ring_timeout_s is not None:
            call.ring_timeout_s = ring_timeout_s
        call_log(cid, "connecting to %s (ring timeout %ss)", ",".join(agents), call.ring_timeout_s)
        self._try_next(call)
        return call.describe()

    def release(self, cid: str) -> dict[str, object]:
        """Hang up the agent leg and keep the caller, parked (ready for a prompt)."""
        call = self._call(cid)
        call.require(CallPhase.BRIDGED, CallPhase.RINGING)
        self._release_agent(call)
        return call.describe()

    def hangup(self, cid: str, refuse_with: tuple[int, str] | None = None) -> dict[str, object]:
        """End the call on the system's behalf (the ACD, an operator, an IVR script).

        `refuse_with` (code, reason) is the final response to a caller not answered
        yet, e.g. 486 for an internal call to a busy colleague; default 480.
        """
        call = self._call(cid)
        # We BYE an answered caller (200), refuse an unanswered INVITE (480 or
        # `refuse_with`), and cancel (or never dial) the customer of an originated call.
        reason = None
        if call.caller.state is LegState.ANSWERED:
            cause = "200"
        elif call.outbound:
            cause = "487"
        else:
            reason = refuse_with
            cause = str(refuse_with[0]) if refuse_with else "480"
        self._end(call, cause, SIDE_SYSTEM, reason=reason)
        return call.describe()

    def transfer(
        self,
        cid: str,
        agents: Sequence[str],
        ring_timeout_s: float | None = None,
        seats: Mapping[str, str] | None = None,
        *,
        acd_call_id: str | None = None,
    ) -> dict[str, object]:
        """Blind transfer: hang up the bridged agent, park the caller, ring `agents` in turn.

        A transfer to a queue is the ACD's: it sends `release`, queues the call again,
        and later `connect`s it (docs/call-control.md, "Blind transfer").
        """
        call = self._call(cid)
        call.require(CallPhase.BRIDGED)
        agent = self._agent_leg(call)
        if not agents:
            raise ValueError("transfer needs at least one agent")
        for target in agents:
            self._check_not_on_call(call, target)
        if all(self.address_of(target) is None for target in agents):
            raise ValueError(f"unknown agent(s) {','.join(agents)}: nobody to transfer to")
        self._require_no_relay(call)
        call_log(cid, "blind transfer from agent %s to %s", agent.target, ",".join(agents))
        self._emit(
            cid,
            CALL_TRANSFERRED,
            from_agent=agent.target or "",
            to_kind="agent",
            to=",".join(agents),
            mode=MODE_BLIND,
        )
        self._release_agent(call)
        if call.state is CallPhase.ENDED:  # rtpengine failed while parking the caller
            return call.describe()
        return self.connect(cid, agents, ring_timeout_s, seats, acd_call_id=acd_call_id)

    def consult(
        self,
        cid: str,
        agent: str,
        ring_timeout_s: float | None = None,
        hold_file: str | None = None,
        *,
        acd_call_id: str | None = None,
    ) -> dict[str, object]:
        """Attended transfer, step 1: park the caller (optionally with `hold_file`) and
        ring `agent` for the bridged agent; the two talk when it answers. `acd_call_id`:
        the target's reservation at the ACD, for its phone (as in `connect`)."""
        call = self._call(cid)
        address = self._consult_checks(call, agent)
        current = self._agent_leg(call)
        if hold_file:
            # First, so that a file rtpengine cannot play refuses the command before
            # anything changed. The player stays with the caller's monologue when it is
            # parked, until the caller is bridged again (`_stop_media`).
            self.media.play(cid, call.caller.leg_id, hold_file)
        leg = call.new_consult_leg(agent)
        assert current.remote_sdp is not None  # an answered agent leg has its SDP
        try:
            caller_sdp = self._park(call)
            offer = self.media.offer(cid, current.leg_id, leg.leg_id, current.remote_sdp)
        except MediaError as exc:
            self._media_failed(call, exc)
            return call.describe()
        leg.local_sdp = offer
        leg.media_peer, current.media_peer = current.leg_id, leg.leg_id
        call.transition(CallPhase.CONSULT_RINGING)
        call_log(cid, "agent %s consults %s; caller parked", current.target, agent)
        self._set_hold(call, CONSULT_HOLD, True)
        self._send_update(call, call.caller, caller_sdp, only_if_changed=True)
        # The consult target sees the consulting agent calling, not the customer.
        self._ring_leg(
            call,
            leg,
            offer,
            address,
            call.ring_timeout_s if ring_timeout_s is None else ring_timeout_s,
            caller=current.target,
            acd_call_id=acd_call_id or "",
        )
        return call.describe()

    def complete_transfer(self, cid: str) -> dict[str, object]:
        """Attended transfer, step 2: the consult target takes the caller; the agent goes.

        While the target still rings this is a blind transfer: the agent is hung up and
        the target rings on for the caller (the same as the agent hanging up).
        """
        call = self._call(cid)
        call.require(CallPhase.CONSULTING, CallPhase.CONSULT_RINGING)
        self._require_no_relay(call)
        agent = self._agent_leg(call)
        if call.state is CallPhase.CONSULT_RINGING:
            self._leave(call, agent)
            self._agent_left_during_consult(call, agent)
            return call.describe()
        try:
            self._complete_consult(call)
        except MediaError as exc:
            self._media_failed(call, exc)
        return call.describe()

    def cancel_consult(self, cid: str) -> dict[str, object]:
        """Hang up the consult target and bridge the caller back to the agent."""
        call = self._call(cid)
        call.require(CallPhase.CONSULT_RINGING, CallPhase.CONSULTING)
        self._require_no_relay(call)
        leg = call.consult
        assert leg is not None  # both states have a consult leg
        call_log(cid, "consult with %s cancelled", leg.target)
        self._leave(call, leg)
        self._consult_leg_gone(call, leg, "consult cancelled")
        return call.describe()

    def intercept(
        self,
        cid: str,
        agent: str,
        ring_timeout_s: float | None = None,
        *,
        acd_call_id: str | None = None,
    ) -> dict[str, object]:
        """A supervisor takes the call over.

        Ringing call: stop ringing the agent and ring the supervisor instead. Bridged
        call: ring the supervisor while the caller and agent go on talking; when the
        supervisor answers, the caller is moved to the supervisor and the agent hung up.
        """
        call = self._call(cid)
        address = self._intercept_checks(call, agent)
        current = self._agent_leg(call)
        timeout_s = call.ring_timeout_s if ring_timeout_s is None else ring_timeout_s
        if call.state is CallPhase.RINGING:
            call_log(cid, "supervisor %s intercepts; stop ringing agent %s", agent, current.target)
            call.attempts.append((current.target or "?", "intercepted"))
            self._emit(cid, CALL_NO_ANSWER, agent=current.target or "", leg_id=current.leg_id)
            self._leave(call, current)
            call.targets = deque([agent])
            call.acd_call_id = acd_call_id or ""
            call.ring_timeout_s = timeout_s
            self._try_next(call)
            return call.describe()
        leg = call.new_consult_leg(agent)
        # The caller keeps talking to the agent: the supervisor's INVITE is offered from
        # its own park tag, which leaves the caller's monologue alone until the answer.
        offer = self._offer_from_park(call, leg)
        if offer is None:
            return call.describe()
        call.transition(CallPhase.INTERCEPTING)
        call_log(cid, "supervisor %s intercepts agent %s", agent, current.target)
        self._ring_leg(
            call,
            leg,
            offer,
            address,
            timeout_s,
            caller=self._caller_numbers.get(cid),
            acd_call_id=acd_call_id or "",
        )
        return call.describe()

    def check_consult(self, cid: str, agent: str) -> dict[str, object]:
        """Would `consult` be accepted now? Raises its refusal; changes nothing. The ACD
        driver asks before it reserves the target, so that a command the call refuses
        anyway never reserves anybody (docs/call-control.md)."""
        call = self._call(cid)
        self._consult_checks(call, agent)
        return call.describe()

    def check_intercept(self, cid: str, agent: str) -> dict[str, object]:
        """Would `intercept` be accepted now? Raises its refusal; changes nothing."""
        call = self._call(cid)
        self._intercept_checks(call, agent)
        return call.describe()

    def _consult_checks(self, call: Call, agent: str) -> tuple[str, int]:
        call.require(CallPhase.BRIDGED)
        self._agent_leg(call)
        address = self._check_target(call, agent)
        self._require_no_relay(call)
        return address

    def _intercept_checks(self, call: Call, agent: str) -> tuple[str, int]:
        call.require(CallPhase.RINGING, CallPhase.BRIDGED)
        address = self._check_target(call, agent)
        self._agent_leg(call)
        if call.state is CallPhase.BRIDGED:
            self._require_no_relay(call)
        return address

    def cancel_intercept(self, cid: str) -> dict[str, object]:
        """Stop ringing the supervisor of an intercept; caller and agent talk on untouched.

        Only while the agent is still there (`intercepting`): once the agent has left,
        the supervisor rings for the parked caller like any agent, and `release` stops it.
        """
        call = self._call(cid)
        call.require(CallPhase.INTERCEPTING)
        leg = call.consult
        assert leg is not None  # an intercepting call has the supervisor's leg
        call_log(cid, "intercept by %s cancelled", leg.target)
        self._leave(call, leg)
        self._consult_leg_gone(call, leg, "intercept cancelled")
        return call.describe()

    def originate(
        self,
        agent: str,
        number: str,
        caller_id: str | None = None,
        ring_timeout_s: float | None = None,
        cid: str | None = None,
        *,
        acd_call_id: str | None = None,
    ) -> dict[str, object]:
        """An outbound call: ring `agent`; when it answers, dial `number` through the edge
        and bridge the two when the customer answers. `acd_call_id`: the agent's
        reservation at the ACD, if any, for its phone (as in `connect`)."""
        edge = self.edge
        if edge is None:
            raise ValueError(
                "originate needs the SIP edge (--edge): external numbers are dialled through it"
            )
        if not _NUMBER.match(number):
            raise ValueError(f"bad number {number!r}: digits, optionally with a leading +")
        if caller_id is not None and not _NUMBER.match(caller_id):
            raise ValueError(f"bad caller_id {caller_id!r}: digits, optionally with a leading +")
        if not agent:
            raise ValueError("originate needs an agent")
        address = self.address_of(agent)
        assert address is not None  # with an edge, every agent has an address
        if cid is None:
            cid = new_correlation_id()
        elif not _CID.match(cid) or set(cid) == {"0"}:
            raise ValueError(f"bad cid {cid!r}: 8-64 of 0-9 A-Z a-z . _ -, not all zeros")
        elif cid in self.calls:
            raise ValueError(f"call {cid} already exists")
        # No inbound leg: the customer is the call's caller leg (L1), dialled later.
        call = Call(
            cid,
            CallLeg("L1", LegRole.CALLER, LegState.PENDING, target=number),
            state=CallPhase.ORIGINATING,
            outbound=True,
            caller_id=caller_id,
            ring_timeout_s=self.ring_timeout_s if ring_timeout_s is None else ring_timeout_s,
        )
        self.calls[cid] = call
        self._caller_numbers[cid] = number  # the agent's phone shows whom it calls
        call_log(
            cid, "originating: agent %s, then %s (caller ID %s)", agent, number, caller_id or "-"
        )
        self._emit(cid, CALL_ORIGINATED, agent=agent, number=number, caller_id=caller_id or "")
        leg = call.new_agent_leg(agent)
        offer = self._offer_from_park(call, leg)
        if offer is not None:
            self._ring_leg(
                call,
                leg,
                offer,
                address,
                call.ring_timeout_s,
                caller=number,
                acd_call_id=acd_call_id or "",
            )
        return call.describe()

    def _offer_from_park(self, call: Call, leg: CallLeg) -> str | None:
        """The SDP offer for a leg rung while nobody talks to it yet (a supervisor, the
        agent of an originated call): from the leg's own park tag, which leaves every
        other monologue alone. None: rtpengine failed and the call has ended."""
        try:
            offer = self.media.offer(
                call.correlation_id, park_tag(call, leg), leg.leg_id, park_offer(*self.park_address)
            )
        except MediaError as exc:
            self._media_failed(call, exc)
            return None
        leg.local_sdp = offer
        leg.media_peer = park_tag(call, leg)
        return offer

    def media_timeout(self, cid: str, leg_id: str) -> None:
        """A leg sent no RTP for too long (a dead phone or trunk): end the call cleanly.

        The side is the silent leg's; the cause is `media timeout` (docs/events.md).
        """
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or leg.state is LegState.ENDED:
            return
        side = SIDE_CALLER if leg.role is LegRole.CALLER else SIDE_AGENT
        call_log(
            cid, "no RTP from leg %s (%s); ending the call", leg_id, side, level=logging.WARNING
        )
        self._end(call, "media timeout", side)

    def shutdown(self) -> None:
        """The controller stops: end every call (system side, cause `shutdown`)."""
        for call in list(self.calls.values()):
            self._end(call, "shutdown", SIDE_SYSTEM)

    def caller_media(self, cid: str) -> str | None:
        """The SDP rtpengine gave the answered caller (None: no such call, or the caller
        is not answered): where its media reaches rtpengine, for a recording."""
        call = self.calls.get(cid)
        if call is None or call.caller.state is not LegState.ANSWERED:
            return None
        return call.caller.local_sdp

    def describe_calls(self) -> list[dict[str, object]]:
        return [call.describe() for call in self.calls.values()]

    def describe_call(self, cid: str) -> dict[str, object]:
        return self._call(cid).describe()

    # ------------------------------------------------------- answers, per state
    def _answer_rule(self, call: Call, leg: CallLeg) -> Callable[[Call, CallLeg], None] | None:
        """What a 200 from `leg` means in the call's state; None: nothing (a leg we
        no longer want, e.g. a cancelled agent's late 200, which Sippy ends with BYE)."""
        if leg is call.agent:
            if call.state is CallPhase.RINGING:
                return self._agent_answered
            if call.state is CallPhase.ORIGINATING:
                return self._originated_agent_answered
        elif leg is call.consult:
            if call.state is CallPhase.CONSULT_RINGING:
                return self._consult_answered
            if call.state is CallPhase.INTERCEPTING:
                return self._supervisor_answered
        elif leg is call.caller and call.state is CallPhase.DIALING:
            return self._customer_answered
        return None

    def _agent_answered(self, call: Call, leg: CallLeg) -> None:
        """RINGING: bridge the caller with the agent that answered."""
        cid, caller = call.correlation_id, call.caller
        call.attempts.append((leg.target or "?", "answered"))
        if leg.media_peer == caller.leg_id and not self._monitored(call):
            assert leg.remote_sdp is not None
            caller_sdp = self.media.answer(cid, caller.leg_id, leg.leg_id, leg.remote_sdp)
            caller.media_peer = leg.leg_id
            self._send_update(call, caller, caller_sdp, only_if_changed=True)
        else:
            # Offered from another tag (a consult target or a supervisor whose agent
            # hung up while it rang): pair it with the caller now.
            self._pair_media(call, caller, leg)
        self._stop_media(call)
        call.transition(CallPhase.BRIDGED)
        call_log(
            cid, "bridged caller %s with agent %s (leg %s)", caller.leg_id, leg.target, leg.leg_id
        )
        self._emit_answered(call, leg)

    def _consult_answered(self, call: Call, leg: CallLeg) -> None:
        """CONSULT_RINGING: the consult target talks to the agent; the caller stays parked."""
        cid = call.correlation_id
        agent = self._agent_leg(call)
        assert leg.remote_sdp is not None
        agent_sdp = self.media.answer(cid, agent.leg_id, leg.leg_id, leg.remote_sdp)
        call.attempts.append((leg.target or "?", "consult answered"))
        call.transition(CallPhase.CONSULTING)
        call_log(cid, "agent %s consults %s (leg %s)", agent.target, leg.target, leg.leg_id)
        self._send_update(call, agent, agent_sdp, only_if_changed=True)
        if self.on_consult_answered is not None:
            try:
                self.on_consult_answered(cid, leg.leg_id, leg.target or "")
            except Exception:  # an observer's bug must not reach call handling
                call_log(cid, "consult answer observer failed", level=logging.ERROR)
                log.debug("observer failed", exc_info=True)

    def _supervisor_answered(self, call: Call, leg: CallLeg) -> None:
        """INTERCEPTING: move the caller to the supervisor, hang up the agent."""
        agent = self._agent_leg(call)
        call.attempts.append((leg.target or "?", "answered"))
        self._pair_media(call, call.caller, leg)
        self._leave(call, agent)
        call.promote_consult()
        call.transition(CallPhase.BRIDGED)
        call_log(
            call.correlation_id,
            "supervisor %s took the call from agent %s",
            leg.target,
            agent.target,
        )
        self._emit(
            call.correlation_id,
            CALL_TRANSFERRED,
            from_agent=agent.target or "",
            to_kind="agent",
            to=leg.target or "",
            mode=MODE_INTERCEPT,
        )
        self._emit_answered(call, leg)

    def _originated_agent_answered(self, call: Call, leg: CallLeg) -> None:
        """ORIGINATING: the agent is there; dial the customer with the agent's media."""
        cid, customer, edge = call.correlation_id, call.caller, self.edge
        assert edge is not None and leg.remote_sdp is not None and customer.target is not None
        call.attempts.append((leg.target or "?", "answered"))
        offer = self.media.offer(cid, leg.leg_id, customer.leg_id, leg.remote_sdp)
        customer.local_sdp = offer
        customer.media_peer, leg.media_peer = leg.leg_id, customer.leg_id
        customer.state = LegState.CALLING
        call.transition(CallPhase.DIALING)
        call_log(
            cid,
            "agent %s answered; dialling %s through the edge %s:%s",
            leg.target,
            customer.target,
            *edge,
        )
        self._start_ring_timer(call, customer, call.ring_timeout_s)
        self.sip.originate(
            cid,
            customer.leg_id,
            address=edge,
            user=customer.target,
            sdp=offer,
            caller=call.caller_id,
        )

    def _customer_answered(self, call: Call, leg: CallLeg) -> None:
        """DIALING: bridge the waiting agent with the customer."""
        cid = call.correlation_id
        agent = self._agent_leg(call)
        assert leg.remote_sdp is not None
        agent_sdp = self.media.answer(cid, agent.leg_id, leg.leg_id, leg.remote_sdp)
        call.transition(CallPhase.BRIDGED)
        call_log(cid, "customer %s answered; bridged with agent %s", leg.target, agent.target)
        self._emit_answered(call, agent)
        self._send_update(call, agent, agent_sdp, only_if_changed=True)

    def _answered_without_sdp(self, call: Call, leg: CallLeg) -> None:
        cid = call.correlation_id
        call_log(
            cid, "%s %s answered without SDP", call.slot_of(leg), leg.target, level=logging.WARNING
        )
        if leg is call.consult:
            # Only the consult failed: the caller goes on with its agent.
            self._leave(call, leg)
            self._consult_leg_gone(call, leg, "answered without SDP")
            return
        who = "customer" if leg is call.caller else "agent"
        self._end(call, f"{who} answered without SDP", SIDE_SYSTEM)

    # ------------------------------------------------- rings that end unanswered
    def _unanswered(
        self, call: Call, leg: CallLeg, outcome: str, cause: str, reason: tuple[int, str] | None
    ) -> None:
        """A leg we rang will not answer: ring timeout, refusal, or gone. `leg` has ended."""
        cid = call.correlation_id
        self._cancel_ring_timer(cid, leg.leg_id)
        if leg is call.caller:  # the customer of an originated call
            call_log(cid, "customer %s did not answer: %s", leg.target, cause)
            side = SIDE_SYSTEM if cause == CAUSE_NO_ANSWER else SIDE_CALLER
            self._end(call, cause, side, reason=reason)
            return
        if leg is not call.agent and leg is not call.consult:
            return
        call.attempts.append((leg.target or "?", outcome))
        self._emit(cid, CALL_NO_ANSWER, agent=leg.target or "", leg_id=leg.leg_id)
        if leg is call.consult:
            self._consult_leg_gone(call, leg, None)
        elif call.state is CallPhase.RINGING:
            self._try_next(call)
        elif call.state is CallPhase.ORIGINATING:
            side = SIDE_SYSTEM if cause == CAUSE_NO_ANSWER else SIDE_AGENT
            self._end(call, cause, side)

    def _ring_timeout(self, cid: str, leg_id: str) -> None:
        self._ring_timers.pop((cid, leg_id), None)
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or leg.state not in (LegState.CALLING, LegState.RINGING):
            return
        call_log(
            cid,
            "%s %s did not answer in time; cancelling leg %s",
            call.slot_of(leg),
            leg.target,
            leg_id,
        )
        leg.state = LegState.ENDED
        self.sip.hangup(cid, leg_id)
        self._unanswered(call, leg, "no answer", CAUSE_NO_ANSWER, REASON_NO_ANSWER)

    def _consult_leg_gone(self, call: Call, leg: CallLeg, outcome: str | None) -> None:
        """The consult leg (target or supervisor) is over without taking the caller: the
        caller goes on with its agent. `outcome`: the attempt to record and report as a
        no-answer (None: already done by `_unanswered`)."""
        if outcome is not None:
            call.attempts.append((leg.target or "?", outcome))
            self._emit(
                call.correlation_id, CALL_NO_ANSWER, agent=leg.target or "", leg_id=leg.leg_id
            )
        call.consult = None
        if call.state is CallPhase.INTERCEPTING:
            # The caller never left its agent: nothing to move.
            call.transition(CallPhase.BRIDGED)
            return
        try:
            self._pair_media(call, call.caller, self._agent_leg(call))
        except MediaError as exc:
            self._media_failed(call, exc)
            return
        self._stop_media(call)
        self._set_hold(call, CONSULT_HOLD, False)
        call.transition(CallPhase.BRIDGED)
        call_log(call.correlation_id, "caller back with agent %s", self._agent_leg(call).target)

    # ----------------------------------------------------- answered legs hang up
    def _hung_up(self, call: Call, leg: CallLeg) -> None:
        """An answered leg hung up (BYE); the caller's own hang-up is handled before."""
        cid = call.correlation_id
        if leg is call.caller:  # the customer of an originated call
            call_log(cid, "customer hung up")
            self._end(call, "200", SIDE_CALLER)
        elif leg is call.consult:  # CONSULTING: the target hung up on the agent
            call_log(cid, "consult target %s hung up", leg.target)
            self._leave(call, leg)
            self._consult_leg_gone(call, leg, "consult ended")
        elif leg is call.agent:
            if call.state is CallPhase.CONSULTING:
                # "Hang up to transfer": the caller goes to the target the agent talked to.
                call_log(cid, "agent %s hung up during the consult: transfer", leg.target)
                try:
                    self._complete_consult(call)
                except MediaError as exc:
                    self._media_failed(call, exc)
            elif call.state in (CallPhase.CONSULT_RINGING, CallPhase.INTERCEPTING):
                call_log(
                    cid,
                    "agent %s hung up; %s rings on for the caller",
                    leg.target,
                    self._consult_target(call),
                )
                self._leave(call, leg)
                self._agent_left_during_consult(call, leg)
            else:  # BRIDGED, or DIALING (the agent gave up on the customer)
                call_log(cid, "agent %s hung up", leg.target)
                self._end(call, "200", SIDE_AGENT)

    def _complete_consult(self, call: Call) -> None:
        """CONSULTING -> BRIDGED: the consult target takes the caller, the agent leaves."""
        agent, target = self._agent_leg(call), call.consult
        assert target is not None
        self._pair_media(call, call.caller, target)
        self._stop_media(call)
        # Resume first: the consult's hold belongs to the transferring agent's leg.
        self._set_hold(call, CONSULT_HOLD, False)
        self._leave(call, agent)
        call.promote_consult()
        call.transition(CallPhase.BRIDGED)
        call_log(
            call.correlation_id,
            "attended transfer from agent %s to %s",
            agent.target,
            target.target,
        )
        self._emit(
            call.correlation_id,
            CALL_TRANSFERRED,
            from_agent=agent.target or "",
            to_kind="agent",
            to=target.target or "",
            mode=MODE_ATTENDED,
        )
        self._emit_answered(call, target)

    def _agent_left_during_consult(self, call: Call, agent: CallLeg) -> None:
        """The agent left while its consult target or supervisor still rings: that leg now
        rings for the caller, who waits parked; it is bridged to the caller on answer."""
        target = call.consult
        assert target is not None
        mode = MODE_INTERCEPT if call.state is CallPhase.INTERCEPTING else MODE_BLIND
        self._emit(
            call.correlation_id,
            CALL_TRANSFERRED,
            from_agent=agent.target or "",
            to_kind="agent",
            to=target.target or "",
            mode=mode,
        )
        self._end_holds(call)
        call.promote_consult()
        call.targets.clear()
        was_talking = call.state is CallPhase.INTERCEPTING
        call.transition(CallPhase.RINGING)
        if was_talking:
            self._repark(call)

    # ------------------------------------------------------------------ helpers
    def _monitored(self, call: Call) -> bool:
        """Whether the call's parties are paired with a monitoring mixer, not each other."""
        return self.monitoring is not None and self.monitoring.owns_media(call.correlation_id)

    def _call(self, cid: str) -> Call:
        call = self.calls.get(cid)
        if call is None:
            raise UnknownCallError(cid)
        return call

    def _find(self, cid: str, leg_id: str) -> tuple[Call | None, CallLeg | None]:
        call = self.calls.get(cid)
        return (call, call.leg(leg_id) if call is not None else None)

    def address_of(self, agent: str) -> tuple[str, int] | None:
        """Where an INVITE to `agent` goes: its fixed address, else the edge, else nowhere."""
        return self.agents.get(agent, self.edge)

    @staticmethod
    def _agent_leg(call: Call) -> CallLeg:
        if call.agent is None:  # every state that calls this has an agent leg
            raise InvalidTransitionError(f"call {call.correlation_id} has no agent leg")
        return call.agent

    @staticmethod
    def _consult_target(call: Call) -> str:
        return call.consult.target or "?" if call.consult is not None else "?"

    def _check_not_on_call(self, call: Call, agent: str) -> None:
        if not agent:
            raise ValueError("an agent id must not be empty")
        for leg in (call.agent, call.consult):
            if leg is not None and leg.state is not LegState.ENDED and leg.target == agent:
                raise ValueError(f"agent {agent} is already on call {call.correlation_id}")

    def _check_target(self, call: Call, agent: str) -> tuple[str, int]:
        """The address of a new leg's agent, who must be known and not on the call yet."""
        self._check_not_on_call(call, agent)
        address = self.address_of(agent)
        if address is None:
            raise ValueError(f"unknown agent {agent}")
        return address

    @staticmethod
    def _require_no_relay(call: Call) -> None:
        """Moving media while a relayed re-INVITE is open would let its late answer pair
        the old legs again: such commands wait for it (the party answers in a moment)."""
        if any(leg.relay_to is not None for leg in call.legs()):
            raise InvalidTransitionError(
                f"call {call.correlation_id}: a re-INVITE between the legs is in progress; "
                "try again"
            )

    def _park(self, call: Call) -> str:
        """Point the caller's media at the park side; return the caller-facing SDP."""
        offer = call.caller.remote_sdp
        assert offer is not None
        cid, tag = call.correlation_id, call.caller.leg_id
        self.media.offer(cid, tag, PARK_TAG, offer)
        sdp = self.media.answer(cid, tag, PARK_TAG, park_answer(offer, *self.park_address))
        call.caller.media_peer = PARK_TAG
        return sdp

    def _repark(self, call: Call) -> None:
        try:
            sdp = self._park(call)
        except MediaError as exc:
            self._media_failed(call, exc)
            return
        self._send_update(call, call.caller, sdp, only_if_changed=True)

    def _pair_media(self, call: Call, first: CallLeg, second: CallLeg) -> None:
        """Make two answered legs hear each other, and re-INVITE each whose SDP moved.

        rtpengine's offer (first -> second, with first's SDP) gives second's new SDP;
        its answer with second's SDP gives first's. Each party is re-INVITEd only when
        its address, port or direction changed, and answers with the SDP it had.
        """
        assert first.remote_sdp is not None and second.remote_sdp is not None
        if self.monitoring is not None and self.monitoring.through_mixer(call, first, second):
            return  # a monitored call: both parties go to its mixer instead
        cid = call.correlation_id
        for_second = self.media.offer(cid, first.leg_id, second.leg_id, first.remote_sdp)
        for_first = self.media.answer(cid, first.leg_id, second.leg_id, second.remote_sdp)
        first.media_peer, second.media_peer = second.leg_id, first.leg_id
        self._send_update(call, second, for_second, only_if_changed=True)
        self._send_update(call, first, for_first, only_if_changed=True)

    def _release_agent(self, call: Call) -> None:
        """BRIDGED or RINGING -> PARKED: the agent leg goes, the caller stays parked."""
        cid = call.correlation_id
        call.targets.clear()
        agent = call.agent
        if agent is not None and agent.state is not LegState.ENDED:
            if call.state is CallPhase.RINGING:
                # The ring stops before anyone answered: for the CDR it is a no-answer leg.
                self._emit(cid, CALL_NO_ANSWER, agent=agent.target or "", leg_id=agent.leg_id)
            self._leave(call, agent)
            call_log(cid, "released agent %s (leg %s)", agent.target, agent.leg_id)
        self._end_holds(call)
        call.agent = None
        call.transition(CallPhase.PARKED)
        self._repark(call)

    def _end_holds(self, call: Call) -> None:
        """The caller goes to park without its agent: whoever held, the hold is over."""
        if call.held_by:
            call.held_by.clear()
            self._emit(call.correlation_id, CALL_RESUME)

    def _leave(self, call: Call, leg: CallLeg) -> None:
        """`leg` leaves a call that goes on: stop its ring, its media and its dialog."""
        cid = call.correlation_id
        self._cancel_ring_timer(cid, leg.leg_id)
        self._queued.pop((cid, leg.leg_id), None)
        if leg.pending_update and leg.relay_to is not None:
            # The re-INVITE we relayed to this leg will get no answer now: the party
            # that sent it retries (491), and its new peer or the park side answers.
            origin = call.leg(leg.relay_to)
            if origin is not None and origin.state is LegState.ANSWERED:
                self.sip.reject_update(cid, origin.leg_id, 491, "Request Pending")
        leg.pending_update, leg.relay_to = False, None
        if call.held_by and leg.leg_id in call.held_by:
            self._set_hold(call, leg.leg_id, False)
        if leg.media_peer is not None and leg.remote_sdp is not None:
            # Its old peer still listens to it in rtpengine (see MediaServer.block).
            try:
                self.media.block(cid, leg.leg_id)
            except MediaError as exc:  # it is hung up anyway; its phone stops sending
                call_log(cid, "block media of leg %s: %s", leg.leg_id, exc, level=logging.WARNING)
        if leg.state is not LegState.ENDED:
            leg.state = LegState.ENDED
            self.sip.hangup(cid, leg.leg_id)

    def _send_update(self, call: Call, leg: CallLeg, sdp: str, *, only_if_changed: bool) -> None:
        """Re-INVITE `leg` with `sdp` (one at a time per leg; later ones wait)."""
        if only_if_changed and same_media(leg.local_sdp, sdp):
            return
        if leg.pending_update:
            self._queued[(call.correlation_id, leg.leg_id)] = sdp
            return
        leg.pending_update = True
        leg.local_sdp = sdp
        call_log(call.correlation_id, "re-INVITE to leg %s with new media", leg.leg_id)
        self.sip.update(call.correlation_id, leg.leg_id, sdp)

    def _update_answered(self, call: Call, leg: CallLeg, sdp: str | None) -> None:
        cid = call.correlation_id
        leg.pending_update = False
        if sdp is not None:
            leg.remote_sdp = sdp
        if leg.relay_to is not None:
            origin = call.leg(leg.relay_to)
            leg.relay_to = None
            # A relay whose sender has left since (it hung up) must not pair them again.
            if origin is not None and origin.state is LegState.ANSWERED and sdp is not None:
                try:
                    back = self.media.answer(cid, origin.leg_id, leg.leg_id, sdp)
                except MediaError as exc:
                    self._media_failed(call, exc)
                    return
                origin.local_sdp = back
                self.sip.answer_update(cid, origin.leg_id, back)
                call_log(cid, "re-INVITE from leg %s answered by leg %s", origin.leg_id, leg.leg_id)
                if call.state in (CallPhase.BRIDGED, CallPhase.INTERCEPTING):
                    self._set_hold(call, origin.leg_id, is_hold(origin.remote_sdp))
        queued = self._queued.pop((cid, leg.leg_id), None)
        if queued is not None:
            self._send_update(call, leg, queued, only_if_changed=True)

    def _try_next(self, call: Call) -> None:
        cid = call.correlation_id
        while call.targets:
            agent = call.targets.popleft()
            address = self.address_of(agent)
            if address is None:
                call.attempts.append((agent, "unknown agent"))
                call_log(cid, "unknown agent %s skipped", agent, level=logging.WARNING)
                continue
            leg = call.new_agent_leg(agent)
            caller_sdp = call.caller.remote_sdp
            assert caller_sdp is not None
            try:
                offer = self.media.offer(cid, call.caller.leg_id, leg.leg_id, caller_sdp)
            except MediaError as exc:
                self._media_failed(call, exc)
                return
            leg.local_sdp = offer
            leg.media_peer = call.caller.leg_id
            call.transition(CallPhase.RINGING)
            self._ring_leg(
                call,
                leg,
                offer,
                address,
                call.ring_timeout_s,
                caller=self._caller_numbers.get(cid),
                acd_call_id=call.acd_call_id,
            )
            return
        call_log(cid, "no agent answered; caller stays parked")
        call.agent = None
        call.transition(CallPhase.PARKED)
        self._repark(call)

    def _ring_leg(
        self,
        call: Call,
        leg: CallLeg,
        offer: str,
        address: tuple[str, int],
        timeout_s: float,
        *,
        caller: str | None,
        acd_call_id: str,
    ) -> None:
        """Send the INVITE to an agent's leg (agent, consult target or supervisor);
        `acd_call_id` ("": none) goes in its X-Huaan-Call-Id header."""
        cid = call.correlation_id
        agent = leg.target or ""
        call.ring_attempts += 1
        call_log(
            cid, "calling %s %s at %s:%s (leg %s)", call.slot_of(leg), agent, *address, leg.leg_id
        )
        # Emitted when the INVITE goes out, where the ring timer starts (not at 180,
        # which some phones never send): ringing..no_answer spans the ring timeout.
        self._emit(
            cid,
            CALL_RINGING,
            agent=agent,
            seat=call.seats.get(agent, ""),
            leg_id=leg.leg_id,
            attempt=str(call.ring_attempts),
        )
        self._start_ring_timer(call, leg, timeout_s)
        self.sip.originate(
            cid,
            leg.leg_id,
            address=address,
            user=agent,
            sdp=offer,
            caller=caller,
            acd_call_id=acd_call_id,
        )

    def _start_ring_timer(self, call: Call, leg: CallLeg, timeout_s: float) -> None:
        cid = call.correlation_id
        self._ring_timers[(cid, leg.leg_id)] = self.timers.call_later(
            timeout_s, partial(self._ring_timeout, cid, leg.leg_id)
        )

    def _cancel_ring_timer(self, cid: str, leg_id: str) -> None:
        timer = self._ring_timers.pop((cid, leg_id), None)
        if timer is not None:
            timer.cancel()

    def _stop_media(self, call: Call) -> None:
        try:
            self.media.stop_media(call.correlation_id, call.caller.leg_id)
        except MediaError as exc:  # nothing was playing
            call_log(call.correlation_id, "stop media: %s", exc, level=logging.DEBUG)

    def _media_failed(self, call: Call, exc: MediaError) -> None:
        call_log(
            call.correlation_id,
            "media server failed: %s; ending the call",
            exc,
            level=logging.ERROR,
        )
        self._end(call, "media failure", SIDE_SYSTEM)

    def _end(
        self, call: Call, cause: str, side: str, reason: tuple[int, str] | None = None
    ) -> None:
        """End the call: hang up every live leg, free the media, write `call.ended`.

        `reason` goes to the legs we hang up (the agent of an originated call learns
        why its customer was not reached).
        """
        cid = call.correlation_id
        if call.state is CallPhase.ENDED:
            return
        for leg in call.legs():
            self._cancel_ring_timer(cid, leg.leg_id)
            if leg.state not in (LegState.ENDED, LegState.PENDING):
                leg.state = LegState.ENDED
                self.sip.hangup(cid, leg.leg_id, reason=reason)
        self._tell(self.on_call_ending, cid)
        if self.monitoring is not None:
            self.monitoring.call_ending(call)
        try:
            self.media.delete(cid)
        except MediaError as exc:  # e.g. never reached rtpengine
            call_log(cid, "rtpengine delete: %s", exc, level=logging.DEBUG)
        call.transition(CallPhase.ENDED)
        self.calls.pop(cid, None)
        self.dtmf.call_ended(cid)
        self._caller_numbers.pop(cid, None)
        for key in [k for k in self._queued if k[0] == cid]:
            del self._queued[key]
        for key in [k for k in self._ring_timers if k[0] == cid]:
            self._ring_timers.pop(key).cancel()
        call_log(cid, "call ended (cause %s, side %s)", cause, side)
        self._emit(cid, CALL_ENDED, cause=cause, side=side)

    def _set_hold(self, call: Call, holder: str, held: bool) -> None:
        """Track who holds (leg ids, or CONSULT_HOLD); `call.hold` when the first starts,
        `call.resume` when the last ends."""
        was_held = bool(call.held_by)
        if held:
            call.held_by.add(holder)
        else:
            call.held_by.discard(holder)
        if bool(call.held_by) != was_held:
            self._emit(call.correlation_id, CALL_HOLD if call.held_by else CALL_RESUME)

    def _emit_answered(self, call: Call, leg: CallLeg) -> None:
        agent = leg.target or ""
        self._emit(
            call.correlation_id,
            CALL_ANSWERED,
            agent=agent,
            seat=call.seats.get(agent, ""),
            leg_id=leg.leg_id,
        )

    @staticmethod
    def _tell(hook: Callable[[str], None] | None, cid: str) -> None:
        """Run a hook about a call; its failure is logged, never the call's."""
        if hook is None:
            return
        try:
            hook(cid)
        except Exception:
            call_log(cid, "a call hook failed", level=logging.ERROR)
            log.debug("hook failed", exc_info=True)

    def _emit(self, cid: str, kind: str, **data: str) -> None:
        """Publish one event; never lets a publishing problem reach call handling."""
        try:
            self.events.publish(
                Event.new(kind, correlation_id=cid, node=self.node, ts=self.clock(), **data)
            )
        except Exception:  # a schema bug or a broken adapter must not drop the call
            self.events_failed += 1
            call_log(cid, "could not publish %s", kind, level=logging.ERROR)
            log.debug("publish failed", exc_info=True)
