"""Attended transfers through the call controller that holds the call: its control
socket (one JSON line in, one out; controller/_commands.py) takes `consult`,
`complete_transfer` and `cancel_consult`. Which replica holds the call: the first of
`controllers[].control` whose `call` command knows it."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from typing import Any

from configuration import split_hostport

from ._errors import ApiError

__all__ = ["ControllerLink"]


def _ask(address: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    with socket.create_connection(split_hostport(address), timeout=timeout) as sock:
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as reply:
            line = reply.readline()
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ValueError(f"not a reply object: {line!r}")
    return answer


class ControllerLink:
    def __init__(self, addresses: Sequence[str], *, timeout: float = 2.0) -> None:
        self.addresses = list(addresses)
        self.timeout = timeout

    def holder(self, call_id: str) -> str:
        """The control address of the replica that has this call."""
        for address in self.addresses:
            try:
                if _ask(address, {"cmd": "call", "cid": call_id}, self.timeout).get("ok"):
                    return address
            except (OSError, ValueError):
                continue
        raise ApiError(404, "unknown_call", f"no call controller has call {call_id}")

    def command(self, call_id: str, cmd: str, **args: str) -> Any:
        address = self.holder(call_id)
        try:
            answer = _ask(address, {"cmd": cmd, "cid": call_id, **args}, self.timeout)
        except (OSError, ValueError) as exc:
            raise ApiError(503, "controller_unavailable", f"{address}: {exc}") from None
        if not answer.get("ok"):
            raise ApiError(409, "refused", str(answer.get("error") or "refused"))
        return answer.get("result")
