"""The Sippy adapter: one Sippy `UA` per leg, SIP events in, leg actions out.

Runs on Sippy's event loop (ED2), which must be the process's main loop: only
there does a cross-thread call wake it at once (0.1 ms); from another thread it
waits for the next 10 ms tick (docs/call-control.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Protocol

from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventInfo,
    CCEventRedirect,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody
from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipConf import SipConf
from sippy.SipContact import SipContact
from sippy.SipGenericHF import SipGenericHF
from sippy.SipHeader import SipHeader
from sippy.SipReason import SipReason
from sippy.SipURL import SipURL
from sippy.Time.Timeout import Timeout
from sippy.UA import UA
from sippy.UacStateUpdating import UacStateUpdating
from sippy.UasStateUpdating import UasStateUpdating
from sippy.UaStateConnected import UaStateConnected

from controller import _sippy_fixes
from controller._drain import DRAINING_RESPONSE, Drain
from controller._dtmf import INFO_ACCEPT, InfoVerdict, info_verdict

log = logging.getLogger("controller.sip")
CORRELATION_HEADER = "X-CC-Correlation-ID"
CATEGORY_HEADER = "X-CC-Category"
# On the INVITE to an agent: the ACD call it is rung for (the Offer's call_id), which a
# softphone pairs with the offer its desktop shows (docs/desktop.md).
ACD_CALL_ID_HEADER = "X-Huaan-Call-Id"  # the business category (call.arrived `category`)
# Methods that only exist inside a dialog: without a To tag they still name a dialog we
# do not have, so 481 (RFC 3261 15.1.2), as the edge answers, not 501.
_DIALOG_ONLY = frozenset({"BYE", "PRACK", "UPDATE"})


class SipEvents(Protocol):
    def incoming(
        self,
        header_cid: str | None,
        sdp: str | None,
        caller: str | None,
        dialled: str | None,
        category: str | None = None,
    ) -> tuple[str, str]: ...
    def ringing(self, cid: str, leg_id: str) -> None: ...
    def answered(self, cid: str, leg_id: str, sdp: str | None) -> None: ...
    def failed(self, cid: str, leg_id: str, code: int, reason: str = "") -> None: ...
    def ended(self, cid: str, leg_id: str) -> None: ...
    def reinvite(self, cid: str, leg_id: str, sdp: str | None) -> None: ...
    def dtmf_info(self, cid: str, leg_id: str, digit: str) -> None: ...


class _CorrelationHF(SipGenericHF):  # type: ignore[misc]
    """Sippy lower-cases unknown header names; keep the spelling our parties match."""

    hf_names = (CORRELATION_HEADER.lower(),)

    def getCanName(self, name: str, compact: bool = False) -> str:
        return CORRELATION_HEADER


class _AcdCallIdHF(SipGenericHF):  # type: ignore[misc]
    hf_names = (ACD_CALL_ID_HEADER.lower(),)

    def getCanName(self, name: str, compact: bool = False) -> str:
        return ACD_CALL_ID_HEADER


class _AcceptHF(SipGenericHF):  # type: ignore[misc]
    hf_names = ("accept",)

    def getCanName(self, name: str, compact: bool = False) -> str:
        return "Accept"


# A message whose body may carry a DTMF digit: an INFO request, or a DTMF-typed body.
_INFO_REQUEST = re.compile(r"^INFO \S+ SIP/2\.0", re.M)
_DTMF_TYPED = re.compile(r"^(?:Content-Type|c):\s*application/dtmf", re.M | re.I)


def _without_body(text: str) -> str:
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        head, sep, body = text.partition("\n\n")
    if not body:
        return text
    return f"{head}{sep}<{len(body)} bytes of body withheld: it may carry a DTMF digit>"


class _SipMessageLog:
    """Sippy's `_sip_logger`: SIP messages to our log at DEBUG, tagged with the call's cid.

    The bodies of INFO requests (and of anything typed application/dtmf*) are withheld:
    they carry the digits callers key in, account numbers and PINs among them.
    """

    def __init__(self, cid_of: Callable[[str], str | None]) -> None:
        self._cid_of = cid_of

    def write(self, *args: Any, **kwargs: Any) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        text = "".join(str(a) for a in args)
        found = re.search(r"^(?:Call-ID|i):\s*(\S+)", text, re.M | re.I)
        cid = self._cid_of(found.group(1)) if found else None
        message = text.rstrip()
        if _INFO_REQUEST.search(message) or _DTMF_TYPED.search(message):
            message = _without_body(message)
        log.debug("cid=%s %s", cid or "-", message)

    def shutdown(self) -> None:
        return None


def _recv_info(state: Any, req: Any) -> None:
    """INFO in a dialog, in any state that has one: answer by its body, pass a digit on.

    Sippy answers INFO 200 whatever it carries, and only while Connected: during a
    re-INVITE (UAS or UAC Updating) it sends no answer at all, and the phone retransmits
    until it gives up. The digit goes to our event callback the way Sippy's own events
    do (queued, emitted after the request is handled).
    """
    ua = state.ua
    body = req.getBody()
    content_type, text = (None, None) if body is None else (body.getType(), str(body))
    verdict: InfoVerdict = ua.info_policy(ua, content_type, text)
    resp = req.genResponse(verdict.code, verdict.reason, server=ua.local_ua)
    if verdict.code == 415:
        resp.appendHeader(SipHeader(name="accept", body=_AcceptHF(INFO_ACCEPT)))
    ua.global_config["_sip_tm"].sendResponse(resp, lossemul=ua.uas_lossemul)
    if verdict.digit is not None:
        ua.equeue.append(_DtmfInfoEvent(verdict.digit, rtime=req.rtime, origin=ua.origin))


class _DtmfInfoEvent(CCEventInfo):  # type: ignore[misc]
    """A digit from a SIP INFO; its data is the digit."""


class _InfoConnected(UaStateConnected):  # type: ignore[misc]
    recv_request_handlers: ClassVar[dict[str, Any]] = {
        **UaStateConnected.recv_request_handlers,
        "INFO": _recv_info,
    }


class _InfoUasUpdating(UasStateUpdating):  # type: ignore[misc]
    recv_request_handlers: ClassVar[dict[str, Any]] = {
        **UasStateUpdating.recv_request_handlers,
        "INFO": _recv_info,
    }


class _InfoUacUpdating(UacStateUpdating):  # type: ignore[misc]
    recv_request_handlers: ClassVar[dict[str, Any]] = {
        **UacStateUpdating.recv_request_handlers,
        "INFO": _recv_info,
    }


class _UA(UA):  # type: ignore[misc]
    """Sippy's UA with INFO handled in every state of an established dialog."""

    UaStateConnected = _InfoConnected
    UasStateUpdating = _InfoUasUpdating
    UacStateUpdating = _InfoUacUpdating
    # (ua, content type, body) -> the answer; SippyLegs puts in its counting one.
    info_policy: Callable[[Any, str | None, str | None], InfoVerdict] = staticmethod(
        lambda ua, content_type, body: info_verdict(content_type, body)
    )


class _Timer:
    def __init__(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._timeout = Timeout(callback, delay_s)

    def cancel(self) -> None:
        self._timeout.cancel()


class SippyTimers:
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> _Timer:
        return _Timer(delay_s, callback)


def _body_text(body: Any) -> str | None:
    return None if body is None else str(body)


def _header(req: Any, name: str) -> str | None:
    """The first value of an extension header (Sippy keeps them under the lower-case name)."""
    headers = req.getHFs(name.lower())
    return str(headers[0].getBody()).strip() if headers else None


class SippyLegs:
    """Implements the service's `SipLegs` port on Sippy; feeds its events to `SipEvents`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        dead_linger_s: float = 32.0,
        user_agent: str = "Huaan call controller",
        drain: Drain | None = None,
    ) -> None:
        self.host = host
        # While it drains, the replica answers the edge's probe and new calls with 503.
        self.drain = drain if drain is not None else Drain()
        self.port = port
        self.dead_linger_s = dead_linger_s
        self.user_agent = user_agent
        self.events: SipEvents | None = None
        self._uas: dict[tuple[str, str], Any] = {}
        self._refs: dict[int, tuple[str, str]] = {}
        self._header_cid: dict[int, str | None] = {}
        self._category: dict[int, str | None] = {}
        self._server_side: set[int] = set()
        self._live: dict[int, Any] = {}
        self._sip_call_ids: dict[str, str] = {}
        self._tm: Any = None
        self.global_config: dict[str, Any] = {}
        self._acking: Any = None  # the UA whose 200 is being handled (see `_send`)
        # In-dialog INFO requests by answer: 200 with a digit, 200 without (keepalive),
        # 400 (a DTMF type with no usable digit), 415 (another type).
        self.info_counts = {"digit": 0, "empty": 0, "bad_dtmf": 0, "unsupported": 0}

    # ----------------------------------------------------------------- life
    def start(self, events: SipEvents) -> None:
        """Bind the SIP port (refusing a taken one) and start taking requests."""
        self.events = events
        _sippy_fixes.apply()
        _sippy_fixes.probe_bind(self.host, self.port)
        SipConf.my_uaname = self.user_agent
        self.global_config = {
            "_sip_address": self.host,
            "_sip_port": self.port,
            "_sip_logger": _SipMessageLog(self._sip_call_ids.get),
        }
        self._tm = _sippy_fixes.FixedSipTransactionManager(self.global_config, self._recv_request)
        self.global_config["_sip_tm"] = self._tm

    def stop(self) -> None:
        if self._tm is not None:
            self._tm.l4r.shutdown()
            self._tm = None

    def status(self) -> dict[str, int]:
        consumers = 0 if self._tm is None else len(self._tm.req_consumers)
        return {"dialogs": len(self._live), "sip_consumers": consumers}

    # ----------------------------------------------------------- inbound
    def _recv_request(self, req: Any, sip_t: Any) -> Any:
        # Sippy's transaction layer has already answered an unknown CANCEL (481) and
        # dropped an ACK that matches nothing; what reaches here matched no dialog.
        method = req.getMethod()
        if req.getHFBody("to").getTag() is not None or method in _DIALOG_ONLY:
            return (req.genResponse(481, "Call Leg/Transaction Does Not Exist"), None, None)
        if method in ("INVITE", "OPTIONS") and self.drain.active:
            if method == "INVITE":
                self.drain.refused += 1
            return (req.genResponse(*DRAINING_RESPONSE), None, None)
        if method == "INVITE":
            ua = self._new_ua()
            self._header_cid[id(ua)] = _header(req, CORRELATION_HEADER)
            self._category[id(ua)] = _header(req, CATEGORY_HEADER)
            self._server_side.add(id(ua))
            self._sip_call_ids[str(req.getHFBody("call-id"))] = "-"
            return ua.recvRequest(req, sip_t)
        if method == "OPTIONS":
            return (req.genResponse(200, "OK"), None, None)
        return (req.genResponse(501, "Not Implemented"), None, None)

    def _new_ua(self, **kwargs: Any) -> Any:
        ua = _UA(self.global_config, event_cb=self._on_event, dead_cbs=(self._on_dead,), **kwargs)
        ua.godead_timeout = self.dead_linger_s
        ua.info_policy = self._info_policy
        # Sippy's default Contact carries the display name "Anonymous"; sipp's [next_url]
        # then sends in-dialog requests to "Anonymous <sip:...>". A bare URI avoids that.
        url = SipURL(host=SipConf.my_address, port=SipConf.my_port, transport=SipConf.my_transport)
        ua.lContact = SipContact(address=SipAddress(url=url, hadbrace=True))
        self._live[id(ua)] = ua
        return ua

    def _info_policy(self, ua: Any, content_type: str | None, body: str | None) -> InfoVerdict:
        """How to answer an in-dialog INFO (`_recv_info`); counts it. Logs no body."""
        verdict = info_verdict(content_type, body)
        cid, leg_id = self._refs.get(id(ua), ("-", "-"))
        if verdict.digit is not None:
            self.info_counts["digit"] += 1
        elif verdict.code == 200:
            self.info_counts["empty"] += 1
        elif verdict.code == 415:
            self.info_counts["unsupported"] += 1
            log.info("cid=%s INFO on leg %s with a %s body: 415", cid, leg_id, content_type)
        else:
            self.info_counts["bad_dtmf"] += 1
            log.warning(
                "cid=%s INFO on leg %s: a %s body without a usable digit: 400",
                cid,
                leg_id,
                content_type,
            )
        return verdict

    def _bind(self, ua: Any, cid: str, leg_id: str, sip_call_id: str) -> None:
        self._uas[(cid, leg_id)] = ua
        self._refs[id(ua)] = (cid, leg_id)
        self._sip_call_ids[sip_call_id] = cid

    def _on_dead(self, ua: Any) -> None:
        key = id(ua)
        self._live.pop(key, None)
        self._server_side.discard(key)
        self._header_cid.pop(key, None)
        self._category.pop(key, None)
        ref = self._refs.pop(key, None)
        if ref is not None and self._uas.get(ref) is ua:
            del self._uas[ref]
        if ua.cId is not None:
            self._sip_call_ids.pop(str(ua.cId), None)

    def _on_event(self, event: Any, ua: Any) -> None:
        events = self.events
        assert events is not None
        ref = self._refs.get(id(ua))
        if ref is None:
            if isinstance(event, CCEventTry):
                sip_call_id, caller, dialled, body = event.getData()[:4]
                cid, leg_id = events.incoming(
                    self._header_cid.get(id(ua)),
                    _body_text(body),
                    caller,
                    dialled,
                    self._category.get(id(ua)),
                )
                self._bind(ua, cid, leg_id, str(sip_call_id))
            return
        cid, leg_id = ref
        if isinstance(event, CCEventRing):
            events.ringing(cid, leg_id)
        elif isinstance(event, CCEventConnect):
            code, _, body = event.getData()
            if code != "ACK":  # an ACK (to a 200 we sent) carries nothing new here
                self._acking = ua
                try:
                    events.answered(cid, leg_id, _body_text(body))
                finally:
                    self._acking = None
        elif isinstance(event, _DtmfInfoEvent):
            events.dtmf_info(cid, leg_id, event.getData())
        elif isinstance(event, CCEventUpdate):
            events.reinvite(cid, leg_id, _body_text(event.getData()))
        elif isinstance(event, CCEventFail | CCEventRedirect):
            data = event.getData()
            code, reason = (data[0], data[1]) if isinstance(data, tuple) else (500, "")
            events.failed(cid, leg_id, int(code), str(reason))
        elif isinstance(event, CCEventDisconnect):
            events.ended(cid, leg_id)

    # ---------------------------------------------------------- leg actions
    def _ua(self, cid: str, leg_id: str) -> Any:
        return self._uas.get((cid, leg_id))

    def _send(self, ua: Any, event: Any) -> None:
        """Hand `event` to `ua`, after the ACK if `ua`'s 200 is being handled right now.

        Sippy sends the ACK to a 200 only after our event callback returns, so a
        re-INVITE or BYE to that same dialog from inside the callback (the leg that
        answered is re-pointed or refused at once) would overtake its ACK. It goes one
        loop turn later instead.
        """
        if ua is self._acking:
            Timeout(partial(self._send_later, ua, event), 0)
        else:
            ua.recvEvent(event)

    @staticmethod
    def _send_later(ua: Any, event: Any) -> None:
        if not ua.isDead():
            ua.recvEvent(event)

    def answer(self, cid: str, leg_id: str, sdp: str) -> None:
        ua = self._ua(cid, leg_id)
        if ua is not None:
            ua.recvEvent(CCEventConnect((200, "OK", MsgBody(sdp))))

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
    ) -> None:
        headers = [SipHeader(name=CORRELATION_HEADER, body=_CorrelationHF(cid))]
        if acd_call_id:
            headers.append(SipHeader(name=ACD_CALL_ID_HEADER, body=_AcdCallIdHF(acd_call_id)))
        ua = self._new_ua(nh_address=address, extra_headers=headers)
        sip_call_id = f"{cid}-{leg_id}"
        self._bind(ua, cid, leg_id, sip_call_id)
        ua.recvEvent(
            CCEventTry(
                (SipCallId(sip_call_id), caller or "controller", user, MsgBody(sdp), None, None)
            )
        )

    def update(self, cid: str, leg_id: str, sdp: str) -> None:
        ua = self._ua(cid, leg_id)
        if ua is not None:
            self._send(ua, CCEventUpdate(MsgBody(sdp)))

    def answer_update(self, cid: str, leg_id: str, sdp: str) -> None:
        ua = self._ua(cid, leg_id)
        if ua is not None:
            ua.recvEvent(CCEventConnect((200, "OK", MsgBody(sdp))))

    def reject_update(self, cid: str, leg_id: str, code: int, reason: str) -> None:
        ua = self._ua(cid, leg_id)
        if ua is not None:
            ua.recvEvent(CCEventFail((code, reason)))

    def hangup(self, cid: str, leg_id: str, reason: tuple[int, str] | None = None) -> None:
        """BYE when connected; CANCEL while our INVITE rings; a final response (480, or
        `reason`) to an INVITE we have not answered.

        `reason` (SIP code, text) goes in an RFC 3326 Reason header, so the party's phone
        can show why it was hung up (e.g. the customer of an originated call was busy).
        """
        ua = self._ua(cid, leg_id)
        if ua is None or ua.isDead():
            return
        event: CCEventFail | CCEventDisconnect
        if id(ua) in self._server_side and not ua.isConnected():
            # Refusing an INVITE we never answered: the reason *is* the final response.
            event = CCEventFail(reason or (480, "Temporarily Unavailable"))
        else:
            event = CCEventDisconnect()
        if reason is not None:
            event.reason_rfc3326 = SipReason(protocol="SIP", cause=reason[0], reason=reason[1])
        self._send(ua, event)
