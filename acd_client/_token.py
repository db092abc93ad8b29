"""The service token, client side: reading the token file, and a channel that sends it.
The server side (which methods need it, the interceptor) is acdsvc's.

Who may drive calls through the ACD:

acd.v1 has two kinds of caller. Agents and supervisors prove who they are in
each request (a password at Login, the desk session after it, AdminCredentials
on Force*), so their methods stay open to any peer. The other methods move calls
and read the whole centre's state: Enqueue, Answered, Hangup, Reconcile, the
action feed, the snapshot. Only the stack's own services (call controllers,
presence watcher, dashboards, the other replicas) may call them, and they prove
it with one shared secret, sent as `authorization: Bearer <token>` metadata.

The token lives in a file (mode 0600, like an ssh key; a Kubernetes Secret
mounted as a file in a cluster) and never on a command line, where `ps` would
show it. `callcenter up` generates one per run directory when the config names
none (docs/acd-service.md, "Authentication").

The gRPC health service is not behind the token: probes need no secret.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

__all__ = [
    "AUTH_METADATA_KEY",
    "TokenError",
    "ensure_token_file",
    "read_token",
    "service_channel",
]

# The metadata key the token travels in, as `Bearer <token>` (the server checks it).
AUTH_METADATA_KEY = "authorization"
_MIN_TOKEN_CHARS = 32


class TokenError(Exception):
    """The token file is missing, empty, too short or readable by others."""


def read_token(path: Path | str) -> str:
    """The token in `path`; refuses a file that group or others may read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        token = path.read_text().strip()
    except OSError as exc:
        raise TokenError(f"cannot read the ACD service token {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenError(
            f"the ACD service token {path} is readable by others "
            f"(mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    if len(token) < _MIN_TOKEN_CHARS:
        raise TokenError(
            f"the ACD service token in {path} is shorter than {_MIN_TOKEN_CHARS} characters"
        )
    return token


def ensure_token_file(path: Path) -> Path:
    """Create `path` with a fresh random token unless it exists; return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two `callcenter up` racing never overwrite each other's token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    return path


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return ((AUTH_METADATA_KEY, f"Bearer {token}"),)


class _AddToken(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
):
    def __init__(self, token: str) -> None:
        self._metadata = _bearer(token)

    def _with_token(self, details: Any) -> Any:
        metadata = tuple(details.metadata or ()) + self._metadata
        return _CallDetails(
            method=details.method,
            timeout=details.timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
            compression=details.compression,
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(details), request)


@dataclass(frozen=True, slots=True, kw_only=True)
class _CallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    """The call's details with our metadata added (grpc gives no way to copy them)."""

    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


def service_channel(
    address: str, token: str | None, options: Sequence[tuple[str, Any]] = ()
) -> grpc.Channel:
    """A channel to an ACD replica that sends the service token on every call.

    Without a token (an ACD started without acd.token_file) it is a plain channel.
    """
    channel = grpc.insecure_channel(address, options=list(options))
    if token is None:
        return channel
    return grpc.intercept_channel(channel, _AddToken(token))
