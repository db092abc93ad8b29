"""Followers pass commands on to the leader, so clients may call any replica."""

from __future__ import annotations

import threading
from typing import Any, NoReturn

import grpc

from acd_api.v1 import acd_pb2_grpc
from acd_client import service_channel

from ._leadership import Leadership

__all__ = ["FORWARDED", "Forwarder", "NoLeader"]

FORWARDED = "acd-forwarded-by"  # metadata key: a forwarded request is never forwarded again
_MAX_TIMEOUT = 5.0
# A forwarded GetVoicemailAudio brings the whole WAV back (up to an hour of 8 kHz mono,
# 58 MB); grpc's default receive limit is 4 MB. acd_client raises its own the same way.
_OPTIONS = (("grpc.max_receive_message_length", 64 * 1024 * 1024),)


class NoLeader(Exception):
    """No leader is known (election in progress): the caller should retry."""


class Forwarder:
    def __init__(
        self, leadership: Leadership, *, own_address: str, node: str, token: str | None
    ) -> None:
        self._leadership = leadership
        self._token = token  # the leader checks it like any other caller's
        self._own = own_address
        self._node = node
        self._lock = threading.Lock()
        self._channels: dict[str, tuple[grpc.Channel, Any]] = {}

    def _stub(self, address: str) -> Any:
        with self._lock:
            if address not in self._channels:
                channel = service_channel(address, self._token, _OPTIONS)
                self._channels[address] = (channel, acd_pb2_grpc.AcdServiceStub(channel))
            return self._channels[address][1]

    def _leader_address(self) -> str:
        leader = self._leadership.leader
        if leader is None or leader.address == self._own:
            leader = self._leadership.refresh()
        if leader is None or leader.address == self._own:
            raise NoLeader("no ACD leader at the moment; retry")
        return leader.address

    def unary(self, method: str, request: Any, *, timeout: float) -> Any:
        """Call `method` on the leader; raises NoLeader or grpc.RpcError."""
        stub = self._stub(self._leader_address())
        try:
            return getattr(stub, method)(
                request, timeout=min(timeout, _MAX_TIMEOUT), metadata=((FORWARDED, self._node),)
            )
        except grpc.RpcError:
            self._leadership.refresh()
            raise

    def call(self, method: str, request: Any, context: Any) -> Any:
        """Forward a request received on `context`; mirror the leader's status on failure."""
        if any(key == FORWARDED for key, _ in context.invocation_metadata() or ()):
            _abort(context, grpc.StatusCode.UNAVAILABLE, "this replica does not lead; retry")
        remaining = context.time_remaining()
        try:
            return self.unary(method, request, timeout=remaining or _MAX_TIMEOUT)
        except NoLeader as exc:
            _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        except grpc.RpcError as exc:
            _abort(context, exc.code(), f"forwarded to the leader: {exc.details()}")

    def close(self) -> None:
        with self._lock:
            for channel, _ in self._channels.values():
                channel.close()
            self._channels.clear()


def _abort(context: Any, code: grpc.StatusCode, details: str) -> NoReturn:
    context.abort(code, details)
    raise AssertionError("context.abort returned")  # pragma: no cover - abort raises
