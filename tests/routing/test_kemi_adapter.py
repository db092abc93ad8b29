"""routing.kemi against a fake KSR generated from the installed Kamailio's own API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.routing.fake_ksr import FakeKsr, KsrFunction, installed

ADAPTER = Path(__file__).resolve().parents[2] / "routing" / "kemi.py"


def test_every_ksr_call_in_the_adapter_exists_in_kamailio(ksr_api: list[KsrFunction]) -> None:
    """Static check: a misspelt KSR function on a rarely taken branch fails here."""
    known = {f"{f.module}.{f.name}" if f.module else f.name for f in ksr_api}
    used = set(re.findall(r"\bKSR\.((?:\w+\.)?\w+)\(", ADAPTER.read_text()))
    assert used, "the scan found no KSR calls"
    assert sorted(used - known) == []


def test_route_names_armed_in_tm_are_methods_of_the_router(ksr_api: list[KsrFunction]) -> None:
    source = ADAPTER.read_text()
    armed = set(re.findall(r't_on_(?:failure|reply|branch)\("(\w+)"\)', source))
    assert armed
    with installed(FakeKsr(ksr_api)):
        from routing.kemi import KemiRouter

        assert all(callable(getattr(KemiRouter, name, None)) for name in armed)


TRUNK_INVITE = {
    "$rm": "INVITE",
    "$si": "192.0.2.10",
    "$sp": 5060,
    "$rU": "95598",
    "$fU": "+8613912345678",
    "$tU": "95598",
    "$ci": "call-1",
    "$fd": "192.0.2.10",
    "$au": None,
    "$ru": "sip:95598@proxy",
}
INITIAL = {"siputils.has_totag": -1, "tmx.t_precheck_trans": -1, "tm.t_check_trans": -1}


def test_trunk_invite_is_anchored_tagged_and_relayed(router_with: Any) -> None:
    router, ksr = router_with(TRUNK_INVITE, INITIAL)
    router.ksr_request_route(None)
    names = ksr.names()
    # Anchored in rtpengine before relaying, never after.
    assert names.index("rtpengine.rtpengine_offer") < names.index("tm.t_relay")
    (headers,) = (args[0] for args in ksr.called("hdr.append"))
    assert re.search(r"X-CC-Correlation-ID: [0-9a-f]{32}\r\n", headers)
    assert "X-CC-Category: billing\r\n" in headers and "X-CC-Dialled: 95598\r\n" in headers
    assert ksr.called("textops.remove_hf_re") == [("^X-CC-",)]
    assert ksr.called("uac.uac_replace_from_uri") == [("sip:13912345678@192.0.2.10",)]
    assert ksr.called("tm.t_set_fr") == [(1500, 0)]
    assert ksr.called("tm.t_on_failure") == [("ksr_failure_hunt",)]
    assert ksr.pvs["$avp(cc_hunt)"] == "1002"
    assert headers.startswith(f"X-CC-Correlation-ID: {ksr.pvs['$dlg_var(cid)']}\r\n")


def test_dead_rtpengine_gives_503_and_no_relay(router_with: Any) -> None:
    router, ksr = router_with(TRUNK_INVITE, {**INITIAL, "rtpengine.rtpengine_offer": -1})
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(503, "Media Unavailable")]
    assert not ksr.called("tm.t_relay")


def test_after_a_failed_offer_the_worker_refuses_without_asking_rtpengine(
    router_with: Any,
) -> None:
    """A hung rtpengine must cost a worker one timeout per retry period, not one per call."""
    router, ksr = router_with(TRUNK_INVITE, {**INITIAL, "rtpengine.rtpengine_offer": -1})
    for _ in range(3):
        router.ksr_request_route(None)
    assert len(ksr.called("rtpengine.rtpengine_offer")) == 1
    assert ksr.called("sl.sl_send_reply") == [(503, "Media Unavailable")] * 3
    router._media_down_until = 0.0  # the retry period is over
    ksr.returns["rtpengine.rtpengine_offer"] = 1
    router.ksr_request_route(None)
    assert len(ksr.called("rtpengine.rtpengine_offer")) == 2
    assert ksr.called("tm.t_relay") == [()]


def test_no_registered_agent_gives_480_without_touching_media(router_with: Any) -> None:
    router, ksr = router_with(TRUNK_INVITE, {**INITIAL, "registrar.lookup": -1})
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(480, "No Agent Available")]
    assert not ksr.called("rtpengine.rtpengine_offer")


def test_unknown_number_gives_404(router_with: Any) -> None:
    router, ksr = router_with({**TRUNK_INVITE, "$rU": "11111"}, INITIAL)
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(404, "Not Found")]


def test_too_many_hops_gives_483(router_with: Any) -> None:
    router, ksr = router_with(TRUNK_INVITE, {"maxfwd.process_maxfwd": -1})
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(483, "Too Many Hops")]


@pytest.mark.parametrize(("rc", "reply"), [(-2, (403, "Forbidden")), (-5, None)])
def test_register_wrong_password_is_403_missing_credentials_are_challenged(
    router_with: Any, rc: int, reply: tuple[int, str] | None
) -> None:
    pvs = {**TRUNK_INVITE, "$rm": "REGISTER", "$tU": "1001", "$rU": ""}
    router, ksr = router_with(pvs, {**INITIAL, "auth.pv_auth_check": rc})
    router.ksr_request_route(None)
    assert ksr.called("auth.pv_auth_check") == [("huaan.test", "a" * 32, 1, 1)]
    if reply:
        assert ksr.called("sl.sl_send_reply") == [reply]
    else:
        assert ksr.called("auth.auth_challenge") == [("huaan.test", 1)]
    assert not ksr.called("registrar.save")


def test_failure_route_hunts_to_next_registered_agent(router_with: Any) -> None:
    pvs = {"$dlg_var(cid)": "c" * 32, "$avp(cc_hunt)": "1002", "$T_reply_code": 408}
    router, ksr = router_with(pvs, {"tm.t_is_canceled": -1})
    router.ksr_failure_hunt(None)
    assert ksr.pvs["$ru"] == "sip:1002@huaan.test"
    assert ksr.called("tm.t_relay") == [()]
    assert ksr.pvs["$avp(cc_hunt)"] == ""
    assert not ksr.called("rtpengine.rtpengine_delete0")


@pytest.mark.parametrize(
    "pvs",
    [
        {"$avp(cc_hunt)": "", "$T_reply_code": 408},  # list exhausted
        {"$avp(cc_hunt)": "1002", "$T_reply_code": 404},  # not a reason to hunt
    ],
)
def test_failure_route_ends_media_when_it_gives_up(router_with: Any, pvs: dict[str, Any]) -> None:
    router, ksr = router_with(pvs, {"tm.t_is_canceled": -1})
    router.ksr_failure_hunt(None)
    assert ksr.called("rtpengine.rtpengine_delete0") == [()]
    assert not ksr.called("tm.t_relay")


def test_cancelled_call_ends_media(router_with: Any) -> None:
    router, ksr = router_with({"$avp(cc_hunt)": "1002"}, {"tm.t_is_canceled": 1})
    router.ksr_failure_hunt(None)
    assert ksr.called("rtpengine.rtpengine_delete0") == [()]
    assert not ksr.called("tm.t_relay")


# rr.check_route_param -1: an agent call (no controller mark in our Route entry).
IN_DIALOG = {
    "siputils.has_totag": 1,
    "tmx.t_precheck_trans": -1,
    "tm.t_check_trans": -1,
    "rr.check_route_param": -1,
}


def test_bye_in_dialog_deletes_media_and_relays(router_with: Any) -> None:
    pvs = {**TRUNK_INVITE, "$rm": "BYE", "$dlg_var(cid)": "c" * 32}
    router, ksr = router_with(pvs, IN_DIALOG)
    router.ksr_request_route(None)
    assert ksr.called("rtpengine.rtpengine_delete0") == [()]
    assert ksr.called("tm.t_relay") == [()]


def test_retransmitted_bye_is_absorbed_without_an_ng_round_trip(router_with: Any) -> None:
    pvs = {**TRUNK_INVITE, "$rm": "BYE", "$dlg_var(cid)": "c" * 32}
    router, ksr = router_with(pvs, {**IN_DIALOG, "tm.t_check_trans": 0})
    router.ksr_request_route(None)
    assert not ksr.called("rtpengine.rtpengine_delete0")
    assert not ksr.called("tm.t_relay")


def test_reinvite_reoffers_media_and_arms_the_answer(router_with: Any) -> None:
    pvs = {**TRUNK_INVITE, "$dlg_var(cid)": "c" * 32}
    router, ksr = router_with(pvs, IN_DIALOG)
    router.ksr_request_route(None)
    assert ksr.called("rtpengine.rtpengine_offer")
    assert ksr.called("tm.t_on_reply") == [("ksr_reply_media",)]


def test_reply_with_sdp_is_answered_in_rtpengine(router_with: Any) -> None:
    router, ksr = router_with({"$rs": 200}, {"sdpops.sdp_content": 1})
    router.ksr_reply_media(None)
    assert ksr.called("rtpengine.rtpengine_answer")
    router, ksr = router_with({"$rs": 180}, {"sdpops.sdp_content": -1})
    router.ksr_reply_media(None)
    assert not ksr.called("rtpengine.rtpengine_answer")


def test_cancel_of_a_known_transaction_ends_media_and_is_relayed(router_with: Any) -> None:
    router, ksr = router_with(
        {**TRUNK_INVITE, "$rm": "CANCEL"}, {"tm.t_lookup_cancel_flags": 1, "isflagset": False}
    )
    router.ksr_request_route(None)
    # The INVITE's flags are imported onto the CANCEL, then the controller flag is read.
    assert ksr.called("tm.t_lookup_cancel_flags") == [(1,)]
    assert ksr.called("isflagset") == [(5,)]
    assert ksr.called("rtpengine.rtpengine_delete0") == [()]
    assert ksr.called("tm.t_relay") == [()]


def test_cancel_of_a_controller_call_leaves_rtpengine_alone(router_with: Any) -> None:
    """The INVITE was a call to a replica or a leg from one: the flag came with it."""
    router, ksr = router_with(
        {**TRUNK_INVITE, "$rm": "CANCEL"}, {"tm.t_lookup_cancel_flags": 1, "isflagset": True}
    )
    router.ksr_request_route(None)
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]
    assert ksr.called("tm.t_relay") == [()]


def test_cancel_without_a_transaction_gets_481(router_with: Any) -> None:
    router, ksr = router_with({**TRUNK_INVITE, "$rm": "CANCEL"}, {"tm.t_lookup_cancel_flags": -1})
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(481, "Call/Transaction Does Not Exist")]
    assert not ksr.called("tm.t_relay") and not ksr.called("rtpengine.rtpengine_delete0")


@pytest.mark.parametrize("totag", [1, -1])
def test_a_bye_matching_no_dialog_gets_481(router_with: Any, totag: int) -> None:
    """With a To tag: not loose-routable (no Route entry of ours). Without: the pure
    decision. Either way 481, and rtpengine is not asked about a call it never had."""
    router, ksr = router_with(
        {**TRUNK_INVITE, "$rm": "BYE"},
        {**IN_DIALOG, "siputils.has_totag": totag, "rr.loose_route": -1},
    )
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(481, "Call/Transaction Does Not Exist")]
    assert not ksr.called("tm.t_relay")
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]


@pytest.mark.parametrize(
    ("totag", "check_trans", "dropped"),
    [
        (1, 0, False),  # the ACK of a refused INVITE: tm absorbs it, nothing to say
        (1, -1, True),  # a To tag, but neither a transaction nor a dialog knows it
        (-1, -1, True),  # no To tag and no transaction
    ],
)
def test_an_ack_is_never_answered_and_only_a_stray_one_is_logged(
    router_with: Any,
    totag: int,
    check_trans: int,
    dropped: bool,
) -> None:
    router, ksr = router_with(
        {**TRUNK_INVITE, "$rm": "ACK"},
        {
            **IN_DIALOG,
            "siputils.has_totag": totag,
            "rr.loose_route": -1,
            "tm.t_check_trans": check_trans,
        },
    )
    router.ksr_request_route(None)
    assert not ksr.called("sl.sl_send_reply") and not ksr.called("tm.t_relay")
    assert not ksr.called("notice") and not ksr.called("warn")
    logged = ksr.called("info")
    assert logged == (
        [("dropped ACK from 192.0.2.10: ACK matches no transaction or dialog\n",)]
        if dropped
        else []
    )


CONTROLLER_INVITE = {**TRUNK_INVITE, "$rU": "+8695599", "$tU": "95599", "$du": "sip:127.0.0.1:5070"}


def test_controller_number_is_dispatched_tagged_and_record_routed_without_media(
    router_with: Any,
) -> None:
    router, ksr = router_with(CONTROLLER_INVITE, INITIAL)
    router.ksr_request_route(None)
    # Round-robin over dispatcher set 1, failing over in our own failure route.
    assert ksr.called("dispatcher.ds_select_dst") == [(1, 4)]
    assert ksr.called("tm.t_on_failure") == [("ksr_failure_controller",)]
    (headers,) = (args[0] for args in ksr.called("hdr.append"))
    assert re.search(r"X-CC-Correlation-ID: [0-9a-f]{32}\r\n", headers)
    assert "X-CC-Category: outage\r\n" in headers and "X-CC-Dialled: 95599\r\n" in headers
    assert ksr.called("textops.remove_hf_re") == [("^X-CC-",)]
    assert ksr.called("uac.uac_replace_from_uri") == [("sip:13912345678@192.0.2.10",)]
    assert ksr.called("rr.record_route_params") == [(";cc=ctl",)]
    assert ksr.pvs["$rU"] == "95599"  # the normalised dialled number
    assert headers.startswith(f"X-CC-Correlation-ID: {ksr.pvs['$dlg_var(cid)']}\r\n")
    # The controller anchors media itself: the edge adds no rtpengine session.
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]
    assert not ksr.called("registrar.lookup")
    # Its CANCEL will find this flag on the transaction and skip rtpengine.
    assert ksr.called("setflag") == [(5,)]
    assert ksr.names().index("setflag") < ksr.names().index("tm.t_relay")
    assert ksr.called("tm.t_relay") == [()]


def test_no_active_controller_gives_503_without_relay(router_with: Any) -> None:
    router, ksr = router_with(CONTROLLER_INVITE, {**INITIAL, "dispatcher.ds_select_dst": -1})
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(503, "Service Unavailable")]
    assert not ksr.called("tm.t_relay")


@pytest.mark.parametrize("code", [408, 503])
def test_controller_failure_fails_over_to_the_next_replica(router_with: Any, code: int) -> None:
    pvs = {"$dlg_var(cid)": "c" * 32, "$T_reply_code": code, "$du": "sip:127.0.0.1:5070"}
    router, ksr = router_with(pvs, {"tm.t_is_canceled": -1, "tm.t_branch_timeout": -1})
    router.ksr_failure_controller(None)
    assert ksr.called("dispatcher.ds_next_dst") == [()]
    assert ksr.called("tm.t_on_failure") == [("ksr_failure_controller",)]
    assert ksr.called("tm.t_relay") == [()]
    assert not ksr.called("dispatcher.ds_mark_dst_state")  # it answered: not dead
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]


def test_silent_replica_is_marked_inactive_before_failing_over(router_with: Any) -> None:
    pvs = {"$dlg_var(cid)": "c" * 32, "$T_reply_code": 408, "$du": "sip:127.0.0.1:5070"}
    router, ksr = router_with(
        pvs, {"tm.t_is_canceled": -1, "tm.t_branch_timeout": 1, "tm.t_branch_replied": -1}
    )
    router.ksr_failure_controller(None)
    assert ksr.called("dispatcher.ds_mark_dst_state") == [("ip",)]
    assert ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize(
    ("code", "next_dst"),
    [(486, 1), (408, -1)],  # not a failover code; no replica left
)
def test_controller_failure_is_final_otherwise(router_with: Any, code: int, next_dst: int) -> None:
    pvs = {"$dlg_var(cid)": "c" * 32, "$T_reply_code": code}
    router, ksr = router_with(
        pvs, {"tm.t_is_canceled": -1, "tm.t_branch_timeout": -1, "dispatcher.ds_next_dst": next_dst}
    )
    router.ksr_failure_controller(None)
    assert not ksr.called("tm.t_relay")
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]


def test_cancelled_controller_call_does_not_fail_over(router_with: Any) -> None:
    router, ksr = router_with({"$dlg_var(cid)": "c" * 32, "$T_reply_code": 487})
    router.ksr_failure_controller(None)
    assert not ksr.called("dispatcher.ds_next_dst") and not ksr.called("tm.t_relay")


CTL_DIALOG = {**TRUNK_INVITE, "$dlg_var(cid)": "c" * 32}
WITHIN = {"siputils.has_totag": 1, "tmx.t_precheck_trans": -1, "tm.t_check_trans": -1}


@pytest.mark.parametrize("method", ["BYE", "INVITE", "ACK"])
def test_in_dialog_requests_of_controller_calls_leave_media_alone(
    router_with: Any,
    method: str,
) -> None:
    router, ksr = router_with({**CTL_DIALOG, "$rm": method}, {**WITHIN, "rr.check_route_param": 1})
    router.ksr_request_route(None)
    assert ksr.called("rr.check_route_param") == [("cc=ctl",)]
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]
    assert not ksr.called("tm.t_on_reply")
    assert ksr.called("tm.t_relay") == [()]


@pytest.mark.parametrize(
    ("method", "media"),
    [
        ("BYE", "rtpengine.rtpengine_delete0"),
        ("INVITE", "rtpengine.rtpengine_offer"),
        ("ACK", "rtpengine.rtpengine_answer"),
    ],
)
def test_in_dialog_requests_of_agent_calls_still_touch_media(
    router_with: Any,
    method: str,
    media: str,
) -> None:
    router, ksr = router_with({**CTL_DIALOG, "$rm": method}, {**WITHIN, "rr.check_route_param": -1})
    router.ksr_request_route(None)
    assert ksr.called(media)
