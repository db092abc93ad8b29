"""Call-control service logic: what to do on each command and each SIP event.

It owns the calls (pure `_call` objects) and talks to the outside only through
small ports: `SipLegs` (the Sippy adapter), `MediaServer` (rtpengine over ng),
`Timers` (the event loop's timers) and `EventPublisher` (the call event log).
Everything runs on one thread, the SIP event loop; transports marshal commands
onto it.
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
    CallState,
    InvalidTransitionError,
    Leg,
    LegRole,
    LegState,
    new_correlation_id,
)
from controller._media import MediaError, MediaServer
from controller._sdp import direction, media_endpoint, park_answer, same_media
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_HOLD,
    CALL_NO_ANSWER,
    CALL_RESUME,
    CALL_RINGING,
    Event,
)

log = logging.getLogger("controller")

PARK_TAG = "park"
_CID = re.compile(r"^[0-9A-Za-z._-]{8,64}$")


class UnknownCallError(KeyError):
    """No live call has this correlation ID."""


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable: ...


class SipLegs(Protocol):
    def answer(self, cid: str, leg_id: str, sdp: str) -> None: ...
    def originate(self, cid: str, leg_id: str, *, address: tuple[str, int], user: str,
                  sdp: str, caller: str | None) -> None: ...
    def update(self, cid: str, leg_id: str, sdp: str) -> None: ...
    def answer_update(self, cid: str, leg_id: str, sdp: str) -> None: ...
    def reject_update(self, cid: str, leg_id: str, code: int, reason: str) -> None: ...
    def hangup(self, cid: str, leg_id: str) -> None: ...


class EventPublisher(Protocol):
    """The call event log. `publish` runs on the SIP loop: it must not block or raise."""

    def publish(self, event: Event) -> None: ...


class _NoEvents:
    def publish(self, event: Event) -> None:
        return None


# Who ended the call (`call.ended` side).
SIDE_CALLER = "caller"
SIDE_AGENT = "agent"
SIDE_SYSTEM = "system"


def is_hold(sdp: str | None) -> bool:
    """An offer that puts the other side on hold: sendonly/inactive, or c=0.0.0.0 (RFC 2543)."""
    if sdp is None:
        return False
    endpoint = media_endpoint(sdp)
    return direction(sdp) in ("sendonly", "inactive") or (
        endpoint is not None and endpoint[0] == "0.0.0.0")


def call_log(cid: str, message: str, *args: object, level: int = logging.INFO) -> None:
    """Every log line about a call starts with its correlation ID."""
    log.log(level, "cid=%s " + message, cid, *args)


class CallService:
    def __init__(self, sip: SipLegs, media: MediaServer, timers: Timers, *,
                 agents: Mapping[str, tuple[str, int]],
                 edge: tuple[str, int] | None = None,
                 park_address: tuple[str, int] = ("127.0.0.1", 9),
                 ring_timeout_s: float = 15.0, events: EventPublisher | None = None,
                 node: str = "", clock: Callable[[], float] = time.time) -> None:
        self.sip = sip
        self.media = media
        self.timers = timers
        self.agents = dict(agents)
        # The SIP edge (Kamailio): legs to agents not in `agents` go there, and the edge
        # finds the agent's registered phone (docs/call-control.md, "Legs to agents").
        self.edge = edge
        self.park_address = park_address
        self.ring_timeout_s = ring_timeout_s
        self.calls: dict[str, Call] = {}
        self._ring_timers: dict[str, Cancellable] = {}
        self._caller_numbers: dict[str, str | None] = {}
        self._queued: dict[tuple[str, str], str] = {}
        self.events: EventPublisher = events if events is not None else _NoEvents()
        self.node = node
        self.clock = clock
        self.events_failed = 0

    # ------------------------------------------------------------------ events
    def incoming(self, header_cid: str | None, sdp: str | None, caller: str | None,
                 dialled: str | None, category: str | None = None) -> tuple[str, str]:
        """A new INVITE: register the call and wait for a command."""
        cid = header_cid if header_cid and _CID.match(header_cid) else None
        if cid is None or cid in self.calls or set(cid) == {"0"}:
            fresh = new_correlation_id()
            if cid is not None:
                call_log(fresh, "replaces correlation ID %s from the INVITE", cid)
            cid = fresh
        call = Call(cid, Leg("L1", LegRole.CALLER, LegState.OFFERED, remote_sdp=sdp),
                    ring_timeout_s=self.ring_timeout_s)
        self.calls[cid] = call
        self._caller_numbers[cid] = caller
        call_log(cid, "incoming call from %s to %s (offer %s)", caller, dialled,
                 "with SDP" if sdp else "without SDP")
        # The controller does not know the trunk (the edge does): "" until it passes it on.
        self._emit(cid, CALL_ARRIVED, trunk="", caller=caller or "", dialled=dialled or "",
                   category=category or "")
        return cid, call.caller.leg_id

    def ringing(self, cid: str, leg_id: str) -> None:
        call, leg = self._find(cid, leg_id)
        if call is not None and leg is not None and leg.state is LegState.CALLING:
            leg.state = LegState.RINGING
            call_log(cid, "agent %s ringing (leg %s)", leg.target, leg_id)

    def answered(self, cid: str, leg_id: str, sdp: str | None) -> None:
        """A 200 to our INVITE or re-INVITE."""
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or leg.state is LegState.ENDED:
            return
        if leg.pending_update:
            self._update_answered(call, leg, sdp)
            return
        if leg.role is not LegRole.AGENT or call.agent is not leg or \
                call.state is not CallState.RINGING:
            return
        self._cancel_ring_timer(cid)
        leg.state = LegState.ANSWERED
        leg.remote_sdp = sdp
        call.attempts.append((leg.target or "?", "answered"))
        if sdp is None:
            call_log(cid, "agent %s answered without SDP; hanging up", leg.target,
                     level=logging.WARNING)
            self._end(call, "agent answered without SDP", SIDE_SYSTEM)
            return
        try:
            caller_sdp = self.media.answer(cid, call.caller.leg_id, leg.leg_id, sdp)
        except MediaError as exc:
            self._media_failed(call, exc)
            return
        self._stop_media(call)
        call.transition(CallState.BRIDGED)
        call_log(cid, "bridged caller %s with agent %s (leg %s)", call.caller.leg_id,
                 leg.target, leg.leg_id)
        self._emit(cid, CALL_ANSWERED, agent=leg.target or "",
                   seat=call.seats.get(leg.target or "", ""), leg_id=leg.leg_id)
        self._send_update(call, call.caller, caller_sdp, only_if_changed=True)

    def failed(self, cid: str, leg_id: str, code: int, reason: str = "") -> None:
        """A final non-2xx answer to our INVITE or re-INVITE."""
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None:
            return
        if leg.pending_update:
            leg.pending_update = False
            call_log(cid, "re-INVITE to leg %s failed: %s %s", leg_id, code, reason,
                     level=logging.WARNING)
            if leg.relay_to is not None:
                origin = call.leg(leg.relay_to)
                leg.relay_to = None
                if origin is not None:
                    self.sip.reject_update(cid, origin.leg_id, code, reason or "Failed")
            return
        if leg.state is LegState.ENDED:
            return
        leg.state = LegState.ENDED
        if leg.role is LegRole.CALLER:
            # Our own transaction with the caller failed (e.g. no ACK): nobody hung up.
            self._end(call, str(code), SIDE_SYSTEM)
            return
        if call.agent is leg and call.state is CallState.RINGING:
            self._cancel_ring_timer(cid)
            call.attempts.append((leg.target or "?", f"failed {code}"))
            call_log(cid, "agent %s refused: %s %s", leg.target, code, reason)
            self._emit(cid, CALL_NO_ANSWER, agent=leg.target or "", leg_id=leg.leg_id)
            self._try_next(call)

    def ended(self, cid: str, leg_id: str) -> None:
        """The party hung up (BYE) or cancelled its INVITE."""
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or leg.state is LegState.ENDED:
            return
        was_answered = leg.state is LegState.ANSWERED
        leg.state = LegState.ENDED
        if leg.role is LegRole.CALLER:
            # BYE after our 200 is a normal clearing (200); before it, a CANCEL (487).
            call_log(cid, "caller hung up")
            self._end(call, "200" if was_answered else "487", SIDE_CALLER)
        elif call.state is CallState.BRIDGED:
            call_log(cid, "agent %s hung up", leg.target)
            self._end(call, "200", SIDE_AGENT)
        elif call.state is CallState.RINGING and call.agent is leg:
            self._cancel_ring_timer(cid)
            call.attempts.append((leg.target or "?", "gone"))
            self._emit(cid, CALL_NO_ANSWER, agent=leg.target or "", leg_id=leg.leg_id)
            self._try_next(call)

    def reinvite(self, cid: str, leg_id: str, sdp: str | None) -> None:
        """A re-INVITE from a party: relay it to the peer, or answer it from the park side."""
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None:
            return
        if sdp is None:
            self.sip.reject_update(cid, leg_id, 488, "Not Acceptable Here")
            return
        leg.remote_sdp = sdp
        peer = call.peer_of(leg)
        try:
            if peer is None:
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

    # ---------------------------------------------------------------- commands
    def answer(self, cid: str) -> dict[str, object]:
        """Answer the caller locally: 200 with rtpengine's SDP, media to the park side."""
        call = self._call(cid)
        call.require(CallState.NEW)
        if call.caller.remote_sdp is None:
            raise InvalidTransitionError(f"call {cid}: late offer (INVITE without SDP)")
        sdp = self._park(call)
        call.caller.local_sdp = sdp
        call.caller.state = LegState.ANSWERED
        call.transition(CallState.PARKED)
        self.sip.answer(cid, call.caller.leg_id, sdp)
        call_log(cid, "answered the caller locally")
        return call.describe()

    def play(self, cid: str, file: str) -> dict[str, object]:
        call = self._call(cid)
        call.require(CallState.PARKED, CallState.RINGING, CallState.BRIDGED)
        self.media.play(cid, call.caller.leg_id, file)
        call_log(cid, "playing %s to the caller", file)
        return call.describe()

    def stop_media(self, cid: str) -> dict[str, object]:
        call = self._call(cid)
        self._stop_media(call)
        return call.describe()

    def connect(self, cid: str, agents: Sequence[str], ring_timeout_s: float | None = None,
                seats: Mapping[str, str] | None = None) -> dict[str, object]:
        """Ring the agents in turn (ring-no-answer moves on) and bridge the first to answer.

        `seats` (agent -> seat, from the ACD) only fills the events' `seat` field.
        """
        call = self._call(cid)
        if call.state is CallState.NEW:
            self.answer(cid)
        call.require(CallState.PARKED)
        if not agents:
            raise ValueError("connect needs at least one agent")
        call.targets = deque(agents)
        call.seats.update(seats or {})
        if ring_timeout_s is not None:
            call.ring_timeout_s = ring_timeout_s
        call_log(cid, "connecting to %s (ring timeout %ss)", ",".join(agents),
                 call.ring_timeout_s)
        self._try_next(call)
        return call.describe()

    def release(self, cid: str) -> dict[str, object]:
        """Hang up the agent leg and keep the caller, parked (ready for a prompt)."""
        call = self._call(cid)
        call.require(CallState.BRIDGED, CallState.RINGING)
        self._cancel_ring_timer(cid)
        call.targets.clear()
        agent = call.agent
        if agent is not None and agent.state is not LegState.ENDED:
            if call.state is CallState.RINGING:
                # The ring stops before anyone answered: for the CDR it is a no-answer leg.
                self._emit(cid, CALL_NO_ANSWER, agent=agent.target or "", leg_id=agent.leg_id)
            agent.state = LegState.ENDED
            self.sip.hangup(cid, agent.leg_id)
            call_log(cid, "released agent %s (leg %s)", agent.target, agent.leg_id)
        if call.held_by:  # the hold ends with the agent leg: the caller goes to park
            call.held_by.clear()
            self._emit(cid, CALL_RESUME)
        call.agent = None
        call.transition(CallState.PARKED)
        self._repark(call)
        return call.describe()

    def hangup(self, cid: str) -> dict[str, object]:
        """End the call on the system's behalf (the ACD, an operator, an IVR script)."""
        call = self._call(cid)
        # We BYE an answered caller (200) or refuse an unanswered INVITE with 480.
        answered = call.caller.state is LegState.ANSWERED
        self._end(call, "200" if answered else "480", SIDE_SYSTEM)
        return call.describe()

    def media_timeout(self, cid: str, leg_id: str) -> None:
        """A leg sent no RTP for too long (a dead phone or trunk): end the call cleanly.

        The side is the silent leg's; the cause is `media timeout` (docs/events.md).
        """
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or leg.state is LegState.ENDED:
            return
        side = SIDE_CALLER if leg.role is LegRole.CALLER else SIDE_AGENT
        call_log(cid, "no RTP from leg %s (%s); ending the call", leg_id, side,
                 level=logging.WARNING)
        self._end(call, "media timeout", side)

    def shutdown(self) -> None:
        """The controller stops: end every call (system side, cause `shutdown`)."""
        for call in list(self.calls.values()):
            self._end(call, "shutdown", SIDE_SYSTEM)

    def describe_calls(self) -> list[dict[str, object]]:
        return [call.describe() for call in self.calls.values()]

    def describe_call(self, cid: str) -> dict[str, object]:
        return self._call(cid).describe()

    # ---------------------------------------------------------------- helpers
    def _call(self, cid: str) -> Call:
        call = self.calls.get(cid)
        if call is None:
            raise UnknownCallError(cid)
        return call

    def _find(self, cid: str, leg_id: str) -> tuple[Call | None, Leg | None]:
        call = self.calls.get(cid)
        return (call, call.leg(leg_id) if call is not None else None)

    def address_of(self, agent: str) -> tuple[str, int] | None:
        """Where an INVITE to `agent` goes: its fixed address, else the edge, else nowhere."""
        return self.agents.get(agent, self.edge)

    def _park(self, call: Call) -> str:
        """Point the caller's media at the park side; return the caller-facing SDP."""
        offer = call.caller.remote_sdp
        assert offer is not None
        cid, tag = call.correlation_id, call.caller.leg_id
        self.media.offer(cid, tag, PARK_TAG, offer)
        return self.media.answer(cid, tag, PARK_TAG, park_answer(offer, *self.park_address))

    def _repark(self, call: Call) -> None:
        try:
            sdp = self._park(call)
        except MediaError as exc:
            self._media_failed(call, exc)
            return
        self._send_update(call, call.caller, sdp, only_if_changed=True)

    def _send_update(self, call: Call, leg: Leg, sdp: str, *, only_if_changed: bool) -> None:
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

    def _update_answered(self, call: Call, leg: Leg, sdp: str | None) -> None:
        cid = call.correlation_id
        leg.pending_update = False
        if sdp is not None:
            leg.remote_sdp = sdp
        if leg.relay_to is not None:
            origin = call.leg(leg.relay_to)
            leg.relay_to = None
            if origin is not None and sdp is not None:
                try:
                    back = self.media.answer(cid, origin.leg_id, leg.leg_id, sdp)
                except MediaError as exc:
                    self._media_failed(call, exc)
                    return
                origin.local_sdp = back
                self.sip.answer_update(cid, origin.leg_id, back)
                call_log(cid, "re-INVITE from leg %s answered by leg %s", origin.leg_id,
                         leg.leg_id)
                if call.state is CallState.BRIDGED:
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
            call.transition(CallState.RINGING)
            call.ring_attempts += 1
            call_log(cid, "calling agent %s at %s:%s (leg %s)", agent, *address, leg.leg_id)
            # Emitted when the INVITE goes out, where the ring timer starts (not at 180,
            # which some phones never send): ringing..no_answer spans the ring timeout.
            self._emit(cid, CALL_RINGING, agent=agent, seat=call.seats.get(agent, ""),
                       leg_id=leg.leg_id, attempt=str(call.ring_attempts))
            self._ring_timers[cid] = self.timers.call_later(
                call.ring_timeout_s, partial(self._ring_timeout, cid, leg.leg_id))
            self.sip.originate(cid, leg.leg_id, address=address, user=agent, sdp=offer,
                               caller=self._caller_numbers.get(cid))
            return
        call_log(cid, "no agent answered; caller stays parked")
        call.agent = None
        call.transition(CallState.PARKED)
        self._repark(call)

    def _ring_timeout(self, cid: str, leg_id: str) -> None:
        self._ring_timers.pop(cid, None)
        call, leg = self._find(cid, leg_id)
        if call is None or leg is None or call.agent is not leg or \
                call.state is not CallState.RINGING or leg.state is LegState.ENDED:
            return
        call_log(cid, "agent %s did not answer in %ss; cancelling leg %s", leg.target,
                 call.ring_timeout_s, leg_id)
        call.attempts.append((leg.target or "?", "no answer"))
        self._emit(cid, CALL_NO_ANSWER, agent=leg.target or "", leg_id=leg_id)
        leg.state = LegState.ENDED
        self.sip.hangup(cid, leg_id)
        self._try_next(call)

    def _cancel_ring_timer(self, cid: str) -> None:
        timer = self._ring_timers.pop(cid, None)
        if timer is not None:
            timer.cancel()

    def _stop_media(self, call: Call) -> None:
        try:
            self.media.stop_media(call.correlation_id, call.caller.leg_id)
        except MediaError as exc:  # nothing was playing
            call_log(call.correlation_id, "stop media: %s", exc, level=logging.DEBUG)

    def _media_failed(self, call: Call, exc: MediaError) -> None:
        call_log(call.correlation_id, "media server failed: %s; ending the call", exc,
                 level=logging.ERROR)
        self._end(call, "media failure", SIDE_SYSTEM)

    def _end(self, call: Call, cause: str, side: str) -> None:
        """End the call: hang up every live leg, free the media, write `call.ended`."""
        cid = call.correlation_id
        if call.state is CallState.ENDED:
            return
        self._cancel_ring_timer(cid)
        for leg in (call.caller, call.agent):
            if leg is not None and leg.state is not LegState.ENDED:
                leg.state = LegState.ENDED
                self.sip.hangup(cid, leg.leg_id)
        try:
            self.media.delete(cid)
        except MediaError as exc:  # e.g. never reached rtpengine
            call_log(cid, "rtpengine delete: %s", exc, level=logging.DEBUG)
        call.transition(CallState.ENDED)
        self.calls.pop(cid, None)
        self._caller_numbers.pop(cid, None)
        for key in [k for k in self._queued if k[0] == cid]:
            del self._queued[key]
        call_log(cid, "call ended (cause %s, side %s)", cause, side)
        self._emit(cid, CALL_ENDED, cause=cause, side=side)

    def _set_hold(self, call: Call, leg_id: str, held: bool) -> None:
        """Track which legs hold; `call.hold` when the first starts, `call.resume` at the last."""
        was_held = bool(call.held_by)
        if held:
            call.held_by.add(leg_id)
        else:
            call.held_by.discard(leg_id)
        if bool(call.held_by) != was_held:
            self._emit(call.correlation_id, CALL_HOLD if call.held_by else CALL_RESUME)

    def _emit(self, cid: str, kind: str, **data: str) -> None:
        """Publish one event; never lets a publishing problem reach call handling."""
        try:
            self.events.publish(Event.new(kind, correlation_id=cid, node=self.node,
                                          ts=self.clock(), **data))
        except Exception:  # a schema bug or a broken adapter must not drop the call
            self.events_failed += 1
            call_log(cid, "could not publish %s", kind, level=logging.ERROR)
            log.debug("publish failed", exc_info=True)
