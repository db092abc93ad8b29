"""The names the recording's parties share: the metadata string the controller hands
rtpengine's `start recording` (read back from the spool by `_spool.py`), and the Redis
key the recorder sets while a media node's disk is nearly full (the controller checks it
before it starts a recording). One home, so writer and reader cannot drift apart.
"""

from __future__ import annotations

from typing import Final

METADATA_MARK: Final = "huaan-ref="


def recording_metadata(ref: str, segment: int) -> str:
    """The `metadata` of a `start recording`: rtpengine writes it into the segment's
    metadata file, where the recorder finds which recording the pcap belongs to."""
    return f"{METADATA_MARK}{ref};segment={segment}"


def disk_full_key(prefix: str, media_node: str) -> str:
    """The Redis key the recorder sets while `media_node`'s disk is nearly full."""
    return f"{prefix}recording:disk_full:{media_node}"
