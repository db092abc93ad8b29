"""rtpengine, the media tier: an ng protocol client (config and docs live beside it),
and the reader of the notifications (DTMF) it pushes to TCP ng clients."""

from rtpengine._ng import NgClient, NgError, NgUnreachable
from rtpengine._notify import (
    DTMF_EVENTS,
    DtmfEvent,
    NotificationDecoder,
    NotificationError,
    dtmf_event,
)

__all__ = [
    "DTMF_EVENTS",
    "DtmfEvent",
    "NgClient",
    "NgError",
    "NgUnreachable",
    "NotificationDecoder",
    "NotificationError",
    "dtmf_event",
]
