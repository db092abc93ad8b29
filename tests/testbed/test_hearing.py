"""The who-hears-whom analysis of the monitoring tests, on synthetic G.711 (no process):
its thresholds hold with margin for the tones and mixes those tests use, and a tone
party's RFC 4733 keys go out in its own RTP stream."""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest

from simulators import RtpEndpoint, telephone_events
from testbed import (
    HEARD_DBFS,
    NEVER_DBFS,
    SILENT_DBFS,
    TONE_DBFS,
    TonePlayer,
    analyse,
    assert_hearing,
    decode_ulaw,
    encode_ulaw,
    noise_floor_dbfs,
    tone_levels_dbfs,
    wait_until,
    window_runs,
)

RATE = 8000
# The monitoring tests' tones: caller, agent, supervisor, the transfer's second agent,
# a second supervisor.
TONES = (440.0, 1000.0, 2500.0, 1600.0, 3000.0)
LEVEL = 10 ** (TONE_DBFS / 20) * 32767


def _through_g711(*freqs: float, seconds: float = 1.0) -> np.ndarray:
    """A sum of tones at TONE_DBFS each (random phases), as a mixer sends it: PCMU."""
    t = np.arange(int(RATE * seconds)) / RATE
    rng = np.random.default_rng(int(sum(freqs)))
    mix = sum(LEVEL * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in freqs)
    pcm = np.clip(np.asarray(mix, dtype=np.float64), -32768, 32767).astype(np.int16)
    return decode_ulaw(encode_ulaw(pcm))


MIXES = [mix for size in (1, 2, 3) for mix in itertools.combinations(TONES, size)]


@pytest.mark.parametrize("mix", MIXES, ids=lambda m: "+".join(f"{f:g}" for f in m))
def test_each_tone_of_a_mix_is_heard_and_the_others_are_far_below_the_silent_line(
    mix: tuple[float, ...],
) -> None:
    heard = analyse("party", [_through_g711(*mix)], TONES, 1.0)
    for freq in TONES:
        if freq in mix:
            assert heard.share[freq] == 1.0
            # G.711 costs well under a dB; HEARD_DBFS is 10 dB under what was sent.
            assert heard.loudest[freq] > TONE_DBFS - 1.5 > HEARD_DBFS + 8
        else:
            # G.711's harmonics and the products of up to three tones: at least 7 dB
            # under the silent line, which is 35 dB under what was sent.
            assert heard.loudest[freq] < SILENT_DBFS - 7, heard.describe()


def test_a_tone_leaking_30_db_down_is_caught_and_silence_hears_nothing() -> None:
    t = np.arange(RATE) / RATE
    leak = 10 ** (-30 / 20) * LEVEL * np.sin(2 * np.pi * 2500 * t)
    pcm = _through_g711(440, 1000).astype(np.float64) + leak
    heard = analyse("party", [pcm.astype(np.int16)], TONES, 1.0)
    assert heard.quiet[2500] == 0.0 and heard.loudest[2500] < NEVER_DBFS
    assert not heard.silent(2500) and not heard.hears(2500)
    quiet = analyse("party", [decode_ulaw(b"\xff" * RATE)], TONES, 1.0)
    assert all(quiet.silent(f) and not quiet.hears(f) for f in TONES)
    assert np.isinf(quiet.floor_dbfs) or quiet.floor_dbfs < -100


def test_a_level_is_the_sine_amplitude_in_dbfs_between_bins_too() -> None:
    for freq in (440.0, 1000.0, 1012.5):
        t = np.arange(RATE) / RATE
        pcm = (0.1 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
        levels = tone_levels_dbfs(pcm, freq)
        assert np.all(np.abs(levels + 20.0) < 1.5), (freq, levels)
    assert np.median(noise_floor_dbfs(_through_g711(440))) < -60


def test_assert_hearing_names_the_party_and_the_tone() -> None:
    heard = {"agent": analyse("agent", [_through_g711(440, 2500)], TONES, 1.0)}
    assert_hearing(heard, {"agent": [440, 2500]}, what="whisper")
    with pytest.raises(AssertionError, match=r"listen: agent hears 2500 Hz") as failed:
        assert_hearing(heard, {"agent": [440]}, what="listen")
    assert "agent (50/50 packets" in str(failed.value)


def test_a_tone_player_keys_rfc_4733_digits_into_its_own_stream() -> None:
    sender, receiver = RtpEndpoint(), RtpEndpoint(record=True)
    player = TonePlayer(sender, lambda: (receiver.host, receiver.port), 1000, level=0.316)
    try:
        wait_until(lambda: len(receiver.packets()) >= 5, timeout=5, what="the tone arrives")
        player.press("5*")
        assert player.keying
        wait_until(lambda: not player.keying, timeout=5, what="the keys are out")
        wait_until(lambda: len(receiver.packets()) >= 40, timeout=5, what="more tone")
    finally:
        player.stop()
        sender.close()
        receiver.close()
    packets = receiver.packets()
    assert len({p.ssrc for p in packets}) == 1  # one stream, as a phone sends
    events = [p for p in packets if p.payload_type == 101]
    codes = [p.payload[0] for p in events]
    assert codes == [5] * len(telephone_events("5")) + [10] * len(telephone_events("*"))
    assert [struct.unpack("!H", p.payload[2:4])[0] for p in events][-1] == 800
    seqs = [p.seq for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    # The tone goes on after the keys, and the analysis leaves the events out.
    after = window_runs(receiver, events[-1].arrival + 0.25, packets[-1].arrival + 1)
    assert len(after) == 1  # the tone's packets after the keys follow on unbroken
    assert analyse("r", after, [1000.0], len(after[0]) / RATE).hears(1000.0)
    with pytest.raises(ValueError, match="not a DTMF digit"):
        TonePlayer.press(player, "x")


def test_a_frame_missing_from_a_mix_is_not_a_tone_heard() -> None:
    """A mixer that had no frame of the caller for one tick: the gap splatters into one
    or two blocks, under the ceiling, and the tones not sent stay unheard."""
    pcm = _through_g711(440, 3000)
    mix = pcm.copy()
    mix[4000:4160] = decode_ulaw(encode_ulaw(_through_g711(3000)[4000:4160]))
    heard = analyse("agent", [mix], TONES, 1.0)
    assert heard.hears(440) and heard.hears(3000)
    for freq in (1000.0, 1600.0, 2500.0):
        assert heard.silent(freq), heard.describe()


def test_window_runs_break_at_a_lost_packet_and_a_new_source() -> None:
    sender, receiver = RtpEndpoint(), RtpEndpoint(record=True)
    frame = encode_ulaw(np.zeros(160, dtype=np.int16))
    try:
        for ssrc, seq in ((1, 10), (1, 11), (1, 13), (2, 500), (2, 501)):
            header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)
            sender.send_packet((receiver.host, receiver.port), header + frame)
        wait_until(lambda: len(receiver.packets()) == 5, timeout=5, what="5 packets")
    finally:
        sender.close()
        receiver.close()
    runs = window_runs(receiver, 0.0, float("inf"))
    assert sorted(len(run) for run in runs) == [160, 320, 320]
