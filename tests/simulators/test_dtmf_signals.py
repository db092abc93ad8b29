"""The test parties' DTMF: RFC 4733 event packets and in-band tones in G.711 mu-law."""

from __future__ import annotations

import math
import struct

import pytest

from simulators import (
    FREQUENCIES,
    RtpSender,
    dtmf_tone,
    inband_frames,
    linear_to_ulaw,
    telephone_events,
    ulaw_to_linear,
)


def fields(payload: bytes) -> tuple[int, bool, int, int]:
    """(event, end bit, volume, duration) of a telephone-event payload."""
    event, flags, duration = struct.unpack("!BBH", payload)
    return event, bool(flags & 0x80), flags & 0x3F, duration


def test_an_event_grows_then_ends_three_times() -> None:
    packets = telephone_events("#", duration_ms=100, volume=10)
    assert [fields(p) for p, _ in packets] == [
        (11, False, 10, 160),
        (11, False, 10, 320),
        (11, False, 10, 480),
        (11, False, 10, 640),
        (11, True, 10, 800),
        (11, True, 10, 800),
        (11, True, 10, 800),
    ]
    assert [marker for _, marker in packets] == [True] + [False] * 6


def test_a_short_event_is_its_end_packets_the_first_marked() -> None:
    packets = telephone_events("D", duration_ms=20)
    assert [fields(p) for p, _ in packets] == [(15, True, 10, 160)] * 3
    assert [marker for _, marker in packets] == [True, False, False]


def test_bad_digits_and_volumes_are_refused() -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        telephone_events("E")
    with pytest.raises(ValueError, match="not a DTMF digit"):
        dtmf_tone("55")
    with pytest.raises(ValueError, match="volume"):
        telephone_events("1", volume=64)


def header(packet: bytes) -> tuple[int, int, int, int, int]:
    """(marker, payload type, sequence, timestamp, ssrc)."""
    _, mpt, seq, ts, ssrc = struct.unpack("!BBHII", packet[:12])
    return mpt >> 7, mpt & 0x7F, seq, ts, ssrc


def test_a_sender_keeps_one_stream_across_events_and_audio() -> None:
    sender = RtpSender(ssrc=0x1234, seq=65534, timestamp=1000)
    first = sender.events("5", payload_type=96)
    audio = sender.audio(bytes(160))
    second = sender.events("6", payload_type=96)
    heads = [header(p) for p in [*first, audio, *second]]
    assert [h[2] for h in heads] == [(65534 + i) % 65536 for i in range(len(heads))]
    assert {h[3] for h in heads[:7]} == {1000}  # an event's packets share its start
    assert heads[7] == (0, 0, heads[7][2], 1800, 0x1234)  # audio after the 800-sample event
    assert {h[3] for h in heads[8:]} == {1960}
    assert [h[1] for h in heads] == [96] * 7 + [0] + [96] * 7
    assert [h[0] for h in heads] == [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]


def test_a_sender_starts_at_random_sequence_and_timestamp() -> None:
    # rtpengine 10.5 drops an event whose timestamp is 0 (its "last end event" at start).
    starts = {(s.seq, s.timestamp) for s in (RtpSender(ssrc=1) for _ in range(8))}
    assert len(starts) > 1 and all(ts != 0 for _, ts in starts)


def test_keying_in_by_events_puts_silence_between_digits() -> None:
    packets = RtpSender(ssrc=7).dtmf("12", on_ms=100, off_ms=100)
    kinds = [header(p)[1] for p in packets]
    assert kinds == ([101] * 7 + [0] * 5) * 2


def test_mu_law_round_trips_within_its_quantisation() -> None:
    assert linear_to_ulaw(0) == 0xFF and ulaw_to_linear(0xFF) == 0
    assert linear_to_ulaw(32767) == 0x80 and linear_to_ulaw(-32768) == 0x00
    for sample in (-30000, -1000, -100, -5, 5, 100, 1000, 30000):
        decoded = ulaw_to_linear(linear_to_ulaw(sample))
        assert abs(decoded - sample) <= max(8, abs(sample) // 16), sample


def goertzel(samples: list[int], frequency: float, rate: int = 8000) -> float:
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    s1 = s2 = 0.0
    for sample in samples:
        s1, s2 = sample + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


@pytest.mark.parametrize("digit", "147*2580369#ABCD")
def test_a_tone_holds_its_two_itu_frequencies_and_no_other(digit: str) -> None:
    samples = [ulaw_to_linear(b) for b in dtmf_tone(digit, duration_ms=100)]
    assert len(samples) == 800
    low, high = FREQUENCIES[digit]
    others = {f for pair in FREQUENCIES.values() for f in pair} - {low, high}
    weakest = min(goertzel(samples, low), goertzel(samples, high))
    assert weakest > 50 * max(goertzel(samples, f) for f in others)
    assert max(abs(s) for s in samples) < 32767 * 0.6  # no clipping


def test_inband_frames_alternate_tone_and_silence() -> None:
    frames = inband_frames("19", on_ms=100, off_ms=100)
    assert len(frames) == 20 and {len(f) for f in frames} == {160}
    silent = [set(f) == {0xFF} for f in frames]
    assert silent == ([False] * 5 + [True] * 5) * 2
