"""The command layer: a transport-neutral request dict in, a reply dict out.

Transports (the line-based control socket now, gRPC for the ACD later) parse
their wire format into `{"cmd": ..., ...}` and hand it to `Commands.execute` on
the event-loop thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from controller._call import InvalidTransitionError
from controller._drain import Drain
from controller._media import MediaError, MediaServer
from controller._monitoring import MixerError, Monitoring
from controller._recording import CallRecorder
from controller._service import CallService, UnknownCallError


class CommandError(Exception):
    """A malformed command (unknown name, missing argument)."""


def _arg(request: Mapping[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value:
        raise CommandError(f"missing argument {name!r}")
    return value


def _optional_arg(request: Mapping[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise CommandError(f"{name} must be a non-empty string")
    return value


# An ACD call ID as it goes into a SIP header (X-Huaan-Call-Id): a correlation ID, or a
# reservation's `<cid>.consult1`; nothing that could break the header.
_ACD_CALL_ID = re.compile(r"[0-9A-Za-z._:@-]{1,128}")


def _acd_call_id(request: Mapping[str, Any]) -> str | None:
    """`acd_call_id`: the ACD call an agent is rung for (the Offer's call ID), or None."""
    value = _optional_arg(request, "acd_call_id")
    if value is not None and _ACD_CALL_ID.fullmatch(value) is None:
        raise CommandError(f"acd_call_id must be 1..128 of 0-9 A-Z a-z . _ : @ -, not {value!r}")
    return value


def _agents(request: Mapping[str, Any], cmd: str) -> list[str]:
    """`agents`: a list of agent ids, or one comma-separated string."""
    agents = request.get("agents")
    if isinstance(agents, str):
        agents = [a for a in agents.split(",") if a]
    if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
        raise CommandError(f"{cmd} needs 'agents': a list of agent ids")
    return agents


def _ring_timeout(request: Mapping[str, Any]) -> float | None:
    timeout = request.get("ring_timeout_s")
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise CommandError("ring_timeout_s must be a number of seconds above 0")
    return float(timeout)


# Final responses `hangup` may refuse an unanswered caller with (`code`).
REFUSALS: dict[int, str] = {
    403: "Forbidden",
    404: "Not Found",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    503: "Service Unavailable",
    603: "Decline",
}


def _refusal(request: Mapping[str, Any]) -> tuple[int, str] | None:
    code = request.get("code")
    if code is None:
        return None
    if isinstance(code, bool) or not isinstance(code, int) or code not in REFUSALS:
        raise CommandError(f"code must be one of {sorted(REFUSALS)}")
    return code, REFUSALS[code]


def _seats(request: Mapping[str, Any]) -> dict[str, str]:
    seats = request.get("seats") or {}
    if not isinstance(seats, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in seats.items()
    ):
        raise CommandError("seats must map agent ids to seat names")
    return seats


class Commands:
    def __init__(
        self,
        service: CallService,
        media: MediaServer,
        sip_status: Callable[[], Mapping[str, int]],
        event_stats: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.service = service
        self.media = media
        self.sip_status = sip_status
        self.event_stats = event_stats
        # Set once the dead-leg checker runs (it starts after the control socket).
        self.liveness_stats: Callable[[], Mapping[str, Any]] | None = None
        # The SIP adapter's drain switch (`drain`), and the IVR host's view (`ivr`).
        self.drain: Drain | None = None
        self.ivr_stats: Callable[[], Mapping[str, Any]] | None = None
        self.ivr_calls: Callable[[], int] | None = None
        # DTMF: the SIP adapter's INFO counts, and the rtpengine event feed's state.
        self.info_stats: Callable[[], Mapping[str, int]] | None = None
        self.dtmf_feed_stats: Callable[[], Mapping[str, Any]] | None = None
        # The calls' recordings (controller/_recording.py), for the `recording` command.
        self.recorder: CallRecorder | None = None
        # The voicemail host's calls and results (controller/_voicemail.py), `voicemail`.
        self.voicemail_stats: Callable[[], Mapping[str, Any]] | None = None
        # Supervisor monitoring (controller/_monitoring); None: `monitor` is refused.
        self.monitoring: Monitoring | None = None

    def execute(self, request: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return {"ok": True, "result": self._dispatch(request)}
        except (CommandError, InvalidTransitionError, ValueError, MediaError, MixerError) as exc:
            return {"ok": False, "error": str(exc)}
        except UnknownCallError as exc:
            return {"ok": False, "error": f"no such call {exc.args[0]}"}

    def _dispatch(self, request: Mapping[str, Any]) -> Any:
        handler = self._handlers.get(str(request.get("cmd")))
        if handler is None:
            raise CommandError(f"unknown command {request.get('cmd')!r}")
        return handler(request)

    @property
    def _handlers(self) -> dict[str, Callable[[Mapping[str, Any]], Any]]:
        service = self.service
        return {
            "ping": lambda r: "pong",
            "calls": lambda r: service.describe_calls(),
            "call": lambda r: service.describe_call(_arg(r, "cid")),
            "status": lambda r: self._status(),
            "events": lambda r: self._events(),
            "liveness": lambda r: self._liveness(),
            "drain": self._drain,
            "ivr": lambda r: self._ivr(),
            "voicemail": lambda r: (
                {"enabled": False}
                if self.voicemail_stats is None
                else {"enabled": True, **self.voicemail_stats()}
            ),
            "dtmf": self._dtmf,
            "recording": self._recording,
            "answer": lambda r: service.answer(_arg(r, "cid")),
            "play": lambda r: service.play(_arg(r, "cid"), _arg(r, "file")),
            "stop_media": lambda r: service.stop_media(_arg(r, "cid")),
            "connect": self._connect,
            "release": lambda r: service.release(_arg(r, "cid")),
            "hangup": lambda r: service.hangup(_arg(r, "cid"), _refusal(r)),
            "transfer": lambda r: service.transfer(
                _arg(r, "cid"),
                _agents(r, "transfer"),
                _ring_timeout(r),
                _seats(r),
                acd_call_id=_acd_call_id(r),
            ),
            "consult": lambda r: service.consult(
                _arg(r, "cid"),
                _arg(r, "agent"),
                _ring_timeout(r),
                _optional_arg(r, "hold_file"),
                acd_call_id=_acd_call_id(r),
            ),
            "complete_transfer": lambda r: service.complete_transfer(_arg(r, "cid")),
            "cancel_consult": lambda r: service.cancel_consult(_arg(r, "cid")),
            "intercept": lambda r: service.intercept(
                _arg(r, "cid"), _arg(r, "agent"), _ring_timeout(r), acd_call_id=_acd_call_id(r)
            ),
            "cancel_intercept": lambda r: service.cancel_intercept(_arg(r, "cid")),
            "monitors": self._monitors,
            "monitor": self._monitor,
            "monitor_switch": lambda r: self._monitoring().switch(
                _arg(r, "cid"), _arg(r, "session"), _arg(r, "mode")
            ),
            "monitor_stop": lambda r: self._monitoring().stop(_arg(r, "cid"), _arg(r, "session")),
            "monitor_intercept": lambda r: self._monitoring().take_over(
                _arg(r, "cid"), _arg(r, "session")
            ),
            "check_monitor_intercept": lambda r: self._monitoring().check_take_over(
                _arg(r, "cid"), _arg(r, "session")
            ),
            "check_consult": self._check_consult,
            "check_intercept": self._check_intercept,
            "originate": lambda r: service.originate(
                _arg(r, "agent"),
                _arg(r, "number"),
                _optional_arg(r, "caller_id"),
                _ring_timeout(r),
                _optional_arg(r, "cid"),
                acd_call_id=_acd_call_id(r),
            ),
        }

    def _status(self) -> dict[str, Any]:
        try:
            sessions = len(self.media.list_calls())
        except MediaError:
            sessions = -1
        return {
            "calls": len(self.service.calls),
            "media_sessions": sessions,
            **self.sip_status(),
            "draining": self.drain is not None and self.drain.active,
            **self._ivr_left(),
        }

    def _drain(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Stop taking new calls (`on`, default true), or take them again; the calls in
        progress run to their end (controller/_drain.py)."""
        on = request.get("on", True)
        if not isinstance(on, bool):
            raise CommandError("on must be true or false")
        if self.drain is None:
            raise CommandError("this controller cannot drain (no SIP adapter)")
        return {**self.drain.set(on), "calls": len(self.service.calls), **self._ivr_left()}

    def _ivr_left(self) -> dict[str, int]:
        """The calls still in the IVR (a draining replica waits for them too)."""
        return {"ivr_calls": 0 if self.ivr_calls is None else self.ivr_calls()}

    def _ivr(self) -> dict[str, Any]:
        """The IVR's flows, last reload error, calls in progress and per-node counts."""
        if self.ivr_stats is None:
            return {"enabled": False}
        return {"enabled": True, **self.ivr_stats()}

    def _events(self) -> dict[str, Any]:
        """The event publisher's counters (published, dropped, queued, ...)."""
        stats: dict[str, Any] = {"enabled": False}
        if self.event_stats is not None:
            stats = dict(self.event_stats())
        stats["publish_errors"] = self.service.events_failed
        return stats

    def _liveness(self) -> dict[str, Any]:
        """Dead-leg detection as it runs: its settings and counters, or enabled False."""
        if self.liveness_stats is None:
            return {"enabled": False}
        return dict(self.liveness_stats())

    def _recording(self, request: Mapping[str, Any]) -> Any:
        """Without `op`: the recorder's counters and the calls being recorded. With
        `cid` and `op` (`start`, `pause`, `resume`, `stop`): an operator's or a test's
        on-demand recording (`start`: `name`; `pause`: reason `agent`); the call's state
        after it."""
        recorder = self.recorder
        if recorder is None:
            raise CommandError("this controller records nothing")
        op = _optional_arg(request, "op")
        if op is None:
            return recorder.describe()
        cid = _arg(request, "cid")
        self.service.describe_call(cid)  # no such call: the usual refusal
        if op == "start":
            recorder.start(cid, reason="on_demand", name=_optional_arg(request, "name") or "")
        elif op == "pause":
            recorder.pause(cid, "agent")
        elif op == "resume":
            recorder.resume(cid)
        elif op == "stop":
            recorder.stop(cid)
        else:
            raise CommandError(f"op must be start, pause, resume or stop, not {op!r}")
        return {"cid": cid, "state": recorder.state(cid), "ref": recorder.ref(cid)}

    def _dtmf(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """DTMF counters; with `cid`, that live call's digits (only with --dtmf-record)."""
        cid = _optional_arg(request, "cid")
        if cid is not None:
            self.service.describe_call(cid)  # no such call: the usual refusal
            return {"cid": cid, "digits": self.service.dtmf.digits_of(cid)}
        stats: dict[str, Any] = dict(self.service.dtmf.stats())
        stats["inband_detection"] = self.service.inband_dtmf
        stats["info"] = {} if self.info_stats is None else dict(self.info_stats())
        stats["rtpengine"] = (
            {"enabled": False}
            if self.dtmf_feed_stats is None
            else {"enabled": True, **self.dtmf_feed_stats()}
        )
        return stats

    # What the ACD driver asks before it reserves a target: the command's own refusals,
    # its arguments' included (parsed and dropped here), with no side effect.
    def _check_consult(self, request: Mapping[str, Any]) -> Any:
        _ring_timeout(request)
        _optional_arg(request, "hold_file")
        return self.service.check_consult(_arg(request, "cid"), _arg(request, "agent"))

    def _check_intercept(self, request: Mapping[str, Any]) -> Any:
        _ring_timeout(request)
        return self.service.check_intercept(_arg(request, "cid"), _arg(request, "agent"))

    def _monitoring(self) -> Monitoring:
        if self.monitoring is None:
            raise CommandError("monitoring is not configured on this controller (--mixer)")
        return self.monitoring

    def _monitors(self, request: Mapping[str, Any]) -> Any:
        """The mixers and the monitored calls; with `cid`, that call's sessions."""
        if self.monitoring is None:
            return {"enabled": False}
        return {"enabled": True, **self.monitoring.describe(_optional_arg(request, "cid"))}

    def _monitor(self, request: Mapping[str, Any]) -> Any:
        """`monitor {cid, supervisor, mode, session?, record?, ring_timeout_s?,
        requested_by?}`: ring the supervisor to listen, whisper or barge."""
        record = request.get("record", False)
        if not isinstance(record, bool):
            raise CommandError("record must be true or false")
        return self._monitoring().start(
            _arg(request, "cid"),
            _arg(request, "supervisor"),
            _arg(request, "mode"),
            session_id=_optional_arg(request, "session"),
            record=record,
            ring_timeout_s=_ring_timeout(request),
            requested_by=_optional_arg(request, "requested_by") or "",
        )

    def _connect(self, request: Mapping[str, Any]) -> Any:
        return self.service.connect(
            _arg(request, "cid"),
            _agents(request, "connect"),
            _ring_timeout(request),
            _seats(request),
            acd_call_id=_acd_call_id(request),
        )
