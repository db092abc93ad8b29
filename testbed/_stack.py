"""A real local stack (Kamailio, rtpengine, Redis) on free loopback ports, for tests and
benchmarks."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import callcenter
import configuration
from callcenter import account_entry
from rtpengine import NgClient
from simulators import free_port
from testbed._waiting import wait_until

REALM = "huaan.test"


class ReplicaControl:
    """A client of one call-controller replica's line-based control socket."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=5)
        self._file = self._sock.makefile("rwb")

    def cmd(self, cmd: str, **args: Any) -> Any:
        self._file.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        self._file.flush()
        reply = json.loads(self._file.readline())
        assert reply.get("ok"), f"{cmd} {args}: {reply}"
        return reply["result"]

    def call(self, cid: str) -> dict[str, Any] | None:
        return next((dict(c) for c in self.cmd("calls") if c["cid"] == cid), None)

    def wait_new_call(self, timeout: float = 10.0) -> dict[str, Any]:
        """The one call this replica has, once it has one."""
        wait_until(lambda: self.cmd("calls"), timeout=timeout, what="a call reaches the replica")
        calls = self.cmd("calls")
        assert len(calls) == 1, calls
        return dict(calls[0])

    def wait_state(self, cid: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        wait_until(
            lambda: (self.call(cid) or {}).get("state") == state,
            timeout=timeout,
            what=f"call {cid} in state {state} (now {self.call(cid)})",
        )
        call = self.call(cid)
        assert call is not None
        return call

    def close(self) -> None:
        self._file.close()
        self._sock.close()


@dataclass
class Stack:
    config: configuration.CallCenterConfig
    layout: configuration.RunLayout
    passwords: dict[str, str]
    workdir: Path
    _ng: list[NgClient] = field(default_factory=list)

    @property
    def sip(self) -> str:
        return self.config.sip.listen

    @property
    def realm(self) -> str:
        return self.config.sip.realm

    @property
    def acd_token(self) -> str | None:
        """The ACD's service token (`callcenter up` generated it), for test clients."""
        return callcenter.acd_token(self.config, self.layout)

    def ng(self, index: int = 0) -> NgClient:
        while len(self._ng) <= index:
            node = self.config.rtpengine.nodes[len(self._ng)]
            host, _, port = node.ng.rpartition(":")
            self._ng.append(NgClient(host, int(port), timeout=1.0))
        return self._ng[index]

    def rtpengine_calls(self, index: int = 0) -> list[str]:
        return self.ng(index).list_calls()

    def mixer_client(self, index: int = 0) -> NgClient:
        """An ng client of `monitoring.mixers[index]` (`mixer_config`); close it when done."""
        host, _, port = self.config.monitoring.mixers[index].ng.rpartition(":")
        return NgClient(host, int(port), timeout=1.0)

    def replica_control(self, index: int = 0) -> ReplicaControl:
        """A client of `controllers[index]`'s control socket; close it when done."""
        return ReplicaControl(self.config.controllers[index].control)

    def kamailio_log(self) -> str:
        return self.layout.log_file("kamailio").read_text(errors="replace")

    def close(self) -> None:
        for client in self._ng:
            client.close()


def wss_config(workdir: Path, config: dict[str, Any]) -> str:
    """Turn on Kamailio's WSS listener (a free port; the certificate `running_stack`
    writes into workdir/tls); return the URL a softphone connects to."""
    listen = f"127.0.0.1:{free_port()}"
    config["sip"]["wss_listen"] = listen
    config["tls"] = {
        "cert": str(workdir / "tls" / "server.crt"),
        "key": str(workdir / "tls" / "server.key"),
    }
    return f"wss://{listen}"


def wss_ca_file(stack: Stack) -> str:
    """The CA a WSS client of `stack` trusts (written beside the server certificate)."""
    return str(Path(stack.config.tls.cert).parent / "ca.crt")


def tls_spki_hash(stack: Stack) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the stack's server certificate: Chromium
    trusts exactly that key with `--ignore-certificate-errors-spki-list=<hash>` (its
    WSS and HTTPS), without importing the demo CA into a profile."""
    import base64  # noqa: PLC0415 - only browser tests need it
    import hashlib  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    cert = x509.load_pem_x509_certificates(Path(stack.config.tls.cert).read_bytes())[0]
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def base_config(
    workdir: Path, agents: tuple[str, ...] = ("1001", "1002", "1003"), **overrides: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """A config dict on free ports, plus clear passwords generated for this run only."""
    passwords = {a: secrets.token_urlsafe(12) for a in agents}
    # Below Linux's ephemeral range, so the free ports picked above cannot collide.
    port_base = 20000 + secrets.randbelow(60) * 200
    config: dict[str, Any] = {
        "version": 1,
        "node": {"run_dir": str(workdir / "run"), "name": "test"},
        "sip": {
            "listen": f"127.0.0.1:{free_port()}",
            "realm": REALM,
            "workers": 2,
            "shm_mb": 128,
            "rtpengine_timeout_ms": 200,
            "rtpengine_disable_s": 30,
            # sipp phones cannot answer keepalive OPTIONS (each new Call-ID starts a
            # call of their scenario); tests of the keepalive turn it on.
            "phone_keepalive_s": 0,
        },
        "rtpengine": {
            "nodes": [
                {
                    "ng": f"127.0.0.1:{free_port()}",
                    "port_min": port_base,
                    "port_max": port_base + 199,
                }
            ],
            "rtp_timeout_s": 30,
        },
        "redis": {"listen": f"127.0.0.1:{free_port()}"},
        "timers": {
            "ring_timeout_ms": 1500,
            "transaction_timeout_ms": 2000,
            "invite_timeout_ms": 8000,
        },
        "trunks": [{"name": "carrier-a", "sources": ["127.0.0.1/32"]}],
        "numbering": {
            "caller_rules": [
                {"match": r"^(?:\+|00)86(1[3-9]\d{9})$", "replace": r"\1"},
                {"match": r"^(?:\+|00)86([1-9]\d{8,10})$", "replace": r"0\1"},
            ],
            "dialled_rules": [{"match": r"^(?:\+|00)86(\d+)$", "replace": r"\1"}],
        },
        "numbers": [
            {"number": "95598", "category": "electricity-billing", "agents": ["1001", "1002"]},
            {"number": "95599", "category": "outage", "agents": ["1003"]},
        ],
        "accounts": [account_entry(a, passwords[a], REALM, ["agent"]) for a in agents],
    }
    for key, value in overrides.items():
        config[key] = value
    return config, passwords


@contextmanager
def running_stack(
    workdir: Path,
    config: dict[str, Any],
    passwords: dict[str, str],
    keep_logs_in: Path | None = None,
) -> Iterator[Stack]:
    path = workdir / "callcenter.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    parsed = configuration.load_config(path)
    layout = callcenter.layout_for(parsed, workdir)
    if parsed.sip.wss_listen is not None and not Path(parsed.tls.cert).exists():
        callcenter.write_secrets(parsed, workdir)  # as `callcenter secrets` would
    callcenter.up(parsed, layout)
    stack = Stack(parsed, layout, passwords, workdir)
    try:
        yield stack
    finally:
        stack.close()
        callcenter.down(layout)
        if keep_logs_in is not None:
            shutil.copytree(layout.logs, keep_logs_in, dirs_exist_ok=True)
