"""rtpengine's ng control protocol: bencoded dictionaries over UDP.

A request is `<cookie> <bencoded dict>`, the reply `<cookie> <bencoded dict>`.
Kamailio's rtpengine module covers offer/answer/delete; this client serves the
parts of the system outside Kamailio (health checks, tests, the call
controller's play/record/subscribe) and always has a deadline.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any

import fastbencode

from rtpengine._bencode import BencodeError, as_text, bdecode


class NgError(Exception):
    """rtpengine answered with result=error, or did not answer in time."""


class NgUnreachable(NgError):
    """No usable answer at all (timeout, refused port, garbage): the node may be down,
    as opposed to an error reply about this one request."""


def _to_wire(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, Mapping):
        return {str(k).encode(): _to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_wire(v) for v in value]
    return value


class NgClient:
    """One client per process (or per worker after fork); not thread-safe."""

    def __init__(self, host: str, port: int, *, timeout: float = 0.5) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._sock.connect(self.address)
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def request(self, command: str, **params: Any) -> dict[str, Any]:
        cookie = secrets.token_hex(8).encode()
        body = fastbencode.bencode(_to_wire({"command": command, **params}))
        sock = self._socket()
        deadline = time.monotonic() + self.timeout
        try:
            sock.send(cookie + b" " + body)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise NgUnreachable(
                        f"rtpengine {self.address} did not answer {command!r} in time"
                    )
                sock.settimeout(remaining)
                data = sock.recv(65535)
                got_cookie, _, payload = data.partition(b" ")
                if got_cookie == cookie:  # drop late replies to earlier, timed-out requests
                    break
            reply = as_text(bdecode(payload))
        except (OSError, BencodeError) as exc:
            self.close()
            raise NgUnreachable(f"rtpengine {self.address} {command!r}: {exc}") from exc
        if not isinstance(reply, dict):
            raise NgError(f"rtpengine {command!r}: reply is not a dictionary")
        if reply.get("result") == "error":
            raise NgError(f"rtpengine {command!r}: {reply.get('error-reason', 'error')}")
        return reply

    def ping(self) -> bool:
        try:
            return self.request("ping").get("result") == "pong"
        except NgError:
            return False

    def list_calls(self, limit: int = 10_000) -> list[str]:
        calls: list[str] = self.request("list", limit=str(limit)).get("calls", [])
        return calls

    def query(self, call_id: str) -> dict[str, Any]:
        return self.request("query", **{"call-id": call_id})
