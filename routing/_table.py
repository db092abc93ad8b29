"""The routing table: trunks, numbers and agent credentials from the runtime config."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routing._numbers import RewriteRule


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@dataclass(frozen=True, slots=True)
class NumberTarget:
    number: str
    category: str
    agents: tuple[str, ...]
    # True: the call goes to the call-controller replicas, not to `agents`.
    to_controller: bool = False


@dataclass(frozen=True, slots=True)
class RoutingTable:
    realm: str
    ring_timeout_ms: int
    trunks: tuple[Trunk, ...] = ()
    caller_rules: tuple[RewriteRule, ...] = ()
    dialled_rules: tuple[RewriteRule, ...] = ()
    numbers: Mapping[str, NumberTarget] = field(default_factory=dict)
    # username -> HA1; only digest verifiers are ever loaded into Kamailio.
    ha1: Mapping[str, str] = field(default_factory=dict)

    def trunk_for(self, source_ip: str) -> Trunk | None:
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            return None
        for trunk in self.trunks:
            if any(address in net for net in trunk.networks):
                return trunk
        return None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RoutingTable:
        """Build from the validated config as dumped to runtime.json."""
        numbering = config.get("numbering", {})
        return cls(
            realm=config["sip"]["realm"],
            ring_timeout_ms=config["timers"]["ring_timeout_ms"],
            trunks=tuple(
                Trunk(
                    t["name"],
                    tuple(ipaddress.ip_network(s, strict=False) for s in t["sources"]),
                )
                for t in config.get("trunks", [])
            ),
            caller_rules=tuple(
                RewriteRule.compile(r["match"], r["replace"])
                for r in numbering.get("caller_rules", [])
            ),
            dialled_rules=tuple(
                RewriteRule.compile(r["match"], r["replace"])
                for r in numbering.get("dialled_rules", [])
            ),
            numbers={
                n["number"]: NumberTarget(
                    n["number"], n["category"], tuple(n.get("agents", ())),
                    to_controller=n.get("target", "agents") == "controller",
                )
                for n in config.get("numbers", [])
            },
            ha1={a["username"]: a["ha1"] for a in config.get("accounts", [])},
        )
