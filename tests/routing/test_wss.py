"""SIP over WSS (docs/kamailio.md, "WSS"): the pure decisions, and the adapter against the
fake KSR of a Kamailio started with sip.wss_listen (tls, websocket, xhttp, nathelper)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routing import (
    Authenticate,
    LegToAgent,
    Reject,
    UpgradeToWebSocket,
    decide_http,
    decide_initial,
    is_websocket_uri,
    webrtc_media_flags,
)
from tests.routing.fake_ksr import FakeKsr, KsrFunction, installed
from tests.routing.tables import CONFIG, TABLE, request

WS_CONTACT = "sip:127.0.0.1:40324;transport=ws"


# -- pure decisions --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "upgrade", "connection", "expected"),
    [
        ("GET", "websocket", "Upgrade", UpgradeToWebSocket()),
        ("GET", "WebSocket", "keep-alive, Upgrade", UpgradeToWebSocket()),
        ("GET", "", "", 426),
        ("GET", "websocket", "keep-alive", 426),
        ("GET", "h2c", "Upgrade", 426),
        ("POST", "websocket", "Upgrade", 405),
    ],
)
def test_only_a_websocket_upgrade_is_served_on_the_wss_port(
    method: str, upgrade: str, connection: str, expected: object
) -> None:
    decision = decide_http(method, upgrade, connection)
    if isinstance(expected, int):
        assert isinstance(decision, Reject) and decision.code == expected
    else:
        assert decision == expected


@pytest.mark.parametrize(
    ("uri", "websocket"),
    [
        (WS_CONTACT, True),
        ("sip:127.0.0.1:40324;transport=wss", True),
        ("<sip:x@a.invalid;transport=WS>", True),
        ("sip:127.0.0.1:40324;transport=ws;lr", True),
        ("sip:1001@192.0.2.7:5060", False),
        ("sip:1001@192.0.2.7:5060;transport=udp", False),
        ("sip:h;transport=wsx", False),
    ],
)
def test_a_destination_is_a_websocket_by_its_transport(uri: str, websocket: bool) -> None:
    assert is_websocket_uri(uri) is websocket


def test_toward_a_browser_the_offer_is_webrtc_with_g711_only_in_the_edges_own_call() -> None:
    flags = webrtc_media_flags(toward_webrtc=True, offer=True, sip_call_id="abc@h").split()
    assert {"ICE=force", "SDES-off", "UDP/TLS/RTP/SAVPF", "rtcp-mux-require"} <= set(flags)
    assert not [f for f in flags if f.startswith("DTLS")]  # rtpengine offers actpass
    assert {"codec-strip-all", "codec-except-PCMU", "codec-except-PCMA"} <= set(flags)
    assert "codec-except-telephone-event" in flags
    assert flags[-1] == "call-id=ws-abc@h"


def test_a_call_from_the_browser_is_answered_in_webrtc_without_forcing_a_dtls_role() -> None:
    """R-AG-12, the page calling a desk phone: the browser's offer (actpass) goes on as
    plain RTP; the answer back to it is DTLS-SRTP again. rtpengine took the active role
    on that offer (its ClientHello leaves on the first ICE success, before the answer):
    DTLS=passive on the answer reset the handshake and the page heard nothing."""
    offer = webrtc_media_flags(toward_webrtc=False, offer=True, sip_call_id="abc").split()
    assert {"ICE=remove", "DTLS=off", "SDES-off", "RTP/AVP", "rtcp-mux-demux"} <= set(offer)
    answer = webrtc_media_flags(toward_webrtc=True, offer=False, sip_call_id="abc").split()
    assert {"ICE=force", "SDES-off", "UDP/TLS/RTP/SAVPF", "rtcp-mux-require"} <= set(answer)
    assert not [f for f in answer if f.startswith("DTLS")], answer
    assert not [f for f in answer if f.startswith("codec-")]
    assert answer[-1] == "call-id=ws-abc"


def test_toward_a_plain_peer_the_answer_is_rtp_avp_and_keeps_its_codecs() -> None:
    flags = webrtc_media_flags(toward_webrtc=False, offer=False, sip_call_id="abc").split()
    assert {"ICE=remove", "DTLS=off", "RTP/AVP", "rtcp-mux-demux"} <= set(flags)
    assert not [f for f in flags if f.startswith("codec-")]
    assert "replace-origin" in flags and "call-id=ws-abc" in flags


def test_a_request_over_a_websocket_is_never_a_trunks_or_a_replicas() -> None:
    # 192.0.2.10 is carrier-a's source and, on port 5070, a replica's.
    as_browser = request(source_ip="192.0.2.10", from_user="1001", ruri_user="1002")
    assert decide_initial(as_browser, TABLE, lambda: "f" * 32) != Authenticate("1001", "a" * 32)
    browser = request(
        source_ip="192.0.2.10", source_port=5070, from_user="1001", ruri_user="1002", websocket=True
    )
    assert decide_initial(browser, TABLE, lambda: "f" * 32) == Authenticate("1001", "a" * 32)
    from_replica = request(source_ip="192.0.2.10", source_port=5070, ruri_user="1001")
    assert isinstance(decide_initial(from_replica, TABLE, lambda: "f" * 32), LegToAgent)


# -- the adapter, WSS on ---------------------------------------------------------------
@pytest.fixture
def wss_router(ksr_api: list[KsrFunction], tmp_path: Path) -> Iterator[Any]:
    runtime = tmp_path / "runtime.json"
    runtime.write_text(json.dumps({**CONFIG, "sip": {**CONFIG["sip"], "wss_listen": "0:8443"}}))  # type: ignore[dict-item]
    contexts: list[Any] = []

    def make(
        pvs: dict[str, Any], returns: dict[str, Any] | None = None, flags: set[int] | None = None
    ) -> tuple[Any, FakeKsr]:
        held = set(flags or ())
        fake = FakeKsr(ksr_api, pvs=dict(pvs), returns=dict(returns or {}))
        fake.returns.setdefault("isflagset", lambda flag: flag in held)

        def setflag(flag: int) -> int:
            held.add(flag)
            return 1

        fake.returns.setdefault("setflag", setflag)
        contexts.append(installed(fake))
        contexts[-1].__enter__()
        from routing.kemi import build_router

        return build_router(str(runtime)), fake

    yield make
    for ctx in reversed(contexts):
        ctx.__exit__(None, None, None)


INITIAL = {"siputils.has_totag": -1, "tmx.t_precheck_trans": -1, "tm.t_check_trans": -1}


def test_register_over_a_websocket_stores_where_it_came_from(wss_router: Any) -> None:
    pvs = {"$rm": "REGISTER", "$si": "127.0.0.1", "$sp": 40324, "$rU": "", "$tU": "1001"}
    router, ksr = wss_router(pvs, {**INITIAL, "nathelper.nat_uac_test": 1})
    router.ksr_request_route(None)
    names = ksr.names()
    assert names.index("nathelper.fix_nated_register") < names.index("registrar.save")
    assert "force_rport" in names and not ksr.called("nathelper.add_contact_alias")
    assert ksr.called("auth.pv_auth_check") == [("huaan.test", "a" * 32, 1, 1)]


def test_a_controller_leg_to_a_browser_is_bridged_to_webrtc(wss_router: Any) -> None:
    pvs = {
        "$rm": "INVITE",
        "$si": "192.0.2.10",
        "$sp": 5070,
        "$rU": "1001",
        "$ci": "c-1",
        "$ru": "sip:1001@huaan.test",
        "$du": WS_CONTACT,  # what lookup() set from the registration's received
    }
    returns = {**INITIAL, "nathelper.nat_uac_test": -1, "hdr.gete": lambda name: ""}
    router, ksr = wss_router(pvs, returns)
    router.ksr_request_route(None)
    ((flags,),) = ksr.called("rtpengine.rtpengine_offer")
    assert "UDP/TLS/RTP/SAVPF" in flags and flags.endswith("call-id=ws-c-1")
    assert ksr.called("rr.record_route_params") == [(";cc=ctl;ws=1",)]
    assert sorted(a[0] for a in ksr.called("setflag")) == [5, 6]
    assert ksr.called("tm.t_on_reply") == [("ksr_reply_media",)]
    assert ksr.called("tm.t_on_failure") == [("ksr_failure_webrtc",)]
    assert ksr.names().index("rtpengine.rtpengine_offer") < ksr.names().index("tm.t_relay")


def test_a_controller_leg_to_a_desk_phone_stays_untouched_with_wss_on(wss_router: Any) -> None:
    pvs = {"$rm": "INVITE", "$si": "192.0.2.10", "$sp": 5070, "$rU": "1001"}
    pvs |= {"$ru": "sip:1001@192.0.2.50:5060", "$du": None}
    returns = {**INITIAL, "nathelper.nat_uac_test": -1, "hdr.gete": lambda name: ""}
    router, ksr = wss_router(pvs, returns)
    router.ksr_request_route(None)
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]
    assert ksr.called("rr.record_route_params") == [(";cc=ctl",)]


def test_the_browsers_answer_is_plain_rtp_for_the_controller(wss_router: Any) -> None:
    pvs = {"$rs": 200, "$ci": "c-1"}
    returns = {"nathelper.nat_uac_test": 1, "sdpops.sdp_content": 1}
    router, ksr = wss_router(pvs, returns, flags={5, 6})
    router.ksr_reply_media(None)
    assert ksr.called("nathelper.add_contact_alias") == [()]
    ((flags,),) = ksr.called("rtpengine.rtpengine_answer")
    assert "RTP/AVP" in flags.split() and "ICE=remove" in flags and "call-id=ws-c-1" in flags


def test_a_browsers_call_to_the_controller_is_offered_plain_and_answered_webrtc(
    wss_router: Any,
) -> None:
    pvs = {"$rm": "INVITE", "$si": "127.0.0.1", "$sp": 40324, "$rU": "1002", "$fU": "1001"}
    pvs |= {"$ci": "b-1", "$ru": "sip:1002@huaan.test", "$du": None}
    config = {"nathelper.nat_uac_test": 1, "sdpops.sdp_content": 1, "auth.pv_auth_check": 1}
    router, ksr = wss_router(pvs, {**INITIAL, **config})
    router.ksr_request_route(None)
    assert ksr.called("nathelper.add_contact_alias") == [()]
    offers = ksr.called("rtpengine.rtpengine_offer")
    # Internal calls go to the controller here only when the ACD drives them; either way
    # the browser's offer is turned into plain RTP for the other side.
    assert offers and "RTP/AVP" in offers[0][0].split() and "ICE=remove" in offers[0][0]
    assert 7 in {a[0] for a in ksr.called("setflag")}


def test_cancel_of_a_webrtc_call_deletes_the_edges_own_rtpengine_call(wss_router: Any) -> None:
    pvs = {"$rm": "CANCEL", "$si": "192.0.2.10", "$ci": "c-1"}
    returns = {"tm.t_lookup_cancel_flags": 1, "nathelper.nat_uac_test": -1}
    router, ksr = wss_router(pvs, returns, flags={5, 6})
    router.ksr_request_route(None)
    assert ksr.called("rtpengine.rtpengine_delete") == [("call-id=ws-c-1",)]
    assert not ksr.called("rtpengine.rtpengine_delete0")


def test_a_failed_leg_to_a_browser_deletes_its_bridge(wss_router: Any) -> None:
    router, ksr = wss_router({"$ci": "c-1"}, flags={5, 6})
    router.ksr_failure_webrtc(None)
    assert ksr.called("rtpengine.rtpengine_delete") == [("call-id=ws-c-1",)]


@pytest.mark.parametrize(
    ("method", "upgrade", "connection", "reply"),
    [("GET", "", "", 426), ("POST", "", "", 405), ("GET", "websocket", "Upgrade", None)],
)
def test_the_xhttp_event_upgrades_or_refuses(
    wss_router: Any, method: str, upgrade: str, connection: str, reply: int | None
) -> None:
    headers = {"Upgrade": upgrade, "Connection": connection}
    router, ksr = wss_router(
        {"$rm": method, "$si": "127.0.0.1"}, {"hdr.gete": lambda name: headers.get(name, "")}
    )
    router.ksr_xhttp_event(None, "xhttp:request")
    assert ksr.called("set_reply_close") == [()]
    if reply is None:
        assert ksr.called("websocket.handle_handshake") == [()]
        assert not ksr.called("xhttp.xhttp_reply")
    else:
        assert [a[0] for a in ksr.called("xhttp.xhttp_reply")] == [reply]
        assert not ksr.called("websocket.handle_handshake")


def test_in_dialog_requests_of_a_webrtc_dialog_go_through_the_bridge(wss_router: Any) -> None:
    """A hold re-INVITE from the browser: offered to the controller as plain RTP."""
    pvs = {"$rm": "INVITE", "$si": "127.0.0.1", "$ci": "c-1", "$du": None}
    pvs["$ru"] = "sip:L2@192.0.2.10:5070"
    returns = {
        "siputils.has_totag": 1,
        "tmx.t_precheck_trans": -1,
        "tm.t_check_trans": -1,
        "rr.loose_route": 1,
        "rr.check_route_param": lambda p: 1 if p == "ws=1" else -1,
        "nathelper.nat_uac_test": 1,
        "sdpops.sdp_content": 1,
    }
    router, ksr = wss_router(pvs, returns)
    router.ksr_request_route(None)
    ((flags,),) = ksr.called("rtpengine.rtpengine_offer")
    assert "RTP/AVP" in flags.split() and "call-id=ws-c-1" in flags
    assert ksr.called("nathelper.handle_ruri_alias") == [()]
    assert ksr.called("tm.t_on_reply") == [("ksr_reply_media",)]
    assert {a[0] for a in ksr.called("setflag")} == {6, 7}


def test_the_hunt_after_a_browser_skips_desk_phones(wss_router: Any) -> None:
    """The SDP was offered as WebRTC: the next agent on a desk phone cannot take it."""
    pvs = {"$ci": "c-1", "$avp(cc_hunt)": "1002", "$avp(cc_ws)": "1", "$T_reply_code": 486}
    pvs |= {"$du": None, "$ru": "sip:1002@huaan.test"}
    router, ksr = wss_router(pvs, {"tm.t_is_canceled": -1}, flags={6})
    router.ksr_failure_hunt(None)
    assert ksr.called("registrar.lookup") == [("location",)]
    assert not ksr.called("tm.t_relay")
    assert ksr.called("rtpengine.rtpengine_delete") == [("call-id=ws-c-1",)]


def test_the_hunt_after_a_browser_rings_the_next_browser(wss_router: Any) -> None:
    pvs = {"$ci": "c-1", "$avp(cc_hunt)": "1002", "$avp(cc_ws)": "1", "$T_reply_code": 486}
    pvs |= {"$du": WS_CONTACT, "$ru": "sip:1002@huaan.test"}
    router, ksr = wss_router(pvs, {"tm.t_is_canceled": -1, "resetdsturi": 1}, flags={6})
    router.ksr_failure_hunt(None)
    assert ksr.called("tm.t_relay") == [()]
    assert not ksr.called("rtpengine.rtpengine_delete")
