"""RTP headers as the mixer reads and writes them."""

from __future__ import annotations

import struct

from mixer._rtp import build_rtp, parse_rtp


def test_build_and_parse_round_trip() -> None:
    packet = build_rtp(8, 0x1_0005, 0x1_0000_00A0, 0xDEADBEEF, b"\xd5" * 160, marker=True)
    assert len(packet) == 172
    parsed = parse_rtp(packet)
    assert parsed is not None
    assert (parsed.payload_type, parsed.seq, parsed.timestamp, parsed.ssrc, parsed.marker) == (
        8,
        5,  # wrapped to 16 bits
        0xA0,  # wrapped to 32 bits
        0xDEADBEEF,
        True,
    )
    assert parsed.payload == b"\xd5" * 160


def test_csrcs_extension_and_padding_are_skipped() -> None:
    # 2 CSRCs, an extension of 1 word, 3 bytes of padding.
    first = 0x80 | 0x20 | 0x10 | 2
    header = struct.pack("!BBHII", first, 0, 1, 160, 7) + b"\0" * 8
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\1\2\3\4"
    packet = header + extension + b"audio" + b"\0\0\3"
    parsed = parse_rtp(packet)
    assert parsed is not None and parsed.payload == b"audio"


def test_what_is_no_rtp_is_none() -> None:
    assert parse_rtp(b"\x80\x00") is None  # short
    assert parse_rtp(struct.pack("!BBHII", 0x40, 0, 1, 2, 3)) is None  # version 1
    rtcp_rr = struct.pack("!BBHI", 0x81, 201, 7, 0x1234) + b"\0" * 24
    assert parse_rtp(rtcp_rr) is None  # RTCP on the RTP port (RFC 5761)
    sender_report = struct.pack("!BBHI", 0x80, 200, 6, 0x1234) + b"\0" * 20
    assert parse_rtp(sender_report) is None
    too_much_padding = struct.pack("!BBHII", 0xA0, 0, 1, 2, 3) + b"\x09"
    assert parse_rtp(too_much_padding) is None
    cut_extension = struct.pack("!BBHII", 0x90, 0, 1, 2, 3) + b"\xbe"
    assert parse_rtp(cut_extension) is None


def test_a_marker_with_payload_type_72_is_rtcp_by_rfc_5761() -> None:
    # Payload types 72-76 with the marker set read as RTCP; the mixer never offers them.
    assert parse_rtp(build_rtp(72, 1, 2, 3, b"x", marker=True)) is None
    assert parse_rtp(build_rtp(101, 1, 2, 3, b"x", marker=True)) is not None
