"""A routing table for unit tests, built the way Kamailio builds it: from a config dict."""

from __future__ import annotations

from routing import RequestContext, RoutingTable

CONFIG = {
    "sip": {"realm": "huaan.test", "max_forwards": 10, "rtpengine_disable_s": 10},
    "timers": {"ring_timeout_ms": 1500},
    "trunks": [
        # Inbound only (no gateway); its sources include the first replica's IP.
        {"name": "carrier-a", "sources": ["192.0.2.0/24", "2001:db8::/32"]},
        {"name": "carrier-b", "sources": ["203.0.113.0/24"], "gateway": "203.0.113.5:5060"},
        {
            "name": "carrier-c",
            "sources": ["198.18.0.0/24"],
            "gateway": "198.18.0.5:5060",
            "outbound_prefixes": ["+86", "400"],
        },
    ],
    # Call-controller replicas: trusted by address *and* port.
    "controllers": [{"sip": "192.0.2.10:5070"}, {"sip": "[2001:db8::7]:5070"}],
    "numbering": {
        "caller_rules": [{"match": r"^(?:\+|00)86(1[3-9]\d{9})$", "replace": r"\1"}],
        "dialled_rules": [{"match": r"^(?:\+|00)86(\d+)$", "replace": r"\1"}],
    },
    "numbers": [
        {"number": "95598", "category": "billing", "agents": ["1001", "1002"]},
        {"number": "95599", "category": "outage", "target": "controller"},
    ],
    "accounts": [
        {"username": "1001", "ha1": "a" * 32},
        {"username": "1002", "ha1": "b" * 32},
    ],
}
TABLE = RoutingTable.from_config(CONFIG)


def request(**overrides: object) -> RequestContext:
    fields: dict[str, object] = {
        "method": "INVITE",
        "source_ip": "192.0.2.10",
        "ruri_user": "95598",
        "from_user": "+8613912345678",
        "to_user": "",
        "has_sdp": True,
        "auth_user": None,
    }
    fields.update(overrides)
    return RequestContext(**fields)  # type: ignore[arg-type]
