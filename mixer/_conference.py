"""A conference (one monitored call) and its slots (caller, agent, each supervisor).

A slot is a port of the mixer: an input whose frames queue for the 20 ms tick, and an
output that sends the slot's mix (what it hears) to the address its SDP named.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from typing import Final

from recording import g711_decode, g711_encode

from ._mixing import FRAME
from ._rtp import RtpPacket, build_rtp
from ._sdp import PCMA, PCMU, Offer
from ._wav_writer import WavWriter

# A queue that keeps a spare frame this long (0.5 s) is trimmed by one.
TRIM_AFTER_TICKS: Final = 25

# bytes.translate tables: a frame of the other law, re-coded into the slot's own
# (a peer that switches law mid-call is rare, but its audio should still be heard).
_ALL_CODES: Final = bytes(range(256))
_RECODE: Final = {
    (PCMU, PCMA): g711_encode(g711_decode(_ALL_CODES, PCMU), PCMA).tobytes(),
    (PCMA, PCMU): g711_encode(g711_decode(_ALL_CODES, PCMA), PCMU).tobytes(),
}


class Slot:
    """One party's port. Counters are what `statistics` reports."""

    def __init__(self, conference: Conference, name: str, sock: socket.socket) -> None:
        self.conference = conference
        self.name = name
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.offer: Offer | None = None
        self.answers = 0  # the o= version of the next answer
        self.buffer = bytearray()  # queued G.711 of the slot's law, oldest first
        # Output stream: our own SSRC, sequence and timestamp (RFC 3550 random starts).
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.timestamp_base = random.getrandbits(32)
        self.last_sent_tick = -2
        self.packets_in = 0
        self.packets_out = 0
        self.late = 0  # frames dropped because the queue was full (or stayed long)
        self._backlog_ticks = 0  # ticks in a row that left a frame queued
        # Loss as RTCP counts it: expected (highest extended seq - first + 1) - received,
        # per incoming SSRC, kept across a change of SSRC.
        self._in_ssrc: int | None = None
        self._first_seq = 0
        self._highest_seq = 0
        self._received = 0
        self._lost_before = 0

    @property
    def law(self) -> int:
        return self.offer.law if self.offer is not None else PCMU

    @property
    def remote(self) -> tuple[str, int] | None:
        """Where its mix goes; None while the peer takes no media (hold, sendonly)."""
        if self.offer is None or not self.offer.wants_media:
            return None
        return (self.offer.address, self.offer.port)

    @property
    def lost(self) -> int:
        return self._lost_before + self._stream_lost()

    def _stream_lost(self) -> int:
        if self._in_ssrc is None:
            return 0
        return max(0, self._highest_seq - self._first_seq + 1 - self._received)

    def receive(self, packet: RtpPacket, capacity: int) -> None:
        """Count `packet`; queue its audio when it is G.711 (events, comfort noise and
        other formats are not mixed). The queue keeps at most `capacity` bytes: older
        frames are dropped and counted `late`."""
        self.packets_in += 1
        if packet.ssrc != self._in_ssrc:
            self._lost_before += self._stream_lost()
            self._in_ssrc = packet.ssrc
            self._first_seq = self._highest_seq = packet.seq
            self._received = 1
        else:
            step = (packet.seq - self._highest_seq) & 0xFFFF
            if step < 0x8000:  # newer (with wrap-around); older ones are reordered
                self._highest_seq += step
            self._received += 1
        offer = self.offer
        if offer is None:
            return
        pt = packet.payload_type
        if pt == offer.payload_type:
            payload = packet.payload
        elif pt == offer.law and pt != offer.event_type:
            payload = packet.payload  # the law's static number beside a dynamic one
        elif pt in (PCMU, PCMA) and pt != offer.event_type:
            payload = packet.payload.translate(_RECODE[(pt, offer.law)])
        else:
            return
        buffer = self.buffer
        buffer += payload
        excess = len(buffer) - capacity
        if excess > 0:
            dropped = -(-excess // FRAME) * FRAME
            del buffer[:dropped]
            self.late += dropped // FRAME

    def take_frame(self) -> bytes | None:
        """The oldest queued 20 ms, or None when less than a frame is queued.

        A queue that still holds a frame after every tick for `TRIM_AFTER_TICKS` ticks
        drops one (counted `late`): a burst of jitter then costs 20 ms of delay for a
        moment, not for the rest of the call."""
        buffer = self.buffer
        if len(buffer) < FRAME:
            return None
        frame = bytes(buffer[:FRAME])
        del buffer[:FRAME]
        if len(buffer) < FRAME:
            self._backlog_ticks = 0
        else:
            self._backlog_ticks += 1
            if self._backlog_ticks >= TRIM_AFTER_TICKS:
                del buffer[:FRAME]
                self.late += 1
                self._backlog_ticks = 0
        return frame

    def packet(self, payload: bytes, tick: int) -> bytes:
        """The next RTP packet of the slot's output: timestamp from the tick (so a
        pause keeps the timing), marker on the first packet after one."""
        assert self.offer is not None
        marker = tick != self.last_sent_tick + 1
        self.last_sent_tick = tick
        self.seq = (self.seq + 1) & 0xFFFF
        self.packets_out += 1
        return build_rtp(
            self.offer.payload_type,
            self.seq,
            self.timestamp_base + FRAME * tick,
            self.ssrc,
            payload,
            marker=marker,
        )

    def statistics(self) -> dict[str, int]:
        return {
            "port": self.port,
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "lost": self.lost,
            "late": self.late,
        }


@dataclass
class Recording:
    writer: WavWriter
    channels: list[list[str]]  # slot names mixed into each channel


@dataclass
class Conference:
    name: str
    last_packet: float  # monotonic: a join counts as activity
    slots: dict[str, Slot] = field(default_factory=dict)
    hears: dict[str, list[str]] = field(default_factory=dict)
    recording: Recording | None = None
