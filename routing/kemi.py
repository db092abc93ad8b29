"""The one adapter between Kamailio (KSR) and the pure routing code.

Each route: read the request into a RequestContext, ask routing._decide for a
decision, apply it here. Nothing outside this module touches KSR.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from typing import Any

import KSR

from configuration import FileWatch
from routing._context import RequestContext
from routing._decide import (
    decide_http,
    decide_initial,
    decide_unmatched,
    is_websocket_uri,
    webrtc_media_flags,
    webrtc_session,
)
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
from routing._table import RoutingTable, accounts_ha1

CORRELATION_HEADER = "X-CC-Correlation-ID"
CATEGORY_HEADER = "X-CC-Category"
DIALLED_HEADER = "X-CC-Dialled"
# From a controller replica only: the trunk an external number leaves by. The edge
# consumes it; the carrier never sees it.
TRUNK_HEADER = "X-CC-Trunk"
# Anchor all media at rtpengine so the media tier can record, play and monitor later.
RTPENGINE_FLAGS = "replace-origin replace-session-connection"
# Replies after which the next agent in the hunt list is tried.
HUNT_ON = frozenset({408, 480, 486, 487, 500, 503, 600, 603})
# registrar save() flag 0x04: a seat has one phone; a new registration replaces the old.
SINGLE_CONTACT = 4
# Dispatcher set of the call-controller replicas (callcenter renders run/dispatcher.list)
# and round-robin selection; ds_select_dst keeps the other active replicas for failover.
CONTROLLER_SET = 1
ROUND_ROBIN = 4
# Replies after which a controller call moves to the next replica: 408 is also what tm
# gives a replica that never answered (dead, or its host gone) when fr_timer fires.
FAILOVER_ON = frozenset({408, 503})
# Our Record-Route parameter on controller calls: in-dialog requests carry it back, so the
# edge knows without any state that the controller, not the edge, anchors their media.
CONTROLLER_RR_PARAM = ";cc=ctl"
CONTROLLER_RR_MATCH = "cc=ctl"
# Message flag on every INVITE whose media the controller anchors (calls to a replica,
# legs from one). tm keeps the INVITE's flags in its transaction, and
# t_lookup_cancel_flags(1) copies them onto the CANCEL, so a CANCEL of such a call
# skips rtpengine without state of ours. (Flag 4 is the dialog module's dlg_flag.)
FLAG_MEDIA_AT_CONTROLLER = 5
# With WSS (docs/kamailio.md, "WSS"): 6 on an INVITE with a WebRTC leg, whose media the
# edge bridges in its own rtpengine call (routing._decide.webrtc_session); 7 when that
# INVITE came from the browser, so the answer in its replies is turned back into WebRTC.
# Like flag 5, tm keeps them for the failure and reply routes and the CANCEL.
FLAG_WEBRTC = 6
FLAG_CALLER_WEBRTC = 7
# Our Record-Route parameter on dialogs with a WebRTC leg: their in-dialog requests
# (BYE, re-INVITE for hold) go through the edge's rtpengine call too.
WEBRTC_RR_PARAM = ";ws=1"
WEBRTC_RR_MATCH = "ws=1"
# nat_uac_test flag 64: the request or reply came over a WebSocket.
FROM_WEBSOCKET = 64
# Digest results (auth module docs): -2 wrong password, -8 credentials for another user.
# Anything else (no credentials, stale nonce) means challenge again.
AUTH_REFUSED = frozenset({-2, -8})
# How often each worker looks at runtime.json for changed accounts (`callcenter account
# add` rewrites them in a running stack; docs/configuration.md, "Accounts").
ACCOUNTS_CHECK_S = 1.0


def _pv(name: str) -> str:
    value = KSR.pv.get(name)
    return "" if value is None else str(value)


def _new_correlation_id() -> str:
    return secrets.token_hex(16)


class KemiRouter:
    """The object app_python3 calls; method names are Kamailio's route names."""

    def __init__(
        self,
        table: RoutingTable,
        max_forwards: int,
        realm: str,
        media_retry_after_s: float,
        runtime_config_path: str | None = None,
        *,
        wss: bool = False,
    ) -> None:
        self.table = table
        # sip.wss_listen set: nathelper and websocket are loaded (and only then callable).
        self.wss = wss
        # The accounts (HA1s) are re-read from here when the file changes.
        self._runtime_config = (
            None
            if runtime_config_path is None
            else FileWatch(runtime_config_path, every_s=ACCOUNTS_CHECK_S)
        )
        self.max_forwards = max_forwards
        self.realm = realm
        self.media_retry_after_s = media_retry_after_s
        # Per-worker circuit breaker for the media tier. Kamailio 5.6's rtpengine
        # module re-pings every node on each call once all are disabled, so a hung
        # (not refusing) rtpengine would cost every INVITE a full ng timeout and
        # stall the workers. After a failed offer this worker answers 503 at once
        # until the retry time; each worker pays at most one timeout per period.
        self._media_down_until = 0.0

    def child_init(self, rank: int) -> int:
        # Clients to other services (ng, Redis, gRPC) are created lazily in each
        # worker, never before the fork: sockets shared across workers corrupt replies.
        return 0

    # -- request_route -------------------------------------------------------
    def ksr_request_route(self, msg: Any) -> int:
        if KSR.maxfwd.process_maxfwd(self.max_forwards) < 0:
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return 1
        if KSR.sanity.sanity_check(1511, 7) < 0:
            # sanity has already replied 400 where the request deserved an answer.
            KSR.err(f"malformed request from {KSR.kx.get_srcip()}:{KSR.kx.get_srcport()}\n")
            return 1
        method = KSR.kx.get_method()
        from_websocket = self.wss and self._websocket_request(method)
        if method == "CANCEL":
            # Like t_check_trans for a CANCEL, and it also imports the INVITE's flags.
            if KSR.tm.t_lookup_cancel_flags(1) > 0:
                if self.wss and KSR.isflagset(FLAG_WEBRTC):
                    self._webrtc_delete()
                elif not KSR.isflagset(FLAG_MEDIA_AT_CONTROLLER):
                    KSR.rtpengine.rtpengine_delete0()
                KSR.tm.t_relay()
            else:
                self._unmatched(method)
            return 1
        if KSR.siputils.has_totag() > 0:
            self._within_dialog(method, from_websocket)
            return 1
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1
        self._refresh_accounts()
        ctx = self._read_context(method, from_websocket)
        decision = decide_initial(ctx, self.table, _new_correlation_id)
        if isinstance(decision, Authenticate):
            if not self._digest_verified(decision.username, decision.ha1):
                return 1
            decision = decide_initial(
                ctx, self.table, _new_correlation_id, authenticated_user=decision.username
            )
        self._apply(ctx, decision)
        return 1

    def _refresh_accounts(self) -> None:
        """Take the accounts from runtime.json again if it changed (at most one stat per
        ACCOUNTS_CHECK_S per worker): added accounts register, removed ones no longer do,
        without restarting Kamailio. Only the accounts: every other setting needs one."""
        watch = self._runtime_config
        if watch is None or not watch.changed():
            return
        path = watch.path
        try:
            with open(path, encoding="utf-8") as f:
                ha1 = accounts_ha1(json.load(f))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Keep the accounts we have; the next check tries again.
            KSR.err(f"accounts not reloaded from {path}: {exc!r}\n")
            return
        watch.taken()
        if ha1 != self.table.ha1:
            self.table = dataclasses.replace(self.table, ha1=ha1)
            KSR.info(f"accounts reloaded from {path}: {len(ha1)} accounts\n")

    @staticmethod
    def _websocket_request(method: str) -> bool:
        """A request from a browser (over its WebSocket): its Contact is no address
        (`sip:x@random.invalid;transport=ws`), so note where it really came from: the
        registrar's received (REGISTER) or an alias on the Contact (the rest), which
        lookup() and handle_ruri_alias() turn back into that connection."""
        if KSR.nathelper.nat_uac_test(FROM_WEBSOCKET) <= 0:
            return False
        KSR.force_rport()
        if method == "REGISTER":
            KSR.nathelper.fix_nated_register()
        elif method not in ("ACK", "CANCEL", "BYE"):
            KSR.nathelper.add_contact_alias()
        return True

    def _read_context(self, method: str, from_websocket: bool = False) -> RequestContext:
        # kx accessors skip the pseudo-variable parsing that KSR.pv.get does per call.
        source_ip = KSR.kx.get_srcip()
        if from_websocket:
            return RequestContext(
                method=method,
                source_ip=source_ip,
                ruri_user=KSR.kx.gete_ruser(),
                from_user=KSR.kx.gete_fuser(),
                has_sdp=method == "INVITE" and KSR.sdpops.sdp_content() > 0,
                to_user=KSR.kx.gete_tuser() if method == "REGISTER" else "",
                auth_user=(KSR.kx.gete_au() or None) if method == "REGISTER" else None,
                websocket=True,
            )
        if source_ip in self.table.controller_ips:
            source_port = int(KSR.kx.get_srcport())
            if self.table.controller_at(source_ip, source_port) is not None:
                return self._read_controller_context(method, source_ip, source_port)
        register = method == "REGISTER"
        return RequestContext(
            method=method,
            source_ip=source_ip,
            ruri_user=KSR.kx.gete_ruser(),
            from_user=KSR.kx.gete_fuser(),
            has_sdp=method == "INVITE" and KSR.sdpops.sdp_content() > 0,
            to_user=KSR.kx.gete_tuser() if register else "",
            auth_user=(KSR.kx.gete_au() or None) if register else None,
        )

    @staticmethod
    def _read_controller_context(method: str, source_ip: str, source_port: int) -> RequestContext:
        """A replica's request: the From user and SDP do not matter (the edge rewrites
        nothing and anchors nothing), its X-CC-* headers do."""
        invite = method == "INVITE"
        return RequestContext(
            method=method,
            source_ip=source_ip,
            source_port=source_port,
            ruri_user=KSR.kx.gete_ruser(),
            from_user="",
            has_sdp=False,
            correlation_id=KSR.hdr.gete(CORRELATION_HEADER) if invite else "",
            trunk_hint=KSR.hdr.gete(TRUNK_HEADER).strip() if invite else "",
        )

    def _apply(self, ctx: RequestContext, decision: Decision) -> None:
        if isinstance(decision, Reject | DropAck):
            self._refuse(ctx.method, ctx.source_ip, decision)
        elif isinstance(decision, AnswerOptions):
            KSR.sl.sl_send_reply(200, "OK")
        elif isinstance(decision, Register):
            self._register(decision)
        elif isinstance(decision, DeliverToAgents):
            self._deliver(ctx, decision)
        elif isinstance(decision, DeliverToController):
            self._deliver_to_controller(ctx, decision)
        elif isinstance(decision, InternalToController):
            self._internal_to_controller(ctx, decision)
        elif isinstance(decision, LegToAgent):
            self._leg_to_agent(ctx, decision)
        elif isinstance(decision, LegToTrunk):
            self._leg_to_trunk(ctx, decision)
        else:  # Authenticate cannot reach here twice; refuse rather than loop.
            KSR.sl.sl_send_reply(500, "Server Internal Error")

    @staticmethod
    def _refuse(method: str, source_ip: str, decision: Reject | DropAck) -> None:
        if isinstance(decision, DropAck):
            KSR.info(f"dropped ACK from {source_ip}: {decision.detail}\n")
            return
        KSR.notice(f"refused {method} from {source_ip}: {decision.detail}\n")
        KSR.sl.sl_send_reply(decision.code, decision.reason)

    def _unmatched(self, method: str) -> None:
        """A request that matched no transaction (CANCEL) or no dialog (in-dialog)."""
        self._refuse(method, KSR.kx.get_srcip(), decide_unmatched(method))

    # -- registration and authentication --------------------------------------
    def _register(self, decision: Register) -> None:
        if not self._digest_verified(decision.username, decision.ha1):
            return
        if KSR.registrar.save("location", SINGLE_CONTACT) < 0:
            KSR.sl.sl_reply_error()

    def _digest_verified(self, username: str, ha1: str) -> bool:
        """Verify Authorization (REGISTER) or Proxy-Authorization (others) against HA1.

        Replies itself when verification fails: 403 for a wrong password, else a challenge.
        """
        # flags=1: the password argument is HA1; checks=1: the credentials' user must
        # be the To user (REGISTER) or From user (other requests).
        rc = KSR.auth.pv_auth_check(self.realm, ha1, 1, 1)
        if rc > 0:
            KSR.auth.consume_credentials()
            return True
        if rc in AUTH_REFUSED:
            KSR.notice(
                f"{KSR.kx.get_method()} from {username} at {KSR.kx.get_srcip()}: "
                f"digest refused ({rc})\n"
            )
            KSR.sl.sl_send_reply(403, "Forbidden")
        else:
            KSR.auth.auth_challenge(self.realm, 1)
        return False

    # -- delivery to agents -----------------------------------------------------
    def _deliver(self, ctx: RequestContext, call: DeliverToAgents) -> None:
        cid = call.correlation_id
        remaining = self._route_to_first_registered(call.agents)
        if remaining is None:
            KSR.notice(f"cid={cid} {call.dialled}: no registered agent of {call.agents}\n")
            KSR.sl.sl_send_reply(480, "No Agent Available")
            return
        self._tag(ctx, cid, call.caller, call.dialled, call.category)
        # A browser on either side: the edge's offer bridges WebRTC and plain RTP. (The
        # hunt then only tries agents on the same kind of phone: see ksr_failure_hunt.)
        webrtc = self.wss and (ctx.websocket or self._to_websocket())
        flags = self._mark_webrtc(ctx.websocket, offer=True) if webrtc else RTPENGINE_FLAGS
        if not self._media_offered(cid, flags):
            KSR.sl.sl_send_reply(503, "Media Unavailable")
            return
        KSR.dialog.dlg_manage()
        KSR.pv.sets("$dlg_var(cid)", cid)
        KSR.pv.sets("$avp(cc_hunt)", ",".join(remaining))
        if self.wss:  # the kind of phone the offer was made for, for the hunt
            KSR.pv.sets("$avp(cc_ws)", "1" if self._to_websocket() else "0")
        if webrtc:
            KSR.rr.record_route_params(WEBRTC_RR_PARAM)
        else:
            KSR.rr.record_route()
        KSR.info(
            f"cid={cid} trunk={call.trunk} caller={call.caller} dialled={call.dialled} "
            f"category={call.category} ringing {KSR.kx.get_ruri()}\n"
        )
        self._relay_branch(call.ring_timeout_ms)

    def _tag(self, ctx: RequestContext, cid: str, caller: str, dialled: str, category: str) -> None:
        # Headers the edge owns are never trusted from outside.
        KSR.textops.remove_hf_re("^X-CC-")
        KSR.hdr.append(  # one call for all three: each KSR call costs about 2 us
            f"{CORRELATION_HEADER}: {cid}\r\n{CATEGORY_HEADER}: {category}\r\n"
            f"{DIALLED_HEADER}: {dialled}\r\n"
        )
        if caller != ctx.from_user:
            KSR.uac.uac_replace_from_uri(f"sip:{caller}@{KSR.kx.gete_fhost()}")

    def _media_offered(self, cid: str, flags: str = RTPENGINE_FLAGS) -> bool:
        if time.monotonic() < self._media_down_until:
            KSR.warn(f"cid={cid} media tier marked down; refusing without an ng round trip\n")
            return False
        if KSR.rtpengine.rtpengine_offer(flags) < 0:
            KSR.err(f"cid={cid} rtpengine offer failed: no media node answered\n")
            self._media_down_until = time.monotonic() + self.media_retry_after_s
            return False
        return True

    def _route_to_first_registered(
        self, agents: tuple[str, ...], websocket: bool | None = None
    ) -> list[str] | None:
        """Point the R-URI at the first registered agent; return the rest of the list.

        `websocket` (hunting on, with WSS): only an agent whose phone is of that kind
        (browser or not) fits the SDP already offered; the others are skipped."""
        for i, agent in enumerate(agents):
            KSR.pv.sets("$ru", f"sip:{agent}@{self.realm}")
            if websocket is not None:
                KSR.resetdsturi()  # a WS contact's lookup sets $du; a UDP one's may not
            if KSR.registrar.lookup("location") > 0:
                if websocket is not None and self._to_websocket() != websocket:
                    KSR.notice(
                        f"cid={_pv('$dlg_var(cid)')} hunt skips {agent}: the offer was made "
                        f"for a {'browser' if websocket else 'SIP phone'}\n"
                    )
                    continue
                return list(agents[i + 1 :])
        return None

    def _relay_branch(self, ring_timeout_ms: int) -> None:
        KSR.tm.t_set_fr(ring_timeout_ms, 0)
        KSR.tm.t_on_failure("ksr_failure_hunt")
        KSR.tm.t_on_reply("ksr_reply_media")
        if KSR.tm.t_relay() < 0:
            KSR.rtpengine.rtpengine_delete0()
            KSR.sl.sl_reply_error()

    def ksr_failure_hunt(self, msg: Any) -> int:
        cid = _pv("$dlg_var(cid)")
        if KSR.tm.t_is_canceled() > 0:
            KSR.info(f"cid={cid} caller cancelled\n")
            self._media_delete()
            return 1
        code = int(_pv("$T_reply_code") or 0)
        remaining = [a for a in _pv("$avp(cc_hunt)").split(",") if a]
        if code in HUNT_ON and remaining:
            KSR.info(f"cid={cid} agent {KSR.kx.get_ruri()} gave {code}; hunting on {remaining}\n")
            kind = (_pv("$avp(cc_ws)") == "1") if self.wss else None
            rest = self._route_to_first_registered(tuple(remaining), kind)
            if rest is not None:
                KSR.pv.sets("$avp(cc_hunt)", ",".join(rest))
                self._relay_branch(self.table.ring_timeout_ms)
                return 1
        KSR.info(f"cid={cid} call failed with {code}\n")
        self._media_delete()
        return 1

    # -- delivery to the call controller --------------------------------------------
    def _deliver_to_controller(self, ctx: RequestContext, call: DeliverToController) -> None:
        """Hand the call to a controller replica; no rtpengine offer here.

        The controller anchors the caller's media itself, in one rtpengine call per
        call (call-id = correlation ID) that it re-points between park, prompts and
        agents. An edge offer would put a second anchor in front of it: two sessions
        and a double relay for every packet, and the controller's re-INVITEs would
        have to be re-offered here too.
        """
        cid = call.correlation_id
        # Sets $du to an active replica; the other active ones stay listed for ds_next_dst.
        if KSR.dispatcher.ds_select_dst(CONTROLLER_SET, ROUND_ROBIN) < 0:
            KSR.err(f"cid={cid} {call.dialled}: no call controller replica is active\n")
            KSR.sl.sl_send_reply(503, "Service Unavailable")
            return
        self._tag(ctx, cid, call.caller, call.dialled, call.category)
        if call.dialled != ctx.ruri_user:
            # The controller reads the dialled number from the R-URI (call.arrived).
            KSR.pv.sets("$rU", call.dialled)
        rr_params = CONTROLLER_RR_PARAM
        if self.wss and ctx.websocket:
            # A browser's call (an internal call): its WebRTC offer becomes plain RTP for
            # the controller, which anchors that in its own rtpengine call as usual.
            if not self._media_offered(cid, self._mark_webrtc(True, offer=True)):
                KSR.sl.sl_send_reply(503, "Media Unavailable")
                return
            KSR.tm.t_on_reply("ksr_reply_media")
            rr_params += WEBRTC_RR_PARAM
        KSR.dialog.dlg_manage()
        KSR.pv.sets("$dlg_var(cid)", cid)
        KSR.rr.record_route_params(rr_params)
        KSR.info(
            f"cid={cid} trunk={call.trunk} caller={call.caller} dialled={call.dialled} "
            f"category={call.category} to controller {_pv('$du')}\n"
        )
        KSR.setflag(FLAG_MEDIA_AT_CONTROLLER)
        self._relay_to_controller()

    def _internal_to_controller(self, ctx: RequestContext, call: InternalToController) -> None:
        """An agent's call to another agent, for a replica to reserve the callee at the ACD.

        The callee's phone must be registered (one usrloc lookup in shared memory, no R-URI
        rewrite): otherwise the caller gets 480 now, as the replica's leg would get from
        `_leg_to_agent`, without the ACD reserving an agent nobody can ring."""
        if KSR.registrar.registered("location") < 0:
            KSR.notice(
                f"cid={call.correlation_id} internal call from {call.caller}: agent "
                f"{call.callee} is not registered\n"
            )
            KSR.sl.sl_send_reply(480, "Not Registered")
            return
        self._deliver_to_controller(
            ctx,
            DeliverToController(
                correlation_id=call.correlation_id,
                trunk="",
                caller=call.caller,
                dialled=call.callee,
                category="internal",
            ),
        )

    def _relay_to_controller(self) -> None:
        # fr_timer (timers.transaction_timeout_ms) bounds the wait for a dead replica's
        # first reply; after its 100 Trying the controller has the whole INVITE timeout.
        KSR.tm.t_on_failure("ksr_failure_controller")
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def ksr_failure_controller(self, msg: Any) -> int:
        cid = _pv("$dlg_var(cid)")
        if KSR.tm.t_is_canceled() > 0:
            KSR.info(f"cid={cid} caller cancelled\n")
            self._webrtc_failed()
            return 1
        code = int(_pv("$T_reply_code") or 0)
        if code in FAILOVER_ON:
            replica = _pv("$du")
            if KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0:
                # Not even a 100 Trying: take it out of the rotation now rather than
                # at its next failed probe; an answered probe brings it back.
                KSR.dispatcher.ds_mark_dst_state("ip")
            if KSR.dispatcher.ds_next_dst() > 0:
                KSR.warn(
                    f"cid={cid} controller {replica} gave {code}; failing over to {_pv('$du')}\n"
                )
                self._relay_to_controller()
                return 1
        KSR.info(f"cid={cid} controller call failed with {code}\n")
        self._webrtc_failed()
        return 1

    # -- legs a controller originates ---------------------------------------------
    def _leg_to_agent(self, ctx: RequestContext, leg: LegToAgent) -> None:
        """Ring the agent's registered phone for the controller: no digest (trusted
        source), no rtpengine (the controller's SDP is already anchored), no hunting
        (the controller moves on to its next target when this leg fails)."""
        # The R-URI is sip:<agent>@<edge>; lookup rewrites it to the phone's Contact.
        if KSR.registrar.lookup("location") < 0:
            KSR.notice(
                f"refused INVITE from {ctx.source_ip}: cid={leg.correlation_id} "
                f"controller {leg.controller}: agent {leg.agent} is not registered\n"
            )
            KSR.sl.sl_send_reply(480, "Not Registered")
            return
        rr_params = CONTROLLER_RR_PARAM
        if self.wss and self._to_websocket():
            # The agent's softphone is a browser: the controller's plain RTP offer becomes
            # WebRTC (ICE, DTLS-SRTP) in the edge's own rtpengine call, the browser's
            # answer plain RTP again for the controller.
            if not self._media_offered(leg.correlation_id, self._mark_webrtc(False, offer=True)):
                KSR.sl.sl_send_reply(503, "Media Unavailable")
                return
            KSR.tm.t_on_reply("ksr_reply_media")
            KSR.tm.t_on_failure("ksr_failure_webrtc")
            rr_params += WEBRTC_RR_PARAM
        self._relay_for_controller(
            leg.correlation_id,
            leg.controller,
            f"agent {leg.agent} at {KSR.kx.get_ruri()}",
            rr_params,
        )

    def _leg_to_trunk(self, ctx: RequestContext, leg: LegToTrunk) -> None:
        if ctx.trunk_hint:
            KSR.hdr.remove(TRUNK_HEADER)
        KSR.pv.sets("$ru", f"sip:{leg.number}@{leg.gateway}")
        self._relay_for_controller(
            leg.correlation_id,
            leg.controller,
            f"{leg.number} via trunk {leg.trunk} at {leg.gateway}",
        )

    def _relay_for_controller(
        self, cid: str, controller: str, target: str, rr_params: str = CONTROLLER_RR_PARAM
    ) -> None:
        # The dialog only carries the correlation ID for the in-dialog log lines.
        KSR.dialog.dlg_manage()
        KSR.pv.sets("$dlg_var(cid)", cid)
        # ;cc=ctl: in-dialog requests (either way) leave rtpengine alone, as for calls
        # to a replica. No t_on_reply: the replies go back to the controller untouched
        # (unless ;ws=1: a browser's leg, bridged by the edge).
        KSR.rr.record_route_params(rr_params)
        KSR.setflag(FLAG_MEDIA_AT_CONTROLLER)
        KSR.info(f"cid={cid} controller {controller} leg to {target} (media at the controller)\n")
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    # -- replies -----------------------------------------------------------------
    def ksr_reply_media(self, msg: Any) -> int:
        code = KSR.kx.get_status()
        if self.wss and KSR.isflagset(FLAG_WEBRTC):
            self._webrtc_reply(code)
            return 1
        if 100 < code < 300 and KSR.sdpops.sdp_content() > 0:
            KSR.rtpengine.rtpengine_answer(RTPENGINE_FLAGS)
        return 1

    # -- WebRTC legs (sip.wss_listen) ------------------------------------------------
    def _webrtc_reply(self, code: int) -> None:
        if KSR.nathelper.nat_uac_test(FROM_WEBSOCKET) > 0:
            # The browser's Contact: so the ACK and BYE find its WebSocket again.
            KSR.nathelper.add_contact_alias()
        if 100 < code < 300 and KSR.sdpops.sdp_content() > 0:
            KSR.rtpengine.rtpengine_answer(
                webrtc_media_flags(
                    toward_webrtc=bool(KSR.isflagset(FLAG_CALLER_WEBRTC)),
                    offer=False,
                    sip_call_id=KSR.kx.get_callid(),
                )
            )

    def _mark_webrtc(self, from_websocket: bool, *, offer: bool) -> str:
        """Flag the INVITE as one with a WebRTC leg (and whether it came from the browser);
        return the rtpengine flags for its SDP, rewritten for where it goes now."""
        KSR.setflag(FLAG_WEBRTC)
        if from_websocket:
            KSR.setflag(FLAG_CALLER_WEBRTC)
        return webrtc_media_flags(
            toward_webrtc=self._to_websocket(),
            offer=offer,
            sip_call_id=KSR.kx.get_callid(),
        )

    @staticmethod
    def _to_websocket() -> bool:
        """The request goes to a browser: lookup() or handle_ruri_alias() pointed its
        destination at a WebSocket connection."""
        return is_websocket_uri(_pv("$du") or KSR.kx.get_ruri())

    @staticmethod
    def _webrtc_delete() -> None:
        KSR.rtpengine.rtpengine_delete(webrtc_session(KSR.kx.get_callid()))

    def _webrtc_failed(self) -> None:
        if self.wss and KSR.isflagset(FLAG_WEBRTC):
            self._webrtc_delete()

    def _media_delete(self) -> None:
        """End the edge's rtpengine call of this transaction's dialog."""
        if self.wss and KSR.isflagset(FLAG_WEBRTC):
            self._webrtc_delete()
        else:
            KSR.rtpengine.rtpengine_delete0()

    def ksr_failure_webrtc(self, msg: Any) -> int:
        """A controller's leg to a browser failed (busy, no answer, cancelled): the
        controller moves on; the edge's bridge for that leg goes."""
        self._webrtc_delete()
        return 1

    def ksr_xhttp_event(self, msg: Any, event: str = "") -> int:
        """An HTTP request on the WSS listener: the WebSocket upgrade, or a refusal."""
        KSR.set_reply_close()
        KSR.set_reply_no_connect()
        decision = decide_http(
            KSR.kx.get_method(), KSR.hdr.gete("Upgrade"), KSR.hdr.gete("Connection")
        )
        if isinstance(decision, UpgradeToWebSocket):
            # Refuses (400 and a close) a handshake that is not RFC 6455 for SIP.
            KSR.websocket.handle_handshake()
            return 1
        KSR.notice(f"refused HTTP from {KSR.kx.get_srcip()}: {decision.detail}\n")
        KSR.xhttp.xhttp_reply(decision.code, decision.reason, "", "")
        return 1

    # -- within a dialog ---------------------------------------------------------
    def _within_dialog(self, method: str, from_websocket: bool = False) -> None:
        # Absorb retransmissions (a repeated BYE) before any ng round trip.
        if method != "ACK" and (KSR.tmx.t_precheck_trans() > 0 or KSR.tm.t_check_trans() == 0):
            return
        if KSR.rr.loose_route() > 0:
            if self.wss:
                # Toward a browser: the alias on its Contact names its WebSocket connection.
                KSR.nathelper.handle_ruri_alias()
                if KSR.rr.check_route_param(WEBRTC_RR_MATCH) > 0:
                    self._webrtc_within_dialog(method, from_websocket)
                    return
            self._routed_within_dialog(method)
            return
        if method == "ACK":
            # > 0: its INVITE transaction is known, relay it; 0: tm absorbed it (the
            # hop-by-hop ACK of a non-2xx, e.g. of a refused INVITE); < 0: nothing knows it.
            matched = KSR.tm.t_check_trans()
            if matched > 0:
                KSR.tm.t_relay()
            elif matched < 0:
                self._unmatched(method)
            return
        # No Route entry of ours: not a dialog this edge record-routed (RFC 3261 12.2.2).
        self._unmatched(method)

    def _routed_within_dialog(self, method: str) -> None:
        """An in-dialog request that our Route entry matched (no browser on it)."""
        if method == "BYE":
            KSR.info(f"cid={_pv('$dlg_var(cid)')} BYE from {KSR.kx.get_srcip()}\n")
            if not self._media_at_controller():
                KSR.rtpengine.rtpengine_delete0()
        elif method == "INVITE":
            if not self._media_at_controller():
                if KSR.sdpops.sdp_content() > 0 and not self._media_offered(_pv("$dlg_var(cid)")):
                    KSR.sl.sl_send_reply(503, "Media Unavailable")
                    return
                KSR.tm.t_on_reply("ksr_reply_media")
        elif method == "ACK" and KSR.sdpops.sdp_content() > 0 and not self._media_at_controller():
            KSR.rtpengine.rtpengine_answer(RTPENGINE_FLAGS)
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def _webrtc_within_dialog(self, method: str, from_websocket: bool) -> None:
        """An in-dialog request of a dialog with a browser's leg: BYE ends the edge's
        bridge; a re-INVITE (hold: a=sendonly from the browser, or the controller moving
        media) is offered again, rewritten for its receiver, and answered in its reply."""
        if method == "BYE":
            KSR.info(f"cid={_pv('$dlg_var(cid)')} BYE from {KSR.kx.get_srcip()}\n")
            self._webrtc_delete()
        elif method == "INVITE" and KSR.sdpops.sdp_content() > 0:
            flags = self._mark_webrtc(from_websocket, offer=True)
            if not self._media_offered(_pv("$dlg_var(cid)"), flags):
                KSR.sl.sl_send_reply(503, "Media Unavailable")
                return
            KSR.tm.t_on_reply("ksr_reply_media")
        elif method == "ACK" and KSR.sdpops.sdp_content() > 0:
            KSR.rtpengine.rtpengine_answer(
                webrtc_media_flags(
                    toward_webrtc=self._to_websocket(),
                    offer=False,
                    sip_call_id=KSR.kx.get_callid(),
                )
            )
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    @staticmethod
    def _media_at_controller() -> bool:
        """True for a controller call: our Route entry carries the controller's mark.

        Asked only where the edge would touch rtpengine (one KSR call, no ng round trip).
        """
        return bool(KSR.rr.check_route_param(CONTROLLER_RR_MATCH) > 0)


def build_router(runtime_config_path: str) -> KemiRouter:
    """Called once by kamailio/kemi.py before the fork: reads files, opens no sockets."""
    with open(runtime_config_path, encoding="utf-8") as f:
        config = json.load(f)
    return KemiRouter(
        RoutingTable.from_config(config),
        max_forwards=config["sip"]["max_forwards"],
        realm=config["sip"]["realm"],
        media_retry_after_s=config["sip"]["rtpengine_disable_s"],
        runtime_config_path=runtime_config_path,
        wss=config["sip"].get("wss_listen") is not None,
    )
