"""Pure routing: an initial request in, a decision out. No KSR here."""

from __future__ import annotations

import re
from collections.abc import Callable

from routing._context import RequestContext
from routing._decisions import (
    AnswerOptions,
    Authenticate,
    Decision,
    DeliverToAgents,
    DeliverToController,
    DropAck,
    InternalToController,
    LegToAgent,
    LegToTrunk,
    Register,
    Reject,
    UpgradeToWebSocket,
)
from routing._numbers import normalise
from routing._table import RoutingTable

# Methods that only exist inside a dialog (BYE: RFC 3261 15.1.2; PRACK: RFC 3262;
# UPDATE: RFC 3311). Outside one the method is fine but the dialog it names is not:
# 481, not 405.
DIALOG_ONLY = frozenset({"BYE", "PRACK", "UPDATE"})
ALLOWED_INITIAL = frozenset({"INVITE", "REGISTER", "OPTIONS", "MESSAGE", "INFO", "SUBSCRIBE"})
# What a controller may dial out: digits with an optional leading +, as in `numbers[]`.
DIALLABLE = re.compile(r"\+?[0-9]{2,32}")


def decide_initial(
    ctx: RequestContext,
    table: RoutingTable,
    new_correlation_id: Callable[[], str],
    *,
    authenticated_user: str | None = None,
) -> Decision:
    """Decide what to do with a request that opens a transaction outside any dialog.

    `authenticated_user` is set when the adapter has already verified the
    request's digest credentials (the second pass after `Authenticate`).
    """
    if ctx.method == "OPTIONS" and not ctx.ruri_user:
        return AnswerOptions()
    if ctx.method == "ACK" or ctx.method in DIALOG_ONLY:
        # Whoever sent it (trunk, phone or replica): it matched no transaction (the
        # adapter asked tm first) and, without a To tag, it names no dialog.
        return decide_unmatched(ctx.method)
    # Before the trunk check: a trunk's sources may include a replica's IP (the demo's
    # 127.0.0.1/32), but not its SIP port.
    controller = None if ctx.websocket else table.controller_at(ctx.source_ip, ctx.source_port)
    if controller is not None:
        return _from_controller(ctx, table, controller)
    if ctx.method == "REGISTER":
        return _register(ctx, table)
    if ctx.method not in ALLOWED_INITIAL:
        return Reject(405, "Method Not Allowed", f"{ctx.method} outside a dialog")

    trunk = None if ctx.websocket else table.trunk_for(ctx.source_ip)
    if trunk is None:
        return _from_agent(ctx, table, new_correlation_id, authenticated_user)
    if ctx.method != "INVITE":
        return Reject(405, "Method Not Allowed", f"trunk {trunk.name} sent {ctx.method}")

    dialled = normalise(ctx.ruri_user, table.dialled_rules)
    target = table.numbers.get(dialled)
    if target is None:
        return Reject(404, "Not Found", f"trunk {trunk.name}: no route for number {dialled!r}")
    if not ctx.has_sdp:
        # Late offer would need the offer in the 200 and the answer in the ACK;
        # carriers we terminate send early offer, so refuse clearly rather than half-work.
        return Reject(488, "Not Acceptable Here", "INVITE without SDP offer")
    if target.to_controller:
        return DeliverToController(
            correlation_id=new_correlation_id(),
            trunk=trunk.name,
            caller=normalise(ctx.from_user, table.caller_rules),
            dialled=dialled,
            category=target.category,
        )
    return DeliverToAgents(
        correlation_id=new_correlation_id(),
        trunk=trunk.name,
        caller=normalise(ctx.from_user, table.caller_rules),
        dialled=dialled,
        category=target.category,
        agents=target.agents,
        ring_timeout_ms=table.ring_timeout_ms,
    )


def decide_http(method: str, upgrade: str, connection: str) -> UpgradeToWebSocket | Reject:
    """An HTTP request on the WSS listener (xhttp): only a WebSocket upgrade for SIP is
    served (RFC 6455 4.1: GET, Upgrade: websocket, Connection containing Upgrade); the
    websocket module then checks the rest (version, key, the `sip` subprotocol)."""
    if method != "GET":
        return Reject(405, "Method Not Allowed", f"HTTP {method} on the WSS port")
    tokens = {t.strip().lower() for t in connection.split(",")}
    if upgrade.strip().lower() != "websocket" or "upgrade" not in tokens:
        return Reject(426, "Upgrade Required", "HTTP GET without a WebSocket upgrade")
    return UpgradeToWebSocket()


# A URI that Kamailio sends over a WebSocket: what lookup() and handle_ruri_alias() put in
# $du for a browser's contact (received or alias: the connection it registered over).
_WEBSOCKET_URI = re.compile(r";transport=wss?(?=[;>?]|$)", re.IGNORECASE)


def is_websocket_uri(uri: str) -> bool:
    return bool(_WEBSOCKET_URI.search(uri))


# rtpengine flags (Kamailio's rtpengine module syntax) for the SDP on a WebRTC leg.
# Every SDP through rtpengine is anchored (replace-origin, replace-session-connection).
ANCHOR = "replace-origin replace-session-connection"
# Toward a browser: ICE with rtpengine's candidates, DTLS-SRTP (the profile turns it on;
# SDES off), RTP and RTCP on one port, a=mid for unified plan. No DTLS role is forced:
# rtpengine offers actpass (the browser answers active, rtpengine is then passive), and
# on a browser's actpass offer it takes the active role at once, sending its ClientHello
# on the first ICE success, before the answer. DTLS=passive on that answer reset the
# handshake, which then never completed: the page heard nothing (rtpengine: "SRTP
# output wanted, but no crypto suite was negotiated"). Its answer keeps the role it has.
TOWARD_WEBRTC = "ICE=force SDES-off UDP/TLS/RTP/SAVPF rtcp-mux-offer rtcp-mux-require generate-mid"
# Toward a SIP phone, trunk or the call controller: plain RTP, RTCP demuxed.
TOWARD_PLAIN = "ICE=remove DTLS=off SDES-off RTP/AVP rtcp-mux-demux"
# In offers only: calls are G.711 end to end (no transcoding in rtpengine), DTMF as
# RFC 4733 events.
G711_ONLY = "codec-strip-all codec-except-PCMU codec-except-PCMA codec-except-telephone-event"


def webrtc_session(sip_call_id: str) -> str:
    """The rtpengine call the edge keeps for a dialog with a WebRTC leg.

    Its own call ID ("ws-" + the SIP Call-ID), so it can never be one of the call
    controller's calls (those are keyed by correlation ID; the edge bridges a browser's
    leg in front of the controller's anchor), whatever Call-IDs the controller picks."""
    return f"call-id=ws-{sip_call_id}"


def webrtc_media_flags(*, toward_webrtc: bool, offer: bool, sip_call_id: str) -> str:
    """Flags for rtpengine_offer/answer on a dialog with a WebRTC leg: the SDP is
    rewritten for whoever receives this message (`toward_webrtc`: a browser)."""
    parts = [ANCHOR, TOWARD_WEBRTC if toward_webrtc else TOWARD_PLAIN]
    if offer:
        parts.append(G711_ONLY)
    parts.append(webrtc_session(sip_call_id))
    return " ".join(parts)


def decide_unmatched(method: str) -> Reject | DropAck:
    """A request naming a transaction or dialog this edge does not have: a stray BYE
    (with or without a To tag), a CANCEL of an unknown INVITE, an in-dialog request
    outside any dialog we record-routed. RFC 3261 (9.2, 12.2.2, 15.1.2) answers 481;
    an ACK is never answered, only dropped."""
    if method == "ACK":
        return DropAck("ACK matches no transaction or dialog")
    what = "transaction" if method == "CANCEL" else "dialog"
    return Reject(481, "Call/Transaction Does Not Exist", f"{method} matches no {what}")


def _register(ctx: RequestContext, table: RoutingTable) -> Decision:
    ha1 = table.ha1.get(ctx.to_user)
    if ha1 is None:
        return Reject(403, "Forbidden", f"REGISTER for unknown account {ctx.to_user!r}")
    if ctx.auth_user is not None and ctx.auth_user != ctx.to_user:
        return Reject(403, "Forbidden", f"{ctx.auth_user!r} tried to register {ctx.to_user!r}")
    return Register(ctx.to_user, ha1)


def _from_agent(
    ctx: RequestContext,
    table: RoutingTable,
    new_correlation_id: Callable[[], str],
    authenticated_user: str | None,
) -> Decision:
    ha1 = table.ha1.get(ctx.from_user)
    if ha1 is None:
        return Reject(403, "Forbidden", f"unknown source {ctx.source_ip} (not a trunk or agent)")
    if authenticated_user is None:
        return Authenticate(ctx.from_user, ha1)
    if authenticated_user != ctx.from_user:
        return Reject(403, "Forbidden", f"{authenticated_user!r} posing as {ctx.from_user!r}")
    if ctx.method != "INVITE":
        return Reject(405, "Method Not Allowed", f"agent {ctx.from_user} sent {ctx.method}")
    # Internal call (R-AG-12): an agent dials another agent's username.
    if ctx.ruri_user in table.ha1:
        if not ctx.has_sdp:
            return Reject(488, "Not Acceptable Here", "INVITE without SDP offer")
        if table.internal_via_controller:
            if ctx.ruri_user == ctx.from_user:
                # It is on this very call: busy, as its phone would say (and the ACD
                # would refuse reserving an agent for a call it places itself).
                return Reject(486, "Busy Here", f"agent {ctx.from_user} dialled itself")
            return InternalToController(new_correlation_id(), ctx.from_user, ctx.ruri_user)
        return DeliverToAgents(
            correlation_id=new_correlation_id(),
            trunk="",
            caller=ctx.from_user,
            dialled=ctx.ruri_user,
            category="internal",
            agents=(ctx.ruri_user,),
            ring_timeout_ms=table.ring_timeout_ms,
        )
    return Reject(404, "Not Found", f"agent {ctx.from_user} dialled unknown {ctx.ruri_user!r}")


def _from_controller(ctx: RequestContext, table: RoutingTable, controller: str) -> Decision:
    """A request from one of our call-controller replicas: a trusted source (no digest,
    its X-CC-* headers kept), whose INVITEs are legs to agents or external numbers."""
    if ctx.method == "OPTIONS":
        return AnswerOptions()
    if ctx.method != "INVITE":
        return Reject(405, "Method Not Allowed", f"controller {controller} sent {ctx.method}")
    cid = ctx.correlation_id or "-"
    # An account name is always an agent: accounts and external numbers never overlap
    # in practice (agent IDs are short), and an agent must never leak to a carrier.
    if ctx.ruri_user in table.ha1:
        return LegToAgent(cid, controller, ctx.ruri_user)
    return _to_trunk(ctx, table, controller, cid)


def _to_trunk(ctx: RequestContext, table: RoutingTable, controller: str, cid: str) -> Decision:
    """An external number, sent as the controller wrote it (no numbering rules: those
    describe what carriers send us, not what they expect from us)."""
    number = ctx.ruri_user
    where = f"cid={cid} controller {controller}"
    if not DIALLABLE.fullmatch(number):
        return Reject(
            404, "Not Found", f"{where}: {number!r} is neither an agent nor a diallable number"
        )
    if ctx.trunk_hint:
        trunk = table.trunk_named(ctx.trunk_hint)
        if trunk is None:
            return Reject(
                404, "Unknown Trunk", f"{where}: X-CC-Trunk names no trunk {ctx.trunk_hint!r}"
            )
    else:
        trunk = table.default_outbound_trunk()
        if trunk is None:
            return Reject(
                503,
                "No Outbound Gateway",
                f"{where}: no trunk has a gateway; cannot reach {number}",
            )
    if trunk.gateway is None:
        return Reject(
            503,
            "No Outbound Gateway",
            f"{where}: trunk {trunk.name} has no gateway; cannot reach {number}",
        )
    if trunk.outbound_prefixes and not number.startswith(trunk.outbound_prefixes):
        return Reject(
            403,
            "Number Not Allowed",
            f"{where}: {number} matches no outbound_prefixes of trunk {trunk.name}",
        )
    return LegToTrunk(cid, controller, number, trunk.name, trunk.gateway)
