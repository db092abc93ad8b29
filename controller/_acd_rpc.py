"""The ACD's RPCs as the driver sees them: the client it calls (`AcdRpc`, the port
`acd_client.AcdClient` fills) and how it reads replies and failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from acd_api.v1 import acd_pb2 as pb

__all__ = ["OK", "AcdRpc", "code_name", "reply_code", "rpc_error"]

M = TypeVar("M", bound=Message)
OK = pb.ERROR_CODE_UNSPECIFIED


class AcdRpc(Protocol):
    """What the driver needs of `acd_client.AcdClient`."""

    def call(
        self,
        method: str,
        request: Message,
        reply_type: type[M],
        *,
        retry_for: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> M: ...


def reply_code(reply: Any) -> int:
    """A reply's `error.code`; OK when it has none."""
    return int(reply.error.code) if reply.HasField("error") else OK


def code_name(code: int) -> str:
    """`ERROR_CODE_AGENT_NOT_AVAILABLE` -> `AGENT_NOT_AVAILABLE`, as log lines and causes say it."""
    return pb.ErrorCode.Name(code).removeprefix("ERROR_CODE_")


def rpc_error(exc: grpc.RpcError) -> str:
    """Why an RPC failed, in one line: its status code and details."""
    code = exc.code() if hasattr(exc, "code") else None
    name = code.name if code is not None else type(exc).__name__
    details = exc.details() if hasattr(exc, "details") else ""
    return f"{name} {details}".strip()
