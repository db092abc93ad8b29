"""DTMF as a phone or trunk sends it in RTP: RFC 4733 events, or tones in G.711 audio.

- `telephone_events(digit, ...)`: the payloads of one RFC 4733 event (RFC 4733 2.3,
  2.5): every packet carries the event's start timestamp; the first has the marker
  bit; the duration grows by one packet time per packet; the last is sent three times
  with the E bit and the final duration (2.5.1.4), each with its own sequence number.
- `dtmf_tone(digit, ...)`: the two ITU-T Q.23 frequencies of the digit, summed and
  encoded as G.711 mu-law, cut into 20 ms frames; `inband_frames` strings digits
  together, ~100 ms on and ~100 ms off (Q.24 asks for at least 40 ms of each).
- `RtpSender`: one RTP source (SSRC, sequence, timestamp) that keeps counting across
  what it sends, as a phone's stream does.

Pure functions and one small class; `RtpEndpoint.send_dtmf` (simulators/_rtp.py)
puts them on the wire.
"""

from __future__ import annotations

import math
import secrets
import struct
from dataclasses import dataclass, field

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
DEFAULT_EVENT_PT = 101
PCMU = 0
EVENTS = "0123456789*#ABCD"  # RFC 4733 3.2: event codes 0-15
# ITU-T Q.23: (low group, high group) in Hz.
FREQUENCIES: dict[str, tuple[int, int]] = {
    digit: (low, high)
    for row, low in zip(("123A", "456B", "789C", "*0#D"), (697, 770, 852, 941), strict=True)
    for digit, high in zip(row, (1209, 1336, 1477, 1633), strict=True)
}
SILENCE = 0xFF  # mu-law code of a zero sample


def event_code(digit: str) -> int:
    code = EVENTS.find(digit.upper())
    if len(digit) != 1 or code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r} (0-9, *, #, A-D)")
    return code


def telephone_events(
    digit: str, *, duration_ms: int = 100, volume: int = 10, packet_ms: int = 20
) -> list[tuple[bytes, bool]]:
    """The payloads of one event, in sending order, each with its RTP marker bit.

    All of them go out with the same RTP timestamp (the event's start). The event lasts
    `duration_ms` (rounded up to whole packets): updates every `packet_ms`, then the
    end packet three times.
    """
    code = event_code(digit)
    if not 0 <= volume <= 63:
        raise ValueError("volume is 0-63 (-dBm0)")
    step = RATE * packet_ms // 1000
    updates = max(1, math.ceil(duration_ms / packet_ms))
    packets = [
        (struct.pack("!BBH", code, volume & 0x3F, step * n), n == 1) for n in range(1, updates)
    ]
    end = struct.pack("!BBH", code, 0x80 | (volume & 0x3F), step * updates)
    packets += [(end, updates == 1 and n == 0) for n in range(3)]
    return packets


def linear_to_ulaw(sample: int) -> int:
    """G.711 mu-law code of a 16-bit linear sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, (magnitude >> 7).bit_length() - 1)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_to_linear(code: int) -> int:
    """The 16-bit linear sample of a G.711 mu-law code."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def dtmf_tone(digit: str, *, duration_ms: int = 100, level: float = 0.25) -> bytes:
    """`duration_ms` of the digit's two frequencies as mu-law (each at `level` of full
    scale: 0.25 is about -12 dBFS per tone, well inside what detectors accept)."""
    event_code(digit)  # refuses anything but a digit
    low, high = FREQUENCIES[digit.upper()]
    amplitude = level * 32767
    count = RATE * duration_ms // 1000
    return bytes(
        linear_to_ulaw(
            round(
                amplitude
                * (math.sin(2 * math.pi * low * i / RATE) + math.sin(2 * math.pi * high * i / RATE))
            )
        )
        for i in range(count)
    )


def inband_frames(digits: str, *, on_ms: int = 100, off_ms: int = 100) -> list[bytes]:
    """20 ms mu-law frames: each digit's tone for `on_ms`, then `off_ms` of silence."""
    audio = b"".join(
        dtmf_tone(d, duration_ms=on_ms) + bytes([SILENCE]) * (RATE * off_ms // 1000) for d in digits
    )
    audio += bytes([SILENCE]) * (-len(audio) % FRAME_SAMPLES)
    return [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio), FRAME_SAMPLES)]


@dataclass
class RtpSender:
    """One RTP source: its SSRC, next sequence number and next timestamp.

    Both start at random values, as RFC 3550 (5.1) asks. It matters: rtpengine 10.5
    takes an RFC 4733 event whose timestamp equals its last end event's (initially 0)
    for a repeat, so a stream whose first event is at timestamp 0 loses that digit.
    """

    ssrc: int
    seq: int = field(default_factory=lambda: secrets.randbelow(0x10000))
    timestamp: int = field(default_factory=lambda: 1 + secrets.randbelow(0xFFFFFFFF))

    def audio(self, payload: bytes, payload_type: int = PCMU) -> bytes:
        """An audio packet; the timestamp then moves on by its samples (one per byte)."""
        packet = self._packet(payload_type, payload, self.timestamp, marker=False)
        self.timestamp = (self.timestamp + len(payload)) & 0xFFFFFFFF
        return packet

    def events(
        self, digit: str, *, payload_type: int = DEFAULT_EVENT_PT, duration_ms: int = 100
    ) -> list[bytes]:
        """One RFC 4733 event's packets; the timestamp then moves past the event."""
        start = self.timestamp
        payloads = telephone_events(digit, duration_ms=duration_ms)
        packets = [self._packet(payload_type, p, start, marker=m) for p, m in payloads]
        last_duration = struct.unpack("!H", payloads[-1][0][2:4])[0]
        self.timestamp = (start + last_duration) & 0xFFFFFFFF
        return packets

    def dtmf(
        self,
        digits: str,
        *,
        inband: bool = False,
        payload_type: int = DEFAULT_EVENT_PT,
        on_ms: int = 100,
        off_ms: int = 100,
    ) -> list[bytes]:
        """The packets that key in `digits`: RFC 4733 events, or with `inband` tones in
        PCMU; either way `off_ms` of silent audio after each digit."""
        if inband:
            return [self.audio(f) for f in inband_frames(digits, on_ms=on_ms, off_ms=off_ms)]
        packets: list[bytes] = []
        gap = bytes([SILENCE]) * FRAME_SAMPLES
        for digit in digits:
            packets += self.events(digit, payload_type=payload_type, duration_ms=on_ms)
            packets += [self.audio(gap) for _ in range(off_ms * RATE // 1000 // FRAME_SAMPLES)]
        return packets

    def _packet(self, payload_type: int, payload: bytes, timestamp: int, *, marker: bool) -> bytes:
        header = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | (payload_type & 0x7F),
            self.seq,
            timestamp,
            self.ssrc,
        )
        self.seq = (self.seq + 1) & 0xFFFF
        return header + payload
