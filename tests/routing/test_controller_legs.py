"""Legs a call-controller replica originates: trusted by address and port, to an agent's
registered phone or out through a trunk's gateway, never anchored at the edge."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from callcenter._stack import controller_argv
from configuration import ConfigError, parse_config
from routing import (
    AnswerOptions,
    Authenticate,
    DeliverToAgents,
    LegToAgent,
    LegToTrunk,
    Reject,
    RoutingTable,
    decide_initial,
)
from tests.routing.fake_ksr import FakeKsr
from tests.routing.tables import CONFIG, TABLE, request

CID = "c" * 32
REPLICA = "192.0.2.10:5070"


def new_id() -> str:
    return "f" * 32


def from_replica(**overrides: object) -> Any:
    fields: dict[str, object] = {
        "source_ip": "192.0.2.10",
        "source_port": 5070,
        "ruri_user": "1001",
        "from_user": "",
        "has_sdp": False,
        "correlation_id": CID,
    }
    fields.update(overrides)
    return request(**fields)


# -- who is a controller -------------------------------------------------------------
def test_a_replica_is_trusted_by_address_and_port_before_the_trunk_check() -> None:
    """192.0.2.10 is also inside carrier-a's sources: only the replica's port decides."""
    assert decide_initial(from_replica(), TABLE, new_id) == LegToAgent(CID, REPLICA, "1001")
    as_trunk = decide_initial(
        from_replica(source_port=5071, ruri_user="95598", from_user="+8613912345678", has_sdp=True),
        TABLE,
        new_id,
    )
    assert isinstance(as_trunk, DeliverToAgents) and as_trunk.trunk == "carrier-a"


def test_same_port_on_another_ip_is_not_a_controller() -> None:
    decision = decide_initial(
        from_replica(source_ip="198.51.100.7", from_user="1002"), TABLE, new_id
    )
    assert decision == Authenticate("1002", "b" * 32)  # an agent, must prove it


def test_ipv6_replica_matches_in_both_spellings() -> None:
    """Kamailio's $si writes IPv6 without `::` and in upper case."""
    for spelling in ("2001:db8::7", "2001:DB8:0:0:0:0:0:7"):
        decision = decide_initial(from_replica(source_ip=spelling), TABLE, new_id)
        assert decision == LegToAgent(CID, "[2001:db8::7]:5070", "1001")
    assert TABLE.controller_ips >= {"2001:db8::7", "2001:DB8:0:0:0:0:0:7", "192.0.2.10"}


def test_replica_host_names_are_resolved_once_when_the_table_is_built() -> None:
    config = {**CONFIG, "controllers": [{"sip": "ctl.example:5070"}]}
    table = RoutingTable.from_config(config, resolve=lambda host: ("10.0.0.9",))
    assert table.controller_at("10.0.0.9", 5070) == "ctl.example:5070"
    assert table.controller_at("10.0.0.9", 5060) is None


# -- methods -------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["REGISTER", "MESSAGE", "SUBSCRIBE", "INFO", "PUBLISH"])
def test_a_replica_may_only_invite_or_probe(method: str) -> None:
    decision = decide_initial(from_replica(method=method, to_user="1001"), TABLE, new_id)
    assert isinstance(decision, Reject) and decision.code == 405
    assert REPLICA in decision.detail and method in decision.detail


def test_options_from_a_replica_is_answered_even_with_a_user() -> None:
    assert decide_initial(from_replica(method="OPTIONS"), TABLE, new_id) == AnswerOptions()


# -- to an agent ---------------------------------------------------------------------
def test_an_account_is_an_agent_leg_whatever_the_trunk_header_says() -> None:
    decision = decide_initial(from_replica(ruri_user="1002", trunk_hint="nosuch"), TABLE, new_id)
    assert decision == LegToAgent(CID, REPLICA, "1002")


def test_a_missing_correlation_id_is_logged_as_a_dash() -> None:
    decision = decide_initial(from_replica(correlation_id=""), TABLE, new_id)
    assert decision == LegToAgent("-", REPLICA, "1001")


# -- to an external number -----------------------------------------------------------
def test_external_number_leaves_by_the_first_trunk_with_a_gateway() -> None:
    decision = decide_initial(from_replica(ruri_user="+8613912345678"), TABLE, new_id)
    # Sent as the controller wrote it: the dialled rules (+86 stripped) are for inbound.
    assert decision == LegToTrunk(CID, REPLICA, "+8613912345678", "carrier-b", "203.0.113.5:5060")


def test_x_cc_trunk_picks_the_trunk() -> None:
    decision = decide_initial(
        from_replica(ruri_user="4008001234", trunk_hint="carrier-c"), TABLE, new_id
    )
    assert decision == LegToTrunk(CID, REPLICA, "4008001234", "carrier-c", "198.18.0.5:5060")


@pytest.mark.parametrize(
    ("overrides", "code", "reason", "why"),
    [
        ({"ruri_user": ""}, 404, "Not Found", "neither an agent nor a diallable number"),
        ({"ruri_user": "alice"}, 404, "Not Found", "'alice' is neither"),
        ({"ruri_user": "12ab"}, 404, "Not Found", "neither"),
        ({"ruri_user": "1"}, 404, "Not Found", "neither"),
        (
            {"ruri_user": "13912345678", "trunk_hint": "nosuch"},
            404,
            "Unknown Trunk",
            "names no trunk 'nosuch'",
        ),
        (
            {"ruri_user": "13912345678", "trunk_hint": "carrier-a"},
            503,
            "No Outbound Gateway",
            "trunk carrier-a has no gateway",
        ),
        (
            {"ruri_user": "13912345678", "trunk_hint": "carrier-c"},
            403,
            "Number Not Allowed",
            "matches no outbound_prefixes of trunk carrier-c",
        ),
    ],
)
def test_outbound_refusals(overrides: dict[str, str], code: int, reason: str, why: str) -> None:
    decision = decide_initial(from_replica(**overrides), TABLE, new_id)
    assert isinstance(decision, Reject)
    assert (decision.code, decision.reason) == (code, reason)
    assert why in decision.detail and f"cid={CID}" in decision.detail


def test_no_trunk_with_a_gateway_gives_503() -> None:
    config = {**CONFIG, "trunks": [CONFIG["trunks"][0]]}  # type: ignore[index]
    decision = decide_initial(
        from_replica(ruri_user="13912345678"), RoutingTable.from_config(config), new_id
    )
    assert isinstance(decision, Reject) and decision.code == 503
    assert "no trunk has a gateway" in decision.detail


def test_x_cc_trunk_from_outside_is_no_instruction() -> None:
    """Only a replica's X-CC-Trunk is read; a trunk call still goes to its number."""
    decision = decide_initial(request(trunk_hint="carrier-b"), TABLE, new_id)
    assert isinstance(decision, DeliverToAgents) and decision.trunk == "carrier-a"


# -- the adapter -------------------------------------------------------------------------
INITIAL = {"siputils.has_totag": -1, "tmx.t_precheck_trans": -1, "tm.t_check_trans": -1}
LEG_INVITE = {
    "$rm": "INVITE",
    "$si": "192.0.2.10",
    "$sp": 5070,
    "$rU": "1001",
    "$fU": "13912345678",
    "$fd": "192.0.2.10",
    "$ru": "sip:1001@127.0.0.1:5060",
}


def _headers(cid: str = CID, trunk: str = "") -> Any:
    values = {"X-CC-Correlation-ID": cid, "X-CC-Trunk": trunk}
    return lambda name: values.get(name, "")


def _no_media(ksr: FakeKsr) -> None:
    assert not [n for n in ksr.names() if n.startswith("rtpengine.")]
    assert not ksr.called("tm.t_on_reply")  # replies go back untouched


def test_leg_to_a_registered_agent_is_relayed_untouched_and_marked(router_with: Any) -> None:
    router, ksr = router_with(LEG_INVITE, {**INITIAL, "hdr.gete": _headers()})
    router.ksr_request_route(None)
    assert ksr.called("registrar.lookup") == [("location",)]
    assert ksr.called("rr.record_route_params") == [(";cc=ctl",)]
    assert ksr.called("setflag") == [(5,)]
    assert ksr.pvs["$dlg_var(cid)"] == CID
    assert ksr.called("tm.t_relay") == [()]
    _no_media(ksr)
    # Trusted: its X-CC-* headers stay, nothing of the caller is rewritten, no digest.
    assert not ksr.called("textops.remove_hf_re") and not ksr.called("hdr.append")
    assert not ksr.called("uac.uac_replace_from_uri")
    assert not ksr.called("auth.pv_auth_check")
    # The From user and the SDP are not even read: they decide nothing here.
    assert not ksr.called("kx.gete_fuser") and not ksr.called("sdpops.sdp_content")
    (line,) = (args[0] for args in ksr.called("info"))
    assert f"cid={CID} controller {REPLICA} leg to agent 1001" in line


def test_leg_to_an_unregistered_agent_gets_480(router_with: Any) -> None:
    router, ksr = router_with(
        LEG_INVITE, {**INITIAL, "hdr.gete": _headers(), "registrar.lookup": -1}
    )
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(480, "Not Registered")]
    assert not ksr.called("tm.t_relay")
    _no_media(ksr)
    (line,) = (args[0] for args in ksr.called("notice"))
    assert line == (
        f"refused INVITE from 192.0.2.10: cid={CID} controller {REPLICA}: "
        "agent 1001 is not registered\n"
    )


def test_leg_to_an_external_number_goes_to_the_gateway(router_with: Any) -> None:
    router, ksr = router_with(
        {**LEG_INVITE, "$rU": "4008001234"}, {**INITIAL, "hdr.gete": _headers(trunk="carrier-c")}
    )
    router.ksr_request_route(None)
    assert ksr.pvs["$ru"] == "sip:4008001234@198.18.0.5:5060"
    # The edge consumes X-CC-Trunk; the correlation ID goes on to the carrier.
    assert ksr.called("hdr.remove") == [("X-CC-Trunk",)]
    assert not ksr.called("textops.remove_hf_re")
    assert ksr.called("rr.record_route_params") == [(";cc=ctl",)]
    assert ksr.called("setflag") == [(5,)]
    assert not ksr.called("registrar.lookup")
    assert ksr.called("tm.t_relay") == [()]
    _no_media(ksr)


def test_refused_outbound_leg_is_logged_and_answered(router_with: Any) -> None:
    router, ksr = router_with(
        {**LEG_INVITE, "$rU": "13912345678"}, {**INITIAL, "hdr.gete": _headers(trunk="nosuch")}
    )
    router.ksr_request_route(None)
    assert ksr.called("sl.sl_send_reply") == [(404, "Unknown Trunk")]
    (line,) = (args[0] for args in ksr.called("notice"))
    assert re.search(r"refused INVITE from 192\.0\.2\.10: .*names no trunk 'nosuch'", line)


def test_port_is_read_only_for_a_replicas_ip(router_with: Any) -> None:
    router, ksr = router_with(
        {**LEG_INVITE, "$si": "198.51.100.7", "$rU": "95598"}, {**INITIAL, "auth.pv_auth_check": -5}
    )
    router.ksr_request_route(None)
    assert not ksr.called("kx.get_srcport") and not ksr.called("hdr.gete")


def test_trunk_sharing_a_replicas_ip_still_has_its_headers_stripped(router_with: Any) -> None:
    pvs = {**LEG_INVITE, "$sp": 5060, "$rU": "95598", "$fU": "+8613912345678"}
    router, ksr = router_with(pvs, {**INITIAL, "sdpops.sdp_content": 1})
    router.ksr_request_route(None)
    assert ksr.called("kx.get_srcport") == [()]
    assert not ksr.called("hdr.gete")
    assert ksr.called("textops.remove_hf_re") == [("^X-CC-",)]
    assert ksr.called("rtpengine.rtpengine_offer")


# -- from the YAML to the table Kamailio loads ------------------------------------------
YAML = """\
version: 1
sip: {listen: "0.0.0.0:5060"}
node: {advertise_ip: 10.1.2.3}
rtpengine: {nodes: [{ng: "127.0.0.1:2223"}]}
trunks:
  - {name: carrier, sources: [127.0.0.1/32], gateway: "192.0.2.1:5060",
     outbound_prefixes: ["+86", "400"]}
controllers:
  - {sip: "127.0.0.1:5070", control: "127.0.0.1:5071"}
  - {sip: "[::1]:5070", control: "127.0.0.1:5072", managed: false}
"""


def test_runtime_json_carries_gateways_and_trusted_replicas() -> None:
    """callcenter up dumps the validated config to runtime.json; Kamailio builds its
    table from that dump: the replicas' SIP addresses are the trusted sources."""
    dumped = json.loads(json.dumps(parse_config(YAML).model_dump(mode="json")))
    table = RoutingTable.from_config(dumped)
    (trunk,) = table.trunks
    assert (trunk.gateway, trunk.outbound_prefixes) == ("192.0.2.1:5060", ("+86", "400"))
    assert table.controller_at("127.0.0.1", 5070) == "127.0.0.1:5070"
    assert table.controller_at("0:0:0:0:0:0:0:1", 5070) == "[::1]:5070"
    assert table.controller_at("127.0.0.1", 5060) is None


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ('gateway: "192.0.2.1:5060"', "gateway: nowhere", "x.yaml:6: trunks.0.gateway"),
        ('"+86", "400"', '"+86x"', "x.yaml:7: trunks.0.outbound_prefixes.0"),
    ],
)
def test_trunk_outbound_settings_are_validated(replace: str, by: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        parse_config(YAML.replace(replace, by), "x.yaml")


def test_callcenter_up_points_replicas_at_the_edge() -> None:
    """A wildcard sip.listen is no address to send to: node.advertise_ip instead."""
    config = parse_config(YAML)
    argv = controller_argv(config, 0)
    assert argv[argv.index("--edge") + 1] == "10.1.2.3:5060"
    config = parse_config(YAML.replace("0.0.0.0:5060", "127.0.0.1:5999"))
    argv = controller_argv(config, 0)
    assert argv[argv.index("--edge") + 1] == "127.0.0.1:5999"
