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
    # Read only when source_ip is a call-controller replica's (0 otherwise): a replica
    # is trusted by its address *and* port, since trunks may share its IP.
    source_port: int = 0
    # From a trusted replica only (empty otherwise): its X-CC-Correlation-ID, for the
    # log, and its X-CC-Trunk, the trunk it asks an external number to leave by.
    correlation_id: str = ""
    trunk_hint: str = ""
    # It came over a WebSocket (the desktop's softphone): never a trunk or a replica,
    # whatever its source address (on a demo box, both are 127.0.0.1).
    websocket: bool = False
