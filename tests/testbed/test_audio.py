"""The audio analysis tests use to check what a caller heard, on synthetic signals and on
prompts rendered by espeak-ng (no service process: the RTP is sent over loopback here).

The calibration of `PRESENT_SCORE` is checked here: a prompt through G.711 scores
near 1, another prompt of the same voice far below the threshold, and a prompt
missing a fifth of its length below it.
"""

from __future__ import annotations

import itertools
import socket
import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from prompts import render, say
from simulators import RtpEndpoint, RtpPacket
from testbed import (
    PRESENT_SCORE,
    decode_alaw,
    decode_ulaw,
    detect_dtmf,
    encode_alaw,
    encode_ulaw,
    find_prompt,
    goertzel_power,
    load_wav,
    played_duration_s,
    prompt_present,
    received_pcm,
    tone_fraction,
    wait_until,
)

RATE = 8000
PROMPTS = (
    ("zh", "欢迎致电电力服务热线"),
    ("zh", "请输入您的户号,以井号键结束"),
    ("zh", "您的余额是" + say("123.45", "amount", "zh")),
    ("zh", "您的余额是" + say("678.90", "amount", "zh")),
    ("en", "Welcome to the electricity service hotline."),
    ("en", "Please enter your account number, then press hash."),
    ("en", "Your balance is " + say("123.45", "amount", "en")),
    ("en", "Your balance is " + say("678.90", "amount", "en")),
)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    cache = tmp_path_factory.mktemp("audio-prompts")
    return [load_wav(render(text, lang, cache)) for lang, text in PROMPTS]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def through_g711(pcm: np.ndarray) -> np.ndarray:
    return decode_ulaw(encode_ulaw(pcm))


def sine(freq: float, seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (level * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


# -- G.711 --------------------------------------------------------------------------------
def test_g711_decodes_as_itu_tables() -> None:
    assert decode_ulaw(bytes([0xFF, 0x7F, 0x00, 0x80, 0xFE, 0xEF])).tolist() == [
        0,
        0,
        -32124,
        32124,
        8,
        132,
    ]
    assert decode_alaw(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize(
    ("encode", "decode"), [(encode_ulaw, decode_ulaw), (encode_alaw, decode_alaw)]
)
def test_g711_round_trip_keeps_the_waveform(encode, decode) -> None:  # type: ignore[no-untyped-def]
    every = np.arange(-32768, 32768, dtype=np.int16)
    back = decode(encode(every)).astype(np.int32)
    # Logarithmic: the error grows with the level, about 3 % of it at most.
    assert np.all(np.abs(back - every) <= np.maximum(16, np.abs(every.astype(np.int32)) * 0.035))
    codes = bytes(range(256))
    assert np.array_equal(decode(encode(decode(codes))), decode(codes))


# -- received audio -----------------------------------------------------------------------
def rtp(seq: int, ts: int, ssrc: int, payload: bytes, *, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload


def test_the_endpoint_records_packets_per_source_only_when_asked() -> None:
    plain, recording = RtpEndpoint(), RtpEndpoint(record=True)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for endpoint in (plain, recording):
            dest = ("127.0.0.1", endpoint.port)
            sender.sendto(rtp(7, 1000, 0xAAAA, b"\x01" * 160), dest)
            sender.sendto(rtp(8, 1160, 0xAAAA, b"\x02" * 160, pt=0x80 | 8), dest)  # marker
            # One CSRC, a header extension of one word, two bytes of padding.
            csrc = struct.pack("!BBHII", 0xB1, 0, 1, 50, 0xBBBB) + struct.pack("!I", 9)
            ext = struct.pack("!HHI", 0xBEDE, 1, 0)
            sender.sendto(csrc + ext + b"\x03" * 160 + b"\x00\x02", dest)
        wait_until(lambda: len(recording.received) == 3, timeout=2, what="3 packets")
        wait_until(lambda: len(plain.received) == 3, timeout=2, what="3 packets")
    finally:
        sender.close()
        plain.close()
        recording.close()
    assert plain.recorded == {}
    assert sorted(recording.recorded) == [0xAAAA, 0xBBBB]
    first, second = recording.recorded[0xAAAA]
    assert (first.seq, first.timestamp, first.payload_type, first.marker) == (7, 1000, 0, False)
    assert (second.payload_type, second.marker, second.payload) == (8, True, b"\x02" * 160)
    (third,) = recording.packets(0xBBBB)
    assert third.payload == b"\x03" * 160
    assert [p.seq for p in recording.packets()] == [7, 8, 1]  # all sources, by arrival
    assert first.arrival <= second.arrival <= third.arrival


class Recorded(RtpEndpoint):
    """An endpoint whose recording a test writes itself (no socket traffic)."""

    def add(
        self, ssrc: int, seq: int, ts: int, arrival: float, pcm: np.ndarray, *, pt: int = 0
    ) -> None:
        payload = encode_ulaw(pcm) if pt == 0 else encode_alaw(pcm)
        self.recorded.setdefault(ssrc, []).append(RtpPacket(ssrc, pt, seq, ts, arrival, payload))


@pytest.fixture
def endpoint() -> Iterator[Recorded]:
    recorded = Recorded(record=True)
    yield recorded
    recorded.close()


def test_payloads_are_laid_out_by_timestamp_with_gaps_as_silence(endpoint: Recorded) -> None:
    tone = sine(440, 0.1)  # five packets
    chunks = [tone[i : i + 160] for i in range(0, 800, 160)]
    # Packet 2 lost, packets 3 and 4 swapped on the way; timestamps wrap past 2^32.
    base = 2**32 - 320
    for index, arrival in ((0, 0.0), (1, 0.02), (4, 0.06), (3, 0.065)):
        endpoint.add(9, index, (base + index * 160) % 2**32, arrival, chunks[index])
    endpoint.add(9, 99, 0, 0.07, chunks[0], pt=101)  # a telephone event: not audio
    pcm = received_pcm(endpoint)
    assert len(pcm) == 800
    expected = through_g711(tone)
    expected[320:480] = 0
    assert np.array_equal(pcm, expected)


def test_a_stream_that_starts_afresh_is_placed_by_arrival(endpoint: Recorded) -> None:
    """rtpengine playing a second file may jump the timestamp or change the SSRC."""
    a, b, c, d = sine(440, 0.02), sine(660, 0.02), sine(880, 0.02), sine(1000, 0.02)
    endpoint.add(1, 0, 5000, 10.0, a)
    endpoint.add(1, 1, 900_000, 10.5, b, pt=8)  # same SSRC, timestamp far ahead
    # rtpengine's next file: the next sequence number, the timestamp a little back,
    # 10 ms after the last packet: after it, not over its end.
    endpoint.add(1, 2, 900_000 - 335, 10.51, d)
    endpoint.add(2, 0, 77, 11.0, c)  # another SSRC
    pcm = received_pcm(endpoint)
    assert len(pcm) == 8160
    assert np.array_equal(pcm[:160], through_g711(a))
    assert np.array_equal(pcm[4000:4160], decode_alaw(encode_alaw(b)))
    assert np.array_equal(pcm[4160:4320], through_g711(d))
    assert np.array_equal(pcm[8000:8160], through_g711(c))
    assert np.array_equal(received_pcm(endpoint, source=2), through_g711(c))
    assert len(received_pcm(endpoint, source=3)) == 0


# -- prompts ------------------------------------------------------------------------------
def test_a_prompt_is_found_where_it_starts_whatever_its_level(prompts: list[np.ndarray]) -> None:
    prompt = prompts[1]
    quieter = (prompt * 0.25).astype(np.int16)
    received = np.concatenate([sine(440, 0.7, 0.1), through_g711(quieter), silence(0.4)])
    offset, score = find_prompt(received, prompt)
    assert offset == pytest.approx(0.7, abs=1 / RATE)
    assert score > 0.99
    assert prompt_present(received, prompt)


def test_present_score_separates_the_prompt_from_every_other(prompts: list[np.ndarray]) -> None:
    """The calibration: same prompt after G.711 > 0.99; another prompt < 0.4 (measured
    0.25 at worst over these 56 pairs, Mandarin and English mixed)."""
    worst_other = 0.0
    for i, j in itertools.product(range(len(prompts)), repeat=2):
        received = np.concatenate([silence(0.3), through_g711(prompts[j]), silence(0.5)])
        score = find_prompt(received, prompts[i])[1]
        if i == j:
            assert score > 0.99, (PROMPTS[i], score)
        else:
            worst_other = max(worst_other, score)
    assert worst_other < 0.4 < PRESENT_SCORE


def test_two_amounts_in_one_sentence_are_told_apart(prompts: list[np.ndarray]) -> None:
    """Only the amount differs: the shared "您的余额是" must not make them match."""
    received = np.concatenate([silence(0.2), through_g711(prompts[3])])
    assert prompt_present(received, prompts[3])
    assert not prompt_present(received, prompts[2])


def test_half_a_prompt_is_not_present(prompts: list[np.ndarray]) -> None:
    """(A prompt missing only a short tail may be: `played_duration_s` tells that.)"""
    for prompt in prompts:
        cut = through_g711(prompt[: len(prompt) // 2])
        assert not prompt_present(np.concatenate([silence(0.2), cut, silence(1)]), prompt)


def test_silence_and_noise_contain_no_prompt(prompts: list[np.ndarray]) -> None:
    rng = np.random.default_rng(11)
    noise = (rng.standard_normal(RATE * 5) * 300).astype(np.int16)
    assert find_prompt(silence(5), prompts[0])[1] == 0.0
    assert find_prompt(noise, prompts[0])[1] < 0.2
    assert find_prompt(silence(0), prompts[0]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="silent"):
        find_prompt(noise, silence(1))


def test_played_duration_is_all_of_a_whole_prompt(prompts: list[np.ndarray]) -> None:
    for prompt in prompts:
        received = np.concatenate([silence(0.5), through_g711(prompt), silence(0.5)])
        assert played_duration_s(received, prompt) == len(prompt) / RATE


@pytest.mark.parametrize("share", [0.3, 0.5, 0.75])
def test_played_duration_says_where_barge_in_cut_the_prompt(
    prompts: list[np.ndarray], share: float
) -> None:
    """Cut, then silence or another prompt: the duration heard, to a block (50 ms) or
    a pause between words (a cut inside a pause is only seen at the next word)."""
    prompt = prompts[5]
    cut_s = len(prompt) * share / RATE
    heard = through_g711(prompt[: int(len(prompt) * share)])
    for after in (silence(1), through_g711(prompts[4])):
        played = played_duration_s(np.concatenate([silence(0.3), heard, after]), prompt)
        assert cut_s - 0.35 <= played <= cut_s + 0.05, (played, cut_s)
        assert played < len(prompt) / RATE - 0.5


def test_played_duration_is_zero_without_the_prompts_start(prompts: list[np.ndarray]) -> None:
    prompt = prompts[0]
    tail_only = through_g711(prompt[len(prompt) // 2 :])
    assert played_duration_s(np.concatenate([silence(0.3), tail_only]), prompt) == 0.0
    assert played_duration_s(through_g711(prompts[1]), prompt) == 0.0


def test_one_lost_packet_does_not_end_the_prompt(prompts: list[np.ndarray]) -> None:
    prompt = prompts[4]
    heard = through_g711(prompt)
    heard[8000:8160] = 0  # 20 ms lost, one second in
    assert played_duration_s(np.concatenate([silence(0.1), heard]), prompt) == len(prompt) / RATE


# -- tones --------------------------------------------------------------------------------
DTMF_FREQS = {
    key: (low, high)
    for low, row in zip((697, 770, 852, 941), ("123A", "456B", "789C", "*0#D"), strict=True)
    for high, key in zip((1209, 1336, 1477, 1633), row, strict=True)
}


def dtmf(keys: str, on_s: float = 0.1, off_s: float = 0.1, level: float = 0.2) -> np.ndarray:
    parts = []
    for key in keys:
        low, high = DTMF_FREQS[key]
        parts += [sine(low, on_s, level) + sine(high, on_s, level * 0.8), silence(off_s)]
    return np.concatenate(parts)


def test_every_dtmf_key_is_detected_once_with_its_start() -> None:
    keys = "123A456B789C*0#D"
    found = detect_dtmf(through_g711(np.concatenate([silence(0.25), dtmf(keys)])))
    assert "".join(key for _, key in found) == keys
    for index, (start, _) in enumerate(found):
        assert start == pytest.approx(0.25 + index * 0.2, abs=0.03)


def test_short_tones_repeated_keys_and_noise() -> None:
    rng = np.random.default_rng(5)
    signal = dtmf("5599", on_s=0.045, off_s=0.045)
    noisy = signal + (rng.standard_normal(len(signal)) * 200).astype(np.int16)
    assert [key for _, key in detect_dtmf(through_g711(noisy))] == list("5599")
    assert detect_dtmf(dtmf("5", level=0.0005)) == []  # below -50 dBFS
    assert detect_dtmf(sine(697, 0.3)) == []  # one tone of the pair is not a digit
    assert detect_dtmf(silence(0.01)) == []


def test_speech_is_not_taken_for_dtmf(prompts: list[np.ndarray]) -> None:
    for prompt in prompts:
        assert detect_dtmf(through_g711(prompt)) == []


def test_tone_fraction_and_goertzel_power() -> None:
    assert tone_fraction(through_g711(sine(440, 1)), 440) > 0.95
    assert tone_fraction(through_g711(sine(440, 1)), 1000) < 0.01
    assert tone_fraction(silence(1), 440) == 0.0
    block = sine(1000, 0.025).astype(np.float64)[None, :]
    assert goertzel_power(block, 1000)[0] == pytest.approx(1.0, abs=0.05)
    pair = (sine(697, 0.025) + sine(1209, 0.025)).astype(np.float64)[None, :]
    assert goertzel_power(pair, 697)[0] == pytest.approx(0.5, abs=0.05)


def test_load_wav_refuses_other_formats(tmp_path: Path, tone: Path) -> None:
    assert len(load_wav(tone)) == 3 * RATE
    odd = tmp_path / "odd.wav"
    with wave.open(str(odd), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00" * 400)
    with pytest.raises(ValueError, match="2 channel"):
        load_wav(odd)
