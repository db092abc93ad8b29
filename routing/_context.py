"""What the routing logic may know about a request, read once per request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    """An initial request (no To tag). The adapter reads only what decisions use:
    each field costs a call into Kamailio on every request."""

    method: str
    source_ip: str
    ruri_user: str
    from_user: str
    has_sdp: bool
    # REGISTER only (empty otherwise): the AOR being registered.
    to_user: str = ""
    # REGISTER only: the username claimed by digest credentials already present.
    auth_user: str | None = None
