"""The service token, server side: which acd.v1 methods need it, and the interceptor
that refuses a call without it. The client side (the token file, a channel that sends
it) is acd_client's.

Who may drive calls through the ACD, and why one shared token: see acd_client's
`_token` module (docs/acd-service.md, "Authentication").
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from acd_client import AUTH_METADATA_KEY

__all__ = ["AGENT_METHODS", "token_interceptor"]

_SERVICE = "/acd.v1.AcdService/"
# Methods whose requests carry the caller's own credentials (password, desk session
# or AdminCredentials): open without the service token. Every other acd.v1 method
# needs it; a new method is therefore closed until someone decides otherwise.
AGENT_METHODS = frozenset(
    _SERVICE + m
    for m in (
        "Login",
        "Logout",
        "Heartbeat",
        "SetBusy",
        "SetIdle",
        "ForceLogout",
        "ForceBusy",
        "ForceIdle",
        # Carries the supervisor's own Actor like Force*, and the core refuses any other
        # actor: the token would add nothing a supervisor's tool could be trusted with.
        "Intercept",
        # Monitoring likewise (the supervisor's Actor); ReportMonitor is the controllers'.
        "Monitor",
        "SwitchMonitor",
        "StopMonitor",
        # The agent's own desk session (PlayMessage, ControlRecording) or the actor's
        # credentials (the voicemail RPCs), checked like the commands above.
        # ReportRecording is the controllers': it needs the token.
        "PlayMessage",
        "ControlRecording",
        "ListVoicemail",
        "GetVoicemailAudio",
        "MarkVoicemailHeard",
        "DeleteVoicemail",
    )
)


def _authorized(metadata: Sequence[Any] | None, expected: str) -> bool:
    for key, value in metadata or ():
        if key == AUTH_METADATA_KEY and isinstance(value, str) and value.startswith("Bearer "):
            # Constant time: the reply's timing must not reveal how much matched.
            return hmac.compare_digest(value[len("Bearer ") :].encode(), expected.encode())
    return False


class _TokenInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, token: str) -> None:
        self._token = token

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        method = handler_call_details.method
        if (
            not method.startswith(_SERVICE)
            or method in AGENT_METHODS
            or _authorized(handler_call_details.invocation_metadata, self._token)
        ):
            return continuation(handler_call_details)
        return _refusal(continuation(handler_call_details), method)


def _refusal(handler: Any, method: str) -> Any:
    """A handler of the same shape as `handler` that aborts with UNAUTHENTICATED."""
    details = (
        f"{method.removeprefix(_SERVICE)} needs the ACD service token "
        "(authorization: Bearer, from acd.token_file)"
    )

    def abort(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, details)

    if handler is None:
        return None
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            abort,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.unary_unary_rpc_method_handler(
        abort,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def token_interceptor(token: str) -> grpc.ServerInterceptor:
    return _TokenInterceptor(token)
