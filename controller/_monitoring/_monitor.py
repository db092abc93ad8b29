"""Monitoring wired into the call service: supervisors' legs, the mixer conference of
a monitored call, mode switches, the keypad, transfers followed, failures.

Runs on the SIP loop like the service, which calls in here at a few points
(`CallService.monitoring`): SIP events of a supervisor's leg, every pairing of the
caller with its agent (`through_mixer`), a re-INVITE of a party paired with the mixer
(`reinvite`), and the end of the call (`call_ending`). docs/monitoring.md is the
contract; docs/call-control.md ("Monitoring") the sequences. The media steps are
`_mixer_media.MixerMedia`'s, a session's WAV `_session_recording`'s.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from controller._call import Call, CallLeg, CallPhase, InvalidTransitionError, LegRole, LegState
from controller._media import MediaError
from controller._monitoring._mixer import MixerError, MixerNode, MixerPool
from controller._monitoring._mixer_media import SUPERVISOR_PARK_TAG, MixerMedia, slot_of_tag
from controller._monitoring._session_recording import SessionRecorder
from controller._monitoring._sessions import (
    AGENT_SLOT,
    CALLER_SLOT,
    INTERCEPT,
    MODES,
    CallMonitors,
    Keypad,
    MonitorReport,
    MonitorSession,
    SessionState,
    monitor_call_id,
    split_monitor_call_id,
)
from controller._ports import Cancellable
from controller._sdp import is_hold, park_offer
from controller._service import CallService
from eventlog import (
    CALL_ANSWERED,
    CALL_TRANSFERRED,
    MONITOR_STARTED,
    MONITOR_STOPPED,
    MONITOR_SWITCHED,
)

__all__ = ["Monitoring", "UnknownSessionError"]

log = logging.getLogger("controller.monitoring")

_SESSION_ID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


class UnknownSessionError(ValueError):
    """No live monitoring session has this ID on this call."""


def _log(cid: str, message: str, *args: object, level: int = logging.INFO) -> None:
    log.log(level, "cid=%s " + message, cid, *args)


class Monitoring:
    """The monitored calls of one controller replica (SIP loop only)."""

    def __init__(
        self,
        service: CallService,
        pool: MixerPool,
        *,
        keys: Keypad | None = None,
        ring_timeout_s: float = 20.0,
        recording_dir: Path | None = None,
        ping_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.pool = pool
        self.media = MixerMedia(service, pool)
        self.keys = keys if keys is not None else Keypad()
        self.ring_timeout_s = ring_timeout_s
        self.recorder = SessionRecorder(recording_dir, self._emit)
        self.ping_interval_s = ping_interval_s
        self.clock = clock
        self.calls: dict[str, CallMonitors] = {}
        self._ring_timers: dict[tuple[str, str], Cancellable] = {}
        self._ping_timer: Cancellable | None = None
        # The ACD's ReportMonitor (controller/_acd_driver.py); None: no ACD.
        self.report: Callable[[MonitorReport], None] | None = None
        # How a keypad `*` intercepts on a call the ACD drives (it reserves the
        # supervisor first); None: `take_over` at once.
        self.intercept_route: Callable[[str, str, str], None] | None = None
        service.monitoring = self

    # ================================================================ commands

    def start(
        self,
        cid: str,
        supervisor: str,
        mode: str,
        *,
        session_id: str | None = None,
        record: bool = False,
        ring_timeout_s: float | None = None,
        requested_by: str = "",
    ) -> dict[str, object]:
        """Ring `supervisor` to monitor the call in `mode`; media goes through a mixer
        when it answers. Only an answered (bridged) call can be monitored."""
        service = self.service
        call = service._call(cid)
        if not self.pool:
            raise ValueError("monitoring needs a mixer (--mixer); none is configured")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        call.require(CallPhase.BRIDGED)
        agent = service._agent_leg(call)
        service._check_not_on_call(call, supervisor)
        monitors = self.calls.get(cid)
        if monitors is not None and any(
            s.supervisor == supervisor for s in monitors.sessions.values()
        ):
            raise ValueError(f"{supervisor} already monitors call {cid}")
        address = service.address_of(supervisor)
        if address is None:
            raise ValueError(f"unknown supervisor {supervisor}")
        session_id = session_id or secrets.token_hex(8)
        if not _SESSION_ID.match(session_id):
            raise ValueError(f"bad session {session_id!r}: 1-64 of 0-9 A-Z a-z . _ -")
        if monitors is not None and session_id in monitors.sessions:
            raise ValueError(f"session {session_id} exists already")
        if record and self.recorder.directory is None:
            _log(
                cid,
                "session %s: record asked, but no recording directory (recording: section); "
                "not recorded",
                session_id,
                level=logging.WARNING,
            )
            record = False
        if monitors is None:
            monitors = self.calls[cid] = CallMonitors(cid, agent=agent.target or "")
        leg = CallLeg(monitors.next_leg_id(), LegRole.AGENT, LegState.CALLING, target=supervisor)
        rtp_cid = monitor_call_id(cid, session_id)
        try:
            offer = service.media.offer(
                rtp_cid, SUPERVISOR_PARK_TAG, leg.leg_id, park_offer(*service.park_address)
            )
        except MediaError:
            if not monitors.sessions:
                del self.calls[cid]
            self._delete_rtp(cid, rtp_cid)
            raise
        leg.local_sdp, leg.media_peer = offer, SUPERVISOR_PARK_TAG
        session = MonitorSession(
            session_id, supervisor, mode, leg, requested_by=requested_by, record=record
        )
        monitors.sessions[session_id] = session
        timeout_s = self.ring_timeout_s if ring_timeout_s is None else ring_timeout_s
        self._ring_timers[(cid, session_id)] = service.timers.call_later(
            timeout_s, partial(self._ring_timeout, cid, session_id)
        )
        _log(
            cid,
            "session %s: ringing supervisor %s at %s:%s (leg %s) to %s agent %s",
            session_id,
            supervisor,
            *address,
            leg.leg_id,
            mode,
            agent.target,
        )
        service.sip.originate(
            cid,
            leg.leg_id,
            address=address,
            user=supervisor,
            sdp=offer,
            caller=agent.target or None,
        )
        return self.describe(cid)

    def switch(
        self, cid: str, session_id: str, mode: str, by: str = "dashboard"
    ) -> dict[str, object]:
        """Change who hears the supervisor: a mixer command only (no SIP).
        `intercept`: the supervisor takes the caller over (`take_over`)."""
        call = self.service._call(cid)
        monitors, session = self._session(cid, session_id)
        if mode == INTERCEPT:
            return self.take_over(cid, session_id)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)} or intercept, not {mode!r}")
        previous = session.mode
        if mode == previous:
            return self.describe(cid)
        session.mode = mode
        if session.state is not SessionState.ACTIVE:
            return self.describe(cid)  # it applies when the supervisor answers
        if monitors.mixer is not None:
            try:
                self.media.hear(call, monitors)
            except MixerError as exc:
                self._mixer_failed(call, monitors, exc)
                raise
        _log(cid, "session %s: %s -> %s (%s)", session_id, previous, mode, by)
        self._emit(
            cid,
            MONITOR_SWITCHED,
            session=session_id,
            supervisor=session.supervisor,
            agent=monitors.agent,
            mode=mode,
            previous=previous,
            by=by,
        )
        self._report(monitors, session, "active", "")
        return self.describe(cid)

    def stop(self, cid: str, session_id: str) -> dict[str, object]:
        """End a session as asked: the supervisor's leg is hung up, the call goes on."""
        call = self.service._call(cid)
        monitors, session = self._session(cid, session_id)
        self._end_session(call, monitors, session, "requested")
        return self.describe(cid)

    def check_take_over(self, cid: str, session_id: str) -> dict[str, object]:
        """Would `take_over` be accepted now? Raises its refusal; changes nothing. Its
        result names the supervisor's leg (the ACD driver's reservation follows it)."""
        call = self.service._call(cid)
        _, session = self._session(cid, session_id)
        self._take_over_checks(call, session)
        return {**call.describe(), "leg_id": session.leg.leg_id, "supervisor": session.supervisor}

    def take_over(self, cid: str, session_id: str) -> dict[str, object]:
        """The supervisor takes the caller on the leg it has; the agent is released.

        Every session of the call ends (`intercept`), the conference is deleted, and the
        supervisor's leg moves from its own rtpengine call into the call's, paired with
        the caller directly; it is the call's agent from now on. The events are those of
        an intercept whose supervisor answers (`call.transferred` mode intercept,
        `call.answered`)."""
        service = self.service
        call = service._call(cid)
        monitors, session = self._session(cid, session_id)
        self._take_over_checks(call, session)
        old = service._agent_leg(call)
        leg = session.leg
        for other in list(monitors.sessions.values()):
            if other is not session:
                self._end_session(call, monitors, other, INTERCEPT, reconnect=False)
        self._stop_recording(call, monitors)
        self._finish(call, monitors, session, INTERCEPT)
        self.media.close(call, monitors, reconnect=False)
        self._delete_rtp(cid, monitor_call_id(cid, session_id))
        self.calls.pop(cid, None)
        leg.media_peer = None
        call.consult = leg
        call.attempts.append((leg.target or "?", "answered"))
        try:
            service._pair_media(call, call.caller, leg)
        except MediaError as exc:
            service._media_failed(call, exc)
            return call.describe()
        service._leave(call, old)
        call.promote_consult()
        _log(cid, "supervisor %s took the call from agent %s", leg.target, old.target)
        service._emit(
            cid,
            CALL_TRANSFERRED,
            from_agent=old.target or "",
            to_kind="agent",
            to=leg.target or "",
            mode="intercept",
        )
        service._emit(
            cid,
            CALL_ANSWERED,
            agent=leg.target or "",
            seat=call.seats.get(leg.target or "", ""),
            leg_id=leg.leg_id,
        )
        return call.describe()

    def reports(self, cid: str) -> list[MonitorReport]:
        """The call's answered sessions as the ACD should see them now."""
        monitors = self.calls.get(cid)
        if monitors is None:
            return []
        return [
            MonitorReport(cid, s.session_id, "active", s.mode, monitors.agent)
            for s in monitors.active()
        ]

    def supervisor_of(self, cid: str, session_id: str) -> str:
        return self._session(cid, session_id)[1].supervisor

    def describe(self, cid: str | None = None) -> dict[str, object]:
        if cid is not None:
            monitors = self.calls.get(cid)
            return {"cid": cid, **(self._describe(monitors) if monitors else {"sessions": []})}
        return {
            "mixers": [
                {
                    "name": node.name,
                    "address": f"{node.address[0]}:{node.address[1]}",
                    "healthy": node.healthy(),
                    "conferences": len(node.conferences),
                }
                for node in self.pool.nodes
            ],
            "calls": {cid: self._describe(m) for cid, m in self.calls.items()},
        }

    @staticmethod
    def _describe(monitors: CallMonitors) -> dict[str, object]:
        return {
            "mixer": monitors.mixer,
            "agent": monitors.agent,
            "sessions": [
                {
                    "session": s.session_id,
                    "supervisor": s.supervisor,
                    "mode": s.mode,
                    "state": s.state.value,
                    "leg": s.leg.leg_id,
                    "updating": s.leg.pending_update,
                    "recording_ref": s.recording_ref,
                }
                for s in monitors.sessions.values()
            ],
        }

    # ======================================================= the service's hooks

    def owns(self, cid: str, leg_id: str) -> bool:
        """Is `leg_id` a supervisor's leg of this call (its SIP events come here)?"""
        monitors = self.calls.get(cid)
        return monitors is not None and monitors.by_leg(leg_id) is not None

    def owns_media(self, cid: str) -> bool:
        """Does the call have a conference (its parties pair with the mixer)?"""
        monitors = self.calls.get(cid)
        return monitors is not None and monitors.mixer is not None

    def ringing(self, cid: str, leg_id: str) -> None:
        found = self._by_leg(cid, leg_id)
        if found is not None and found[2].leg.state is LegState.CALLING:
            found[2].leg.state = LegState.RINGING

    def answered(self, cid: str, leg_id: str, sdp: str | None) -> None:
        """A 200 from a supervisor: to our INVITE (the session starts) or re-INVITE."""
        found = self._by_leg(cid, leg_id)
        if found is None:
            return
        call, monitors, session = found
        leg = session.leg
        if leg.state is LegState.ENDED:
            return
        if leg.pending_update:
            self.service._update_answered(call, leg, sdp)
            return
        if leg.state not in (LegState.CALLING, LegState.RINGING):
            return
        self._cancel_ring_timer(cid, session.session_id)
        leg.state, leg.remote_sdp = LegState.ANSWERED, sdp
        if sdp is None:
            _log(
                cid, "supervisor %s answered without SDP", session.supervisor, level=logging.WARNING
            )
            self._end_session(call, monitors, session, "no_answer")
            return
        try:
            self._activate(call, monitors, session)
        except MixerError as exc:
            self._mixer_failed(call, monitors, exc)
        except MediaError as exc:
            self._media_failed(call, monitors, session, exc)

    def failed(self, cid: str, leg_id: str, code: int, reason: str) -> None:
        found = self._by_leg(cid, leg_id)
        if found is None:
            return
        call, monitors, session = found
        leg = session.leg
        if leg.pending_update:
            leg.pending_update = False
            _log(cid, "re-INVITE to supervisor leg %s failed: %s %s", leg_id, code, reason)
            return
        if leg.state is LegState.ENDED:
            return
        was, leg.state = leg.state, LegState.ENDED
        if was in (LegState.CALLING, LegState.RINGING):
            _log(cid, "supervisor %s refused: %s %s", session.supervisor, code, reason)
            self._end_session(call, monitors, session, "no_answer")
        else:
            self._end_session(call, monitors, session, "supervisor_hangup")

    def ended(self, cid: str, leg_id: str) -> None:
        found = self._by_leg(cid, leg_id)
        if found is None:
            return
        call, monitors, session = found
        leg = session.leg
        if leg.state is LegState.ENDED:
            return
        was, leg.state = leg.state, LegState.ENDED
        reason = "no_answer" if was in (LegState.CALLING, LegState.RINGING) else "supervisor_hangup"
        self._end_session(call, monitors, session, reason)

    def supervisor_reinvite(self, cid: str, leg_id: str, sdp: str | None) -> None:
        """A supervisor's re-INVITE (a new address, hold): joined to the mixer again."""
        found = self._by_leg(cid, leg_id)
        if found is None:
            return
        call, monitors, session = found
        leg = session.leg
        if sdp is None or leg.pending_update:
            self.service.sip.reject_update(
                cid,
                leg_id,
                491 if sdp else 488,
                "Request Pending" if sdp else "Not Acceptable Here",
            )
            return
        node = self.media.node(monitors)
        if node is None or session.state is not SessionState.ACTIVE:
            self.service.sip.reject_update(cid, leg_id, 488, "Not Acceptable Here")
            return
        leg.remote_sdp = sdp
        try:
            answer = self.media.join_supervisor(call, node, session)
        except MixerError as exc:
            self.service.sip.reject_update(cid, leg_id, 500, "Mixer Failed")
            self._mixer_failed(call, monitors, exc)
            return
        except MediaError as exc:
            self.service.sip.reject_update(cid, leg_id, 500, "Media Failed")
            self._media_failed(call, monitors, session, exc)
            return
        leg.local_sdp = answer
        self.service.sip.answer_update(cid, leg_id, answer)

    def reinvite(self, call: Call, leg: CallLeg, sdp: str) -> bool:
        """A re-INVITE from the caller or agent while it is paired with the mixer: the
        mixer's slot takes its new address; True if handled here (answered)."""
        monitors = self.calls.get(call.correlation_id)
        slot = slot_of_tag(leg.media_peer)
        if monitors is None or slot is None:
            return False
        node = self.media.node(monitors)
        if node is None:
            return False
        cid = call.correlation_id
        if leg.pending_update:
            self.service.sip.reject_update(cid, leg.leg_id, 491, "Request Pending")
            return True
        try:
            answer = self.media.join_party(call, node, leg, slot, update=False)
        except MixerError as exc:
            # Answered from the direct pairing that follows the failure.
            self._mixer_failed(call, monitors, exc)
            return False
        leg.local_sdp = answer
        self.service.sip.answer_update(cid, leg.leg_id, answer)
        _log(cid, "re-INVITE from leg %s answered by the mixer's %s slot", leg.leg_id, slot)
        # A hold is still one for the call's events (the mixer sends the holder nothing).
        self.service._set_hold(call, leg.leg_id, is_hold(sdp))
        return True

    def through_mixer(self, call: Call, first: CallLeg, second: CallLeg) -> bool:
        """The service pairs the caller with its (new) agent: while the call has a
        conference, both go to the mixer instead (a transfer, a consult that ends).
        True if done here."""
        monitors = self.calls.get(call.correlation_id)
        node = None if monitors is None else self.media.node(monitors)
        if monitors is None or node is None or call.caller not in (first, second):
            return False
        other = second if first is call.caller else first
        try:
            self.media.join_party(call, node, call.caller, CALLER_SLOT)
            self.media.join_party(call, node, other, AGENT_SLOT)
            self.media.hear(call, monitors)
        except MixerError as exc:
            self._mixer_failed(call, monitors, exc, agent=other)
            return True
        agent = other.target or ""
        if agent != monitors.agent:
            _log(call.correlation_id, "monitoring follows the call to agent %s", agent)
            monitors.agent = agent
            for session in monitors.active():
                self._report(monitors, session, "active", "")
        return True

    def call_ending(self, call: Call) -> None:
        """The call ends: every session ends (`call_ended`), supervisors are hung up."""
        monitors = self.calls.get(call.correlation_id)
        if monitors is None:
            return
        for session in list(monitors.sessions.values()):
            self._end_session(call, monitors, session, "call_ended", reconnect=False)
        self.calls.pop(call.correlation_id, None)

    def dtmf(self, cid: str, leg_id: str, digit: str) -> bool:
        """A supervisor's key (SIP INFO in its dialog); True if it was one of theirs."""
        found = self._by_leg(cid, leg_id)
        if found is None:
            return False
        _, _, session = found
        self._key(cid, session, digit)
        return True

    def rtpengine_dtmf(self, rtp_cid: str, tag: str, digit: str) -> bool:
        """A DTMF event rtpengine reports; True if it is a supervisor's (its own call)."""
        named = split_monitor_call_id(rtp_cid)
        if named is None:
            return False
        cid, session_id = named
        monitors = self.calls.get(cid)
        session = None if monitors is None else monitors.sessions.get(session_id)
        if session is not None and session.leg.leg_id == tag:
            self._key(cid, session, digit)
        return True

    def ping(self) -> None:
        """Ask the mixers of live conferences which they hold: calls on one that does
        not answer, or that lost their conference (restarted), go back to direct media
        (`mixer_failed`). Re-armed while any conference exists."""
        self._ping_timer = None
        for node in self.pool.nodes:
            if not node.conferences:
                continue
            try:
                held = node.list()
                lost, why = (
                    node.conferences - held,
                    MixerError(f"mixer {node.name} no longer holds the conference (restarted?)"),
                )
            except MixerError as exc:
                lost, why = set(node.conferences), exc
            for cid in sorted(lost):
                monitors = self.calls.get(cid)
                call = self.service.calls.get(cid)
                if monitors is None or call is None or monitors.mixer != node.name:
                    node.conferences.discard(cid)
                    continue
                self._mixer_failed(call, monitors, why)
        self._arm_ping()

    def close(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self.pool.close()

    # ================================================================== steps

    def _key(self, cid: str, session: MonitorSession, digit: str) -> None:
        action = self.keys.action(digit)
        if action is None or session.state is not SessionState.ACTIVE:
            return
        _log(cid, "session %s: key for %s", session.session_id, action)
        try:
            if action == INTERCEPT:
                if self.intercept_route is not None:
                    self.intercept_route(cid, session.session_id, session.supervisor)
                else:
                    self.take_over(cid, session.session_id)
            else:
                self.switch(cid, session.session_id, action, by="keypad")
        except (ValueError, InvalidTransitionError, MixerError, MediaError) as exc:
            _log(cid, "session %s: key refused: %s", session.session_id, exc, level=logging.WARNING)

    def _activate(self, call: Call, monitors: CallMonitors, session: MonitorSession) -> None:
        """The supervisor answered: the conference (opened on the first answer, the
        parties joined if they talk), the supervisor's slot, who hears whom, events."""
        cid, leg = call.correlation_id, session.leg
        node = self.media.node(monitors)
        if node is None:
            node = self.media.open(call, monitors)
            self._arm_ping()
        back = self.media.join_supervisor(call, node, session)
        session.state, session.started_at = SessionState.ACTIVE, self.clock()
        self.media.hear(call, monitors)
        self.service._send_update(call, leg, back, only_if_changed=True)
        if session.record and monitors.recording is None:
            self._start_recording(call, monitors, node, session)
        _log(
            cid,
            "session %s: %s %ss agent %s through mixer %s",
            session.session_id,
            session.supervisor,
            session.mode,
            monitors.agent,
            node.name,
        )
        self._emit(
            cid,
            MONITOR_STARTED,
            session=session.session_id,
            supervisor=session.supervisor,
            agent=monitors.agent,
            mode=session.mode,
            by=session.by,
            requested_by=session.requested_by,
            mixer=node.name,
            recording_ref=session.recording_ref,
        )
        self._report(monitors, session, "active", "")

    def _end_session(
        self,
        call: Call,
        monitors: CallMonitors,
        session: MonitorSession,
        reason: str,
        *,
        reconnect: bool = True,
    ) -> None:
        """One session ends: its leg hung up, its slot left, its rtpengine call deleted,
        `monitor.stopped`. The last answered one closes the conference; `reconnect`: the
        caller and agent are paired directly again (not when the call ends)."""
        cid, leg = call.correlation_id, session.leg
        self._cancel_ring_timer(cid, session.session_id)
        self.service._queued.pop((cid, leg.leg_id), None)
        if leg.state is not LegState.ENDED:
            leg.state = LegState.ENDED
            self.service.sip.hangup(cid, leg.leg_id)
        leg.pending_update = False
        node = self.media.node(monitors)
        if monitors.recording is session:
            self._stop_recording(call, monitors)
        if node is not None and session.state is SessionState.ACTIVE and reconnect:
            try:
                node.leave(cid, session.slot)
            except MixerError as exc:
                _log(cid, "mixer leave of %s: %s", session.slot, exc, level=logging.WARNING)
        self._delete_rtp(cid, monitor_call_id(cid, session.session_id))
        self._finish(call, monitors, session, reason)
        if not monitors.active() and monitors.mixer is not None:
            self.media.close(call, monitors, reconnect=reconnect)
        elif monitors.active() and reconnect:
            try:
                self.media.hear(call, monitors)
            except MixerError as exc:
                self._mixer_failed(call, monitors, exc)
                return
        if not monitors.sessions:
            self.calls.pop(cid, None)

    def _finish(
        self, call: Call, monitors: CallMonitors, session: MonitorSession, reason: str
    ) -> None:
        """Forget the session; `monitor.stopped`, ReportMonitor ENDED."""
        monitors.sessions.pop(session.session_id, None)
        duration = 0 if session.started_at is None else self.clock() - session.started_at
        _log(
            call.correlation_id,
            "session %s of %s ended: %s",
            session.session_id,
            session.supervisor,
            reason,
        )
        self._emit(
            call.correlation_id,
            MONITOR_STOPPED,
            session=session.session_id,
            supervisor=session.supervisor,
            agent=monitors.agent,
            reason=reason,
            duration_ms=str(max(0, round(duration * 1000))),
        )
        self._report(monitors, session, "ended", reason)

    def _mixer_failed(
        self, call: Call, monitors: CallMonitors, exc: MixerError, *, agent: CallLeg | None = None
    ) -> None:
        """The mixer failed a command or stopped answering: direct media again, every
        supervisor hung up (`mixer_failed`). The call goes on."""
        cid = call.correlation_id
        _log(cid, "mixer failed: %s; monitoring ends, direct media again", exc, level=logging.ERROR)
        node = self.media.node(monitors)
        self.media.drop(monitors)
        monitors.recording = None  # its file is the mixer's; nothing more to ask it
        for session in list(monitors.sessions.values()):
            self._end_session(call, monitors, session, "mixer_failed", reconnect=False)
        self.calls.pop(cid, None)
        self.media.reconnect(call, agent)
        if node is not None and node.healthy():
            with contextlib.suppress(MixerError):
                node.delete(cid)

    def _media_failed(
        self, call: Call, monitors: CallMonitors, session: MonitorSession, exc: MediaError
    ) -> None:
        """rtpengine failed on a supervisor's pairing: that session ends; if it was the
        call's own rtpengine call, the service ends the call as for any media failure."""
        _log(
            call.correlation_id,
            "rtpengine failed for session %s: %s",
            session.session_id,
            exc,
            level=logging.ERROR,
        )
        self._end_session(call, monitors, session, "mixer_failed")

    # ------------------------------------------------------------- recording

    def _start_recording(
        self, call: Call, monitors: CallMonitors, node: MixerNode, session: MonitorSession
    ) -> None:
        cid = call.correlation_id
        self.recorder.start(
            cid,
            node,
            session,
            [s.slot for s in monitors.active()],
            caller=self.service._caller_numbers.get(cid) or "",
            agent=monitors.agent,
        )
        monitors.recording = session

    def _stop_recording(self, call: Call, monitors: CallMonitors) -> None:
        session, node = monitors.recording, self.media.node(monitors)
        monitors.recording = None
        if session is not None and node is not None:
            self.recorder.stop(call.correlation_id, node, session)

    # --------------------------------------------------------------- helpers

    def _take_over_checks(self, call: Call, session: MonitorSession) -> None:
        call.require(CallPhase.BRIDGED)
        self.service._agent_leg(call)
        self.service._require_no_relay(call)
        if session.state is not SessionState.ACTIVE:
            raise InvalidTransitionError(
                f"session {session.session_id}: the supervisor has not answered yet"
            )
        if call.consult is not None:
            raise InvalidTransitionError(f"call {call.correlation_id} has a consult leg")

    def _session(self, cid: str, session_id: str) -> tuple[CallMonitors, MonitorSession]:
        monitors = self.calls.get(cid)
        session = None if monitors is None else monitors.sessions.get(session_id)
        if monitors is None or session is None:
            raise UnknownSessionError(f"no monitoring session {session_id} on call {cid}")
        return monitors, session

    def _by_leg(self, cid: str, leg_id: str) -> tuple[Call, CallMonitors, MonitorSession] | None:
        monitors = self.calls.get(cid)
        call = self.service.calls.get(cid)
        session = None if monitors is None else monitors.by_leg(leg_id)
        if call is None or monitors is None or session is None:
            return None
        return call, monitors, session

    def _ring_timeout(self, cid: str, session_id: str) -> None:
        self._ring_timers.pop((cid, session_id), None)
        monitors = self.calls.get(cid)
        session = None if monitors is None else monitors.sessions.get(session_id)
        call = self.service.calls.get(cid)
        if call is None or monitors is None or session is None:
            return
        if session.leg.state not in (LegState.CALLING, LegState.RINGING):
            return
        _log(cid, "supervisor %s did not answer in time", session.supervisor)
        self._end_session(call, monitors, session, "no_answer")

    def _cancel_ring_timer(self, cid: str, session_id: str) -> None:
        timer = self._ring_timers.pop((cid, session_id), None)
        if timer is not None:
            timer.cancel()

    def _arm_ping(self) -> None:
        if self._ping_timer is None and any(n.conferences for n in self.pool.nodes):
            self._ping_timer = self.service.timers.call_later(self.ping_interval_s, self.ping)

    def _delete_rtp(self, cid: str, rtp_cid: str) -> None:
        try:
            self.service.media.delete(rtp_cid)
        except MediaError as exc:
            _log(cid, "rtpengine delete of %s: %s", rtp_cid, exc, level=logging.DEBUG)

    def _report(
        self, monitors: CallMonitors, session: MonitorSession, state: str, reason: str
    ) -> None:
        if self.report is None:
            return
        try:
            self.report(
                MonitorReport(
                    monitors.cid, session.session_id, state, session.mode, monitors.agent, reason
                )
            )
        except Exception:  # the ACD's bookkeeping must never break the call
            _log(monitors.cid, "ReportMonitor hook failed", level=logging.ERROR)
            log.debug("report failed", exc_info=True)

    def _emit(self, cid: str, kind: str, **data: Any) -> None:
        self.service._emit(cid, kind, **data)
