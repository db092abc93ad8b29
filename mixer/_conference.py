"""A conference (one monitored call) and its slots (caller, agent, each supervisor).

A slot is a port of the mixer: an input whose frames wait in its playout (`_playout`)
for the 20 ms tick they play on, and an output that sends the slot's mix (what it
hears) to the address its SDP named.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from typing import Final

from recording import g711_decode, g711_encode

from ._mixing import FRAME
from ._playout import Playout
from ._rtp import RtpPacket, build_rtp
from ._sdp import PCMA, PCMU, Offer
from ._wav_writer import WavWriter

# bytes.translate tables: a frame of the other law, re-coded into the slot's own
# (a peer that switches law mid-call is rare, but its audio should still be heard).
_ALL_CODES: Final = bytes(range(256))
_RECODE: Final = {
    (PCMU, PCMA): g711_encode(g711_decode(_ALL_CODES, PCMU), PCMA).tobytes(),
    (PCMA, PCMU): g711_encode(g711_decode(_ALL_CODES, PCMA), PCMU).tobytes(),
}
_SILENCE: Final = {PCMU: b"\xff", PCMA: b"\xd5"}


class Slot:
    """One party's port. Counters are what `statistics` reports."""

    def __init__(
        self, conference: Conference, name: str, sock: socket.socket, max_cushion: int = 2
    ) -> None:
        self.conference = conference
        self.name = name
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.offer: Offer | None = None
        self.answers = 0  # the o= version of the next answer
        self.playout = Playout(max_cushion)  # G.711 of the slot's law, by tick
        # Output stream: our own SSRC, sequence and timestamp (RFC 3550 random starts).
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.timestamp_base = random.getrandbits(32)
        self.last_sent_tick = -2
        self.packets_in = 0
        self.packets_out = 0
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
    def late(self) -> int:
        """Frames dropped: arrived after their tick, or trimmed when the cushion shrank."""
        return self.playout.late + self.playout.trimmed

    @property
    def lost(self) -> int:
        return self._lost_before + self._stream_lost()

    def _stream_lost(self) -> int:
        if self._in_ssrc is None:
            return 0
        return max(0, self._highest_seq - self._first_seq + 1 - self._received)

    def receive(self, packet: RtpPacket, arrival_tick: int, open_tick: int) -> None:
        """Count `packet`; place its audio in the playout when it is G.711 (events,
        comfort noise and other formats are not mixed). The ticks: see `Playout.push`."""
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
        partial = len(payload) % FRAME
        if partial:  # not whole 20 ms: the rest of the last frame is silence
            payload += _SILENCE[offer.law] * (FRAME - partial)
        self.playout.push(
            packet.ssrc,
            packet.seq,
            packet.timestamp,
            payload,
            arrival_tick=arrival_tick,
            open_tick=open_tick,
        )

    def take_frame(self, tick: int) -> bytes | None:
        """The 20 ms that plays on `tick`, or None."""
        return self.playout.pop(tick)

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
