"""RTP (RFC 3550) as the mixer reads and writes it: a packet's payload type, sequence
number, SSRC and audio; a header for the packets it sends.

The mixer learns nothing from a packet but its audio and counters (where to send is the
SDP's), so reading stops at what it needs. RTCP that lands on an RTP port (the answer
names no RTCP port, so a peer may send RTCP to port + 1, another slot's RTP port) is
told apart by its packet type (RFC 5761) and ignored.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

RTP_VERSION: Final = 2
HEADER_SIZE: Final = 12
_HEADER: Final = struct.Struct("!BBHII")
# RFC 5761: a second byte of 192-223 is an RTCP packet type (SR 200, RR 201, ...), not
# a marker bit and a payload type.
_RTCP_TYPES: Final = range(192, 224)


class RtpPacket(NamedTuple):
    """What the mixer keeps of a received packet (a tuple: made 15,000 times a second)."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False


def parse_rtp(data: bytes) -> RtpPacket | None:
    """The packet in `data`, or None when it is no RTP: too short, another version,
    RTCP, or a CSRC list, extension or padding that runs past its end."""
    if len(data) < HEADER_SIZE:
        return None
    first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION or second in _RTCP_TYPES:
        return None
    start, end = HEADER_SIZE, len(data)
    if first != 0x80:  # CSRCs, a header extension or padding (rare: phones send none)
        start += 4 * (first & 0x0F)
        if first & 0x10:  # an extension: 16-bit profile, 16-bit length in words
            if end < start + 4:
                return None
            start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
        if first & 0x20:  # padding: the last byte says how many bytes to drop
            end -= data[-1]
        if end < start:
            return None
    # _make: a NamedTuple's plain constructor costs twice as much, 15,000 times a second.
    return RtpPacket._make((second & 0x7F, seq, timestamp, ssrc, data[start:end], second > 0x7F))


def build_rtp(
    payload_type: int, seq: int, timestamp: int, ssrc: int, payload: bytes, *, marker: bool
) -> bytes:
    """One RTP packet: version 2, no padding, extension or CSRCs."""
    second = (0x80 if marker else 0) | (payload_type & 0x7F)
    header = _HEADER.pack(0x80, second, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)
    return header + payload
