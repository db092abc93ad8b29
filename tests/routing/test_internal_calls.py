"""Internal calls when the ACD drives the controllers: the pure decision and its adapter.

With an `acd:` section and `controllers:`, an authenticated agent's INVITE to another
agent's account goes to a controller replica (category `internal`), which reserves
the callee at the ACD; without one the edge rings the callee itself, as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routing import (
    DeliverToAgents,
    InternalToController,
    Reject,
    RoutingTable,
    decide_initial,
)
from tests.routing.fake_ksr import FakeKsr, KsrFunction, installed
from tests.routing.tables import CONFIG, TABLE, request

WITH_ACD = {**CONFIG, "acd": {"listen": "127.0.0.1:50051"}}
ACD_TABLE = RoutingTable.from_config(WITH_ACD)
AGENT_IP = "198.51.100.7"


def new_id() -> str:
    return "f" * 32


def test_the_acd_and_replicas_send_internal_calls_to_a_replica() -> None:
    assert ACD_TABLE.internal_via_controller and not TABLE.internal_via_controller
    assert not RoutingTable.from_config({**WITH_ACD, "controllers": []}).internal_via_controller
    ctx = request(source_ip=AGENT_IP, from_user="1001", ruri_user="1002")
    assert decide_initial(
        ctx, ACD_TABLE, new_id, authenticated_user="1001"
    ) == InternalToController("f" * 32, "1001", "1002")
    # Without the ACD the edge hunts the callee's phone itself, as before.
    assert isinstance(
        decide_initial(ctx, TABLE, new_id, authenticated_user="1001"), DeliverToAgents
    )


@pytest.mark.parametrize(
    ("overrides", "code", "detail"),
    [
        ({"ruri_user": "1001"}, 486, "agent 1001 dialled itself"),
        ({"has_sdp": False}, 488, "INVITE without SDP offer"),
        ({"ruri_user": "777"}, 404, "dialled unknown '777'"),
    ],
)
def test_refusals_before_any_replica_or_acd(
    overrides: dict[str, object], code: int, detail: str
) -> None:
    ctx = request(**{"source_ip": AGENT_IP, "from_user": "1001", "ruri_user": "1002", **overrides})
    decision = decide_initial(ctx, ACD_TABLE, new_id, authenticated_user="1001")
    assert isinstance(decision, Reject) and decision.code == code, decision
    assert detail in decision.detail


def test_the_agent_still_authenticates_first() -> None:
    ctx = request(source_ip=AGENT_IP, from_user="1001", ruri_user="1002")
    assert decide_initial(ctx, ACD_TABLE, new_id).__class__.__name__ == "Authenticate"


# ---------------------------------------------------------------- the adapter

AGENT_INVITE = {
    "$rm": "INVITE",
    "$si": AGENT_IP,
    "$sp": 5060,
    "$rU": "1002",
    "$fU": "1001",
    "$tU": "1002",
    "$ci": "call-2",
    "$fd": "huaan.test",
    "$au": None,
    "$ru": "sip:1002@huaan.test",
    "$du": "sip:192.0.2.10:5070",
}
INITIAL = {"siputils.has_totag": -1, "tmx.t_precheck_trans": -1, "tm.t_check_trans": -1}


@pytest.fixture
def acd_router(ksr_api: list[KsrFunction], tmp_path: Path) -> Iterator[Any]:
    runtime = tmp_path / "runtime.json"
    runtime.write_text(json.dumps(WITH_ACD))
    contexts: list[Any] = []

    def make(returns: dict[str, Any]) -> tuple[Any, FakeKsr]:
        fake = FakeKsr(ksr_api, pvs=dict(AGENT_INVITE), returns={**INITIAL, **returns})
        contexts.append(installed(fake))
        contexts[-1].__enter__()
        from routing.kemi import build_router

        return build_router(str(runtime)), fake

    yield make
    for ctx in reversed(contexts):
        ctx.__exit__(None, None, None)


def test_internal_call_goes_to_a_replica_tagged_internal_without_media(acd_router: Any) -> None:
    router, ksr = acd_router({"auth.pv_auth_check": 1})
    router.ksr_request_route(None)
    assert ksr.called("auth.pv_auth_check") == [("huaan.test", "a" * 32, 1, 1)]
    # The callee's phone is checked without rewriting the R-URI (the replica reads the
    # callee from its user), then the call takes the controller path.
    assert ksr.called("registrar.registered") == [("location",)]
    assert not ksr.called("registrar.lookup")
    assert ksr.called("dispatcher.ds_select_dst") == [(1, 4)]
    (headers,) = (args[0] for args in ksr.called("hdr.append"))
    assert re.search(r"X-CC-Correlation-ID: [0-9a-f]{32}\r\n", headers)
    assert "X-CC-Category: internal\r\n" in headers and "X-CC-Dialled: 1002\r\n" in headers
    assert ksr.called("textops.remove_hf_re") == [("^X-CC-",)]
    assert not ksr.called("uac.uac_replace_from_uri")  # the From is the calling agent's
    assert ksr.pvs["$ru"] == "sip:1002@huaan.test"
    assert ksr.called("rr.record_route_params") == [(";cc=ctl",)]
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]
    assert ksr.called("setflag") == [(5,)]
    assert ksr.called("tm.t_relay") == [()]


def test_a_callee_whose_phone_is_not_registered_gets_480_at_the_edge(acd_router: Any) -> None:
    router, ksr = acd_router({"auth.pv_auth_check": 1, "registrar.registered": -1})
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(480, "Not Registered")]
    assert not ksr.called("dispatcher.ds_select_dst") and not ksr.called("tm.t_relay")


def test_calling_yourself_is_busy_at_the_edge(acd_router: Any) -> None:
    router, ksr = acd_router({"auth.pv_auth_check": 1})
    ksr.pvs["$rU"] = "1001"
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(486, "Busy Here")]
    assert not ksr.called("registrar.registered") and not ksr.called("tm.t_relay")
