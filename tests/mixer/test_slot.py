"""A slot's input (its playout, counters) and its output stream."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from mixer._conference import Conference, Slot
from mixer._rtp import RtpPacket, parse_rtp
from mixer._sdp import parse_offer
from recording import g711_decode, g711_encode

OFFER = (
    "v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


@pytest.fixture
def slot() -> Iterator[Slot]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    slot = Slot(Conference("c", last_packet=0.0), "caller", sock)
    slot.offer = parse_offer(OFFER)
    yield slot
    sock.close()


def rtp(seq: int, payload: bytes, pt: int = 0, ssrc: int = 1) -> RtpPacket:
    return RtpPacket(pt, seq, seq * 160, ssrc, payload)


def test_frames_play_on_their_tick_and_late_ones_are_counted(slot: Slot) -> None:
    slot.receive(rtp(0, bytes([0]) * 160), 0, 0)
    slot.receive(rtp(2, bytes([2]) * 160), 0, 0)  # early, and out of order
    slot.receive(rtp(1, bytes([1]) * 160), 0, 0)
    assert [slot.take_frame(t) for t in range(4)] == [
        bytes([0]) * 160,
        bytes([1]) * 160,
        bytes([2]) * 160,
        None,
    ]
    slot.receive(rtp(3, bytes([3]) * 160), 4, 4)  # its tick (3) has run: on the next one
    assert slot.late == 0 and slot.packets_in == 4 and slot.take_frame(4) == bytes([3]) * 160
    slot.receive(rtp(4, bytes([4]) * 160), 20, 20)  # beyond what the cushion may grow to
    assert slot.late == 1 and slot.take_frame(20) is None


def test_a_short_payload_is_padded_with_silence(slot: Slot) -> None:
    slot.receive(rtp(0, b"\x01" * 80), 0, 0)  # 10 ms
    assert slot.take_frame(0) == b"\x01" * 80 + b"\xff" * 80


def test_events_and_other_formats_are_counted_not_mixed(slot: Slot) -> None:
    slot.receive(rtp(0, b"\x01\x00\x00\xa0", pt=101), 0, 0)
    slot.receive(rtp(1, b"\x00" * 10, pt=13), 0, 0)  # comfort noise
    assert slot.packets_in == 2 and slot.take_frame(0) is None


def test_the_other_law_is_recoded(slot: Slot) -> None:
    pcm = (np.arange(160) * 100 - 8000).astype(np.int16)
    slot.receive(rtp(0, g711_encode(pcm, 8).tobytes(), pt=8), 0, 0)
    frame = slot.take_frame(0)
    assert frame is not None
    decoded = g711_decode(frame, 0).astype(np.int32)
    assert np.abs(decoded - pcm).max() < 300  # two quantisations, not another signal


def test_loss_is_counted_from_sequence_numbers_across_a_wrap_and_a_new_ssrc(slot: Slot) -> None:
    for seq in (65534, 65535, 1, 2):  # 0 lost
        slot.receive(rtp(seq, b"\xff" * 160), 0, 0)
    assert slot.lost == 1
    slot.receive(rtp(1, b"\xff" * 160), 0, 0)  # a duplicate offsets it, as in RTCP
    assert slot.lost == 0
    for seq in (10, 13):  # a new source: its own count (11, 12 lost), the old one kept
        slot.receive(rtp(seq, b"\xff" * 160, ssrc=2), 0, 0)
    assert slot.lost == 2


def test_output_packets_follow_the_tick(slot: Slot) -> None:
    first = parse_rtp(slot.packet(b"\xff" * 160, tick=10))
    second = parse_rtp(slot.packet(b"\xff" * 160, tick=11))
    resumed = parse_rtp(slot.packet(b"\xff" * 160, tick=15))
    assert first is not None and second is not None and resumed is not None
    assert first.marker and not second.marker and resumed.marker
    assert (second.seq - first.seq) & 0xFFFF == 1 and (resumed.seq - second.seq) & 0xFFFF == 1
    assert (second.timestamp - first.timestamp) & 0xFFFFFFFF == 160
    assert (resumed.timestamp - second.timestamp) & 0xFFFFFFFF == 4 * 160  # a pause keeps time
    assert first.ssrc == resumed.ssrc and first.payload_type == 0
    assert slot.packets_out == 3
