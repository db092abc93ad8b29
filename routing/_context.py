"""What the routing logic may know about a request, read once per request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    method: str
    source_ip: str
    ruri_user: str
    from_user: str
    to_user: str
    call_id: str
    in_dialog: bool
    has_sdp: bool
    # Present when the request already carries digest credentials (Authorization or
    # Proxy-Authorization); the username they claim.
    auth_user: str | None = None
