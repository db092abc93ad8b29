"""The routing table: trunks, numbers and agent credentials from the runtime config."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from configuration import split_hostport
from routing._numbers import RewriteRule


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    # HOST:PORT of the carrier's side for calls we originate; None: inbound only.
    gateway: str | None = None
    # Numbers a controller may dial out through it (prefix match); empty: any number.
    outbound_prefixes: tuple[str, ...] = ()


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
    # (source IP as Kamailio spells it, port) -> the replica's configured HOST:PORT.
    # Requests from these addresses come from our own call-controller replicas.
    controllers: Mapping[tuple[str, int], str] = field(default_factory=dict)
    # The IPs of `controllers`: the adapter reads a request's source port only for these.
    controller_ips: frozenset[str] = frozenset()
    # An `acd:` section and replicas: the ACD drives the replicas, and an agent's call to
    # another agent goes to one of them, which reserves the callee at the ACD (an agent
    # never holds two calls). Otherwise the edge rings the callee's phone itself.
    internal_via_controller: bool = False

    def trunk_for(self, source_ip: str) -> Trunk | None:
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            return None
        for trunk in self.trunks:
            if any(address in net for net in trunk.networks):
                return trunk
        return None

    def controller_at(self, source_ip: str, source_port: int) -> str | None:
        """The replica (its configured HOST:PORT) that sends from this address, if any."""
        return self.controllers.get((source_ip, source_port))

    def trunk_named(self, name: str) -> Trunk | None:
        for trunk in self.trunks:
            if trunk.name == name:
                return trunk
        return None

    def default_outbound_trunk(self) -> Trunk | None:
        """The first trunk with a gateway: where external numbers go when not told."""
        for trunk in self.trunks:
            if trunk.gateway is not None:
                return trunk
        return None

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], resolve: Callable[[str], tuple[str, ...]] | None = None
    ) -> RoutingTable:
        """Build from the validated config as dumped to runtime.json.

        `resolve` turns a replica's host name into its IPs (default: the system
        resolver, once, when Kamailio loads the table); IP literals need none.
        """
        numbering = config.get("numbering", {})
        controllers: dict[tuple[str, int], str] = {}
        for replica in config.get("controllers", []):
            host, port = split_hostport(replica["sip"])
            for ip in _ips(host, resolve or _resolve):
                for spelling in _spellings(ip):
                    controllers[(spelling, port)] = replica["sip"]
        return cls(
            realm=config["sip"]["realm"],
            ring_timeout_ms=config["timers"]["ring_timeout_ms"],
            trunks=tuple(
                Trunk(
                    t["name"],
                    tuple(ipaddress.ip_network(s, strict=False) for s in t["sources"]),
                    gateway=t.get("gateway"),
                    outbound_prefixes=tuple(t.get("outbound_prefixes") or ()),
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
                    n["number"],
                    n["category"],
                    tuple(n.get("agents", ())),
                    to_controller=n.get("target", "agents") == "controller",
                )
                for n in config.get("numbers", [])
            },
            ha1=accounts_ha1(config),
            controllers=controllers,
            controller_ips=frozenset(ip for ip, _ in controllers),
            # Mirrors callcenter._stack.controller_acd_args: replicas get --acd then.
            internal_via_controller=config.get("acd") is not None and bool(controllers),
        )


def accounts_ha1(config: Mapping[str, Any]) -> dict[str, str]:
    """username -> HA1 of every account in a runtime config (runtime.json's dict)."""
    return {a["username"]: a["ha1"] for a in config.get("accounts", [])}


def _ips(host: str, resolve: Callable[[str], tuple[str, ...]]) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        return resolve(host)


def _resolve(host: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ValueError(f"controllers: cannot resolve replica host {host!r}: {exc}") from exc
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def _spellings(ip: str) -> tuple[str, ...]:
    """The ways a source IP may be spelt: Python's, and Kamailio's `$si` for IPv6
    (every group, upper-case hex, no leading zeros, no `::`)."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return (str(address),)
    groups = address.exploded.split(":")
    return (str(address), ":".join(f"{int(g, 16):X}" for g in groups))
