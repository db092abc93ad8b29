"""rtpengine, the media tier: an ng protocol client (config and docs live beside it)."""

from rtpengine._ng import NgClient, NgError, NgUnreachable

__all__ = ["NgClient", "NgError", "NgUnreachable"]
