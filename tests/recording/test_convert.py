"""recording.convert on synthetic pcaps: channels, placement on the timeline, pauses,
the packet kinds it skips, and the pcap variants it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recording import RecordingFormatError, SourceRange, convert
from recording._sources import folded_address
from simulators import (
    alaw_to_linear,
    decode_alaw,
    decode_ulaw,
    encode_ulaw,
    tone_fraction,
    ulaw_to_linear,
)
from tests.recording.pcap_files import (
    AGENT_PORT,
    CALLER_PORT,
    PCMA,
    RATE,
    TELEPHONE_EVENT,
    Stream,
    ipv4_udp,
    ipv6_udp,
    rtp,
    tone,
    write_pcap,
)

T0 = 1_765_000_000.25  # recording.started's ts
CALLER_HZ = 440.0
AGENT_HZ = 1000.0


def frame(seconds: float) -> int:
    return round(seconds * RATE)


def sent(audio: np.ndarray, law: int = 0) -> np.ndarray:
    """`audio` as it comes out of G.711 (what the WAV must hold, sample for sample)."""
    from simulators import encode_alaw

    if law == PCMA:
        return decode_alaw(encode_alaw(audio))
    return decode_ulaw(encode_ulaw(audio))


def silent(samples: np.ndarray) -> bool:
    return not np.any(samples)


def voiced(samples: np.ndarray) -> float:
    """The share of 10 ms blocks with sound in them (a tone has zero samples, a block
    of one has not)."""
    blocks = samples[: len(samples) // 80 * 80].reshape(-1, 80)
    return float(np.mean(np.any(blocks != 0, axis=1)))


def test_caller_left_agent_right_each_at_its_time(tmp_path: Path) -> None:
    caller = tone(CALLER_HZ, 2.0)
    agent = tone(AGENT_HZ, 1.5)
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(caller, T0 + 0.1, CALLER_PORT, ssrc=11).records()
        + Stream(agent, T0 + 0.5, AGENT_PORT, ssrc=22, jitter_s=0.004).records(),
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 3, caller_port=CALLER_PORT)
    assert got.pcm.dtype == np.int16
    assert got.pcm.shape == (frame(3), 2) and got.frames == frame(3)
    assert got.duration_ms == 3000
    assert got.packets == 100 + 75 and got.skipped == 0 and not got.truncated
    left, right = got.pcm[:, 0], got.pcm[:, 1]
    # The caller's first packet at its pcap time, every sample where RTP says.
    assert np.array_equal(left[frame(0.1) : frame(2.1)], sent(caller))
    assert silent(left[: frame(0.1)]) and silent(left[frame(2.1) :])
    assert tone_fraction(left, CALLER_HZ) > 0.95 and tone_fraction(left, AGENT_HZ) < 0.05
    assert tone_fraction(right, AGENT_HZ) > 0.95 and tone_fraction(right, CALLER_HZ) < 0.05
    # The agent's stream is placed by its first packet's arrival (up to 4 ms late) and
    # then by RTP: in one piece, no gaps from the jitter.
    voiced = np.flatnonzero(right)
    assert frame(0.5) <= voiced[0] <= frame(0.505)
    assert np.array_equal(right[voiced[0] : voiced[0] + len(agent)], sent(agent))
    assert got.last_packet_ts == pytest.approx(T0 + 0.1 + 1.98)


def test_a_gap_between_two_segments_is_silence(tmp_path: Path) -> None:
    first = write_pcap(
        tmp_path / "0.pcap",
        Stream(tone(CALLER_HZ, 1.0), T0, CALLER_PORT, ssrc=1).records()
        + Stream(tone(AGENT_HZ, 1.0), T0, AGENT_PORT, ssrc=2).records(),
    )
    # The second segment: the same streams go on (same SSRCs, RTP time ran on meanwhile).
    second = write_pcap(
        tmp_path / "1.pcap",
        Stream(tone(CALLER_HZ, 1.0), T0 + 2, CALLER_PORT, ssrc=1, ts0=1000 + 16000).records()
        + Stream(tone(AGENT_HZ, 1.0), T0 + 2, AGENT_PORT, ssrc=2, ts0=1000 + 16000).records(),
    )
    got = convert([first, second], start_ts=T0, end_ts=T0 + 3, caller_port=CALLER_PORT)
    assert got.packets == 200
    for channel in (0, 1):
        pcm = got.pcm[:, channel]
        assert voiced(pcm[: frame(1)]) == 1.0
        assert silent(pcm[frame(1) : frame(2)])
        assert voiced(pcm[frame(2) :]) == 1.0


def test_a_pause_is_zeroed_even_if_packets_slipped_in(tmp_path: Path) -> None:
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(tone(CALLER_HZ, 3.0), T0, CALLER_PORT, ssrc=1).records()
        + Stream(tone(AGENT_HZ, 3.0), T0, AGENT_PORT, ssrc=2).records(),
    )
    got = convert(
        [pcap],
        start_ts=T0,
        end_ts=T0 + 3,
        caller_port=CALLER_PORT,
        pauses=[(T0 + 1.0, T0 + 1.5), (T0 + 2.5, T0 + 9)],
    )
    for channel in (0, 1):
        pcm = got.pcm[:, channel]
        assert silent(pcm[frame(1) : frame(1.5)]) and silent(pcm[frame(2.5) :])
        assert voiced(pcm[: frame(1)]) == 1.0
        assert voiced(pcm[frame(1.5) : frame(2.5)]) == 1.0


def test_a_new_ssrc_mid_segment_is_placed_at_its_own_arrival(tmp_path: Path) -> None:
    """A transfer: the agent's stream ends, the next agent's starts with its own SSRC
    and RTP clock, on the same port of rtpengine."""
    first_agent = tone(AGENT_HZ, 1.0)
    second_agent = tone(700.0, 1.0)
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(tone(CALLER_HZ, 3.0), T0, CALLER_PORT, ssrc=1).records()
        + Stream(first_agent, T0 + 0.2, AGENT_PORT, ssrc=2, ts0=5000).records()
        + Stream(second_agent, T0 + 1.7, AGENT_PORT, ssrc=3, ts0=3_000_000_000).records(),
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 3, caller_port=CALLER_PORT)
    right = got.pcm[:, 1]
    assert np.array_equal(right[frame(0.2) : frame(1.2)], sent(first_agent))
    assert silent(right[frame(1.2) : frame(1.7)])
    assert np.array_equal(right[frame(1.7) : frame(2.7)], sent(second_agent))


def test_the_caller_stays_left_when_rtpengine_moves_its_port(tmp_path: Path) -> None:
    """rtpengine gives the caller's side a new local port when the caller's peer changes
    (parked -> agent, a transfer): the caller's packets to the new port are still the
    caller's, because they come from the same sender as those to caller_port."""
    before, after = tone(CALLER_HZ, 1.0), tone(CALLER_HZ, 1.0)
    agent = tone(AGENT_HZ, 2.0)
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(before, T0, CALLER_PORT, ssrc=1, sport=5004).records()
        + Stream(after, T0 + 1, CALLER_PORT + 2, ssrc=1, ts0=9000, sport=5004).records()
        + Stream(agent, T0, AGENT_PORT, ssrc=2).records(),
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 2, caller_port=CALLER_PORT)
    assert np.array_equal(got.pcm[: frame(1), 0], sent(before))
    assert np.array_equal(got.pcm[frame(1) : frame(2), 0], sent(after))
    assert np.array_equal(got.pcm[:, 1], sent(agent))


def test_rtp_timestamp_wrap_is_no_jump(tmp_path: Path) -> None:
    caller = tone(CALLER_HZ, 1.0)
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(caller, T0 + 0.5, CALLER_PORT, ssrc=1, ts0=2**32 - 800, seq0=65530).records(),
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 2, caller_port=CALLER_PORT)
    assert np.array_equal(got.pcm[frame(0.5) : frame(1.5), 0], sent(caller))


def test_a_timestamp_jump_within_one_ssrc_starts_a_new_anchor(tmp_path: Path) -> None:
    """A sender that restarts its RTP clock under the same SSRC: its audio stays at its
    arrival time instead of leaving the timeline."""
    before, after = tone(CALLER_HZ, 1.0), tone(CALLER_HZ, 1.0)
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(before, T0, CALLER_PORT, ssrc=1, ts0=1000).records()
        + Stream(after, T0 + 1.5, CALLER_PORT, ssrc=1, ts0=900_000_000, seq0=51).records(),
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 3, caller_port=CALLER_PORT)
    left = got.pcm[:, 0]
    assert np.array_equal(left[: frame(1)], sent(before))
    assert silent(left[frame(1) : frame(1.5)])
    assert np.array_equal(left[frame(1.5) : frame(2.5)], sent(after))


def test_pcma_is_decoded(tmp_path: Path) -> None:
    caller = tone(CALLER_HZ, 1.0)
    pcap = write_pcap(
        tmp_path / "a.pcap", Stream(caller, T0, CALLER_PORT, ssrc=1, pt=PCMA).records()
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 1, caller_port=CALLER_PORT)
    assert np.array_equal(got.pcm[:, 0], sent(caller, PCMA))


def test_every_g711_code_decodes_as_the_standard_says(tmp_path: Path) -> None:
    codes = bytes(range(256))
    records = [
        (T0, ipv4_udp(rtp(ssrc=1, seq=1, ts=0, payload=codes), dport=CALLER_PORT)),
        (
            T0,
            ipv4_udp(
                rtp(ssrc=2, seq=1, ts=0, payload=codes, pt=PCMA), dport=AGENT_PORT, sport=40002
            ),
        ),
    ]
    pcap = write_pcap(tmp_path / "a.pcap", records)
    got = convert([pcap], start_ts=T0, end_ts=T0 + 256 / RATE, caller_port=CALLER_PORT)
    assert got.pcm[:, 0].tolist() == [ulaw_to_linear(c) for c in codes]
    assert got.pcm[:, 1].tolist() == [alaw_to_linear(c) for c in codes]


def test_telephone_events_comfort_noise_and_rtcp_are_skipped_and_counted(
    tmp_path: Path,
) -> None:
    caller = tone(CALLER_HZ, 1.0)
    event = TELEPHONE_EVENT
    others = [
        (T0 + 0.3, rtp(ssrc=1, seq=900, ts=3400, payload=b"\x01\x00\x00\xa0", pt=event)),
        (T0 + 0.32, rtp(ssrc=1, seq=901, ts=3400, payload=b"\x01\x80\x01\x40", pt=event)),
        (T0 + 0.4, rtp(ssrc=1, seq=902, ts=4200, payload=b"\x40", pt=13)),  # comfort noise
        # An RTCP sender report on the RTP port (rtcp-mux): PT 200, 72 with the marker masked.
        (T0 + 0.5, bytes([0x80, 200, 0, 6]) + bytes(24)),
        (T0 + 0.6, b"\x00" * 20),  # not RTP at all (version 0)
    ]  # fmt: skip
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(caller, T0, CALLER_PORT, ssrc=1).records()
        + [(when, ipv4_udp(packet, dport=CALLER_PORT)) for when, packet in others],
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 1, caller_port=CALLER_PORT)
    assert got.skipped == 5 and got.packets == 50
    assert np.array_equal(got.pcm[:, 0], sent(caller))


def test_a_cut_short_last_record_is_read_up_to_it(tmp_path: Path) -> None:
    caller = tone(CALLER_HZ, 1.0)
    pcap = write_pcap(tmp_path / "a.pcap", Stream(caller, T0, CALLER_PORT, ssrc=1).records())
    pcap.write_bytes(pcap.read_bytes()[:-30])  # rtpengine's disk filled mid-record
    got = convert([pcap], start_ts=T0, end_ts=T0 + 2, caller_port=CALLER_PORT)
    assert got.truncated and got.packets == 49
    assert got.last_packet_ts == pytest.approx(T0 + 48 * 0.02, abs=1e-5)
    assert np.array_equal(got.pcm[: frame(0.98), 0], sent(caller)[: frame(0.98)])
    assert silent(got.pcm[frame(0.98) :])


@pytest.mark.parametrize("cut", [0, 10, 24 + 8])
def test_a_pcap_cut_in_its_headers_has_no_packets(tmp_path: Path, cut: int) -> None:
    pcap = write_pcap(tmp_path / "a.pcap", Stream(tone(CALLER_HZ, 0.1), T0, CALLER_PORT).records())
    pcap.write_bytes(pcap.read_bytes()[:cut])
    got = convert([pcap], start_ts=T0, end_ts=T0 + 1, caller_port=CALLER_PORT)
    assert got.truncated and got.packets == 0 and got.last_packet_ts is None
    assert got.pcm.shape == (frame(1), 2) and silent(got.pcm)


@pytest.mark.parametrize(
    ("seconds", "frames"),
    [(2.0, 16000), (2.00006, 16000), (2.0000626, 16001), (0.0, 0), (-1.0, 0), (61.123456, 488988)],
)
def test_the_length_is_the_recordings_own(tmp_path: Path, seconds: float, frames: int) -> None:
    pcap = write_pcap(
        tmp_path / "a.pcap", Stream(tone(CALLER_HZ, 3.0), T0 - 0.5, CALLER_PORT).records()
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + seconds, caller_port=CALLER_PORT)
    assert got.frames == frames == len(got.pcm)
    assert got.duration_ms == round(frames / 8)


def test_packets_outside_the_timeline_are_dropped_and_counted(tmp_path: Path) -> None:
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(tone(CALLER_HZ, 1.0), T0 - 0.5, CALLER_PORT, ssrc=1).records()  # 25 before
        + Stream(tone(AGENT_HZ, 1.0), T0 + 0.8, AGENT_PORT, ssrc=2).records(),  # 40 after
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 1.0, caller_port=CALLER_PORT)
    assert got.packets == 25 + 10 and got.dropped == 25 + 40
    assert voiced(got.pcm[: frame(0.5), 0]) == 1.0 and silent(got.pcm[frame(0.5) :, 0])
    assert silent(got.pcm[: frame(0.8), 1]) and voiced(got.pcm[frame(0.8) :, 1]) == 1.0


def test_mono_is_the_caller_alone(tmp_path: Path) -> None:
    caller = tone(CALLER_HZ, 1.0)
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(caller, T0, CALLER_PORT, ssrc=1).records()
        + Stream(tone(AGENT_HZ, 1.0), T0, AGENT_PORT, ssrc=2).records(),
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 1, caller_port=CALLER_PORT, mono=True)
    assert got.pcm.shape == (frame(1), 1)
    assert np.array_equal(got.pcm[:, 0], sent(caller))
    assert got.packets == 50


def test_a_duplicated_packet_counts_once_and_overlapping_streams_add(tmp_path: Path) -> None:
    quiet = np.full(160, 1000, dtype=np.int16)
    agent = Stream(quiet, T0, AGENT_PORT, ssrc=2).records()
    consultee = Stream(quiet, T0, AGENT_PORT, ssrc=3).records()
    pcap = write_pcap(tmp_path / "a.pcap", agent + agent + consultee)
    got = convert([pcap], start_ts=T0, end_ts=T0 + 0.02, caller_port=CALLER_PORT)
    level = int(sent(quiet)[0])
    assert got.pcm[:, 1].tolist() == [2 * level] * 160
    assert got.packets == 2 and got.dropped == 1


@pytest.mark.parametrize(
    ("linktype", "big_endian", "nanoseconds", "ipv6"),
    [(101, False, False, False), (1, False, False, False), (101, True, False, False),
     (101, False, True, False), (101, False, False, True), (1, True, True, True)],
)  # fmt: skip
def test_pcap_variants(
    tmp_path: Path, linktype: int, big_endian: bool, nanoseconds: bool, ipv6: bool
) -> None:
    caller = tone(CALLER_HZ, 0.5)
    records = Stream(caller, T0 + 0.123457, CALLER_PORT, ssrc=1).records()
    if ipv6:
        records = [(when, ipv6_udp(packet[28:], dport=CALLER_PORT)) for when, packet in records]
    pcap = write_pcap(
        tmp_path / "a.pcap",
        records,
        linktype=linktype,
        big_endian=big_endian,
        nanoseconds=nanoseconds,
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 1, caller_port=CALLER_PORT)
    start = frame(0.123457)
    assert np.array_equal(got.pcm[start : start + len(caller), 0], sent(caller))
    assert got.packets == 25


def test_not_a_pcap_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pcap"
    bogus.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(RecordingFormatError, match=r"bogus\.pcap: byte 0: .*pcapng"):
        convert([bogus], start_ts=T0, end_ts=T0 + 1, caller_port=CALLER_PORT)
    odd = write_pcap(tmp_path / "odd.pcap", [], linktype=228)
    with pytest.raises(RecordingFormatError, match="linktype 228"):
        convert([odd], start_ts=T0, end_ts=T0 + 1, caller_port=CALLER_PORT)


def test_a_packet_across_the_timelines_edges_keeps_its_inside_part(tmp_path: Path) -> None:
    caller = tone(CALLER_HZ, 1.0)
    pcap = write_pcap(tmp_path / "a.pcap", Stream(caller, T0 - 0.01, CALLER_PORT).records())
    got = convert([pcap], start_ts=T0, end_ts=T0 + 0.5 + 0.005, caller_port=CALLER_PORT)
    assert np.array_equal(got.pcm[:, 0], sent(caller)[80 : 80 + got.frames])
    assert got.packets == 26  # the first and the last in part


def test_a_long_call_overlapping_across_the_summing_window(tmp_path: Path) -> None:
    """More packets than are decoded at once (4,096), and two streams on the agent's
    side that overlap across the 60 s boundary of the summing window."""
    level = np.full(round(100 * RATE), 500, dtype=np.int16)
    agent = level[: round(40.5 * RATE)]
    consultee = level[: round(20 * RATE)]
    pcap = write_pcap(
        tmp_path / "a.pcap",
        Stream(tone(CALLER_HZ, 100.0), T0, CALLER_PORT, ssrc=1).records()
        + Stream(agent, T0 + 20, AGENT_PORT, ssrc=2).records()
        + Stream(consultee, T0 + 50, AGENT_PORT, ssrc=3).records(),
    )
    got = convert([pcap], start_ts=T0, end_ts=T0 + 100, caller_port=CALLER_PORT)
    one = int(sent(level[:1])[0])
    right = got.pcm[:, 1]
    assert set(right[frame(20) : frame(50)].tolist()) == {one}
    assert set(right[frame(50) : frame(60.5)].tolist()) == {2 * one}
    assert set(right[frame(60.5) : frame(70)].tolist()) == {one}
    assert silent(right[: frame(20)]) and silent(right[frame(70) :])
    assert np.array_equal(got.pcm[:, 0], sent(tone(CALLER_HZ, 100.0)))


def test_timestamps_that_jump_all_the_time_are_placed_by_arrival(tmp_path: Path) -> None:
    """A broken sender: every packet a random RTP timestamp. Each still goes where it
    arrived, and the conversion does not take a pass per packet."""
    caller = tone(CALLER_HZ, 20.0)
    records = Stream(caller, T0, CALLER_PORT, ssrc=1).records()
    rng = np.random.default_rng(5)
    scrambled = []
    for when, packet in records:
        header = bytearray(packet)
        header[28 + 4 : 28 + 8] = int(rng.integers(0, 2**32)).to_bytes(4, "big")
        scrambled.append((when, bytes(header)))
    pcap = write_pcap(tmp_path / "a.pcap", scrambled)
    got = convert([pcap], start_ts=T0, end_ts=T0 + 20, caller_port=CALLER_PORT)
    assert np.array_equal(got.pcm[:, 0], sent(caller))


MIXER = "127.0.0.5"
SUPERVISOR_HZ = 2500.0


def test_packets_from_a_monitoring_mixer_are_left_out(tmp_path: Path) -> None:
    """A monitored call's pcap also holds what rtpengine received from the mixer: each
    party's mix (the other party, and in whisper or barge the supervisor). Only the
    parties' own packets make the WAV; a mixer packet neither lands on a channel nor
    makes its sender the caller, even when it went to the caller's port."""
    caller, agent = tone(CALLER_HZ, 2.0), tone(AGENT_HZ, 2.0)
    mixed = tone(SUPERVISOR_HZ, 2.0)
    mixer_ports = SourceRange(MIXER, 40000, 40099)
    pcap = write_pcap(
        tmp_path / "monitored.pcap",
        Stream(caller, T0, CALLER_PORT, ssrc=1, sport=5004).records()
        + Stream(agent, T0, AGENT_PORT, ssrc=2, sport=5006).records()
        # The mixer's outputs to rtpengine's ports facing it, and one to caller_port.
        + Stream(mixed, T0, CALLER_PORT + 4, ssrc=3, sport=40000, src=MIXER).records()
        + Stream(mixed, T0, AGENT_PORT + 4, ssrc=4, sport=40099, src=MIXER).records()
        + Stream(mixed, T0, CALLER_PORT, ssrc=5, sport=40050, src=MIXER).records(),
    )
    got = convert(
        [pcap], start_ts=T0, end_ts=T0 + 2, caller_port=CALLER_PORT, ignore_sources=[mixer_ports]
    )
    assert (got.packets, got.ignored, got.dropped) == (200, 300, 0)
    assert np.array_equal(got.pcm[:, 0], sent(caller))
    assert np.array_equal(got.pcm[:, 1], sent(agent))
    assert tone_fraction(got.pcm[:, 1], SUPERVISOR_HZ) < 0.01
    # Without the mixer's range the mix is in the WAV (and takes the caller's side).
    plain = convert([pcap], start_ts=T0, end_ts=T0 + 2, caller_port=CALLER_PORT)
    assert plain.ignored == 0 and plain.packets == 500
    # Outside the range, or from another address, a packet is a party's.
    others = write_pcap(
        tmp_path / "others.pcap",
        Stream(mixed, T0, AGENT_PORT, ssrc=6, sport=40100, src=MIXER).records()
        + Stream(caller, T0, CALLER_PORT, ssrc=7, sport=40000).records(),
    )
    kept = convert(
        [others], start_ts=T0, end_ts=T0 + 2, caller_port=CALLER_PORT, ignore_sources=[mixer_ports]
    )
    assert (kept.packets, kept.ignored) == (200, 0)


def test_an_ipv6_mixer_is_matched_by_its_address_and_port(tmp_path: Path) -> None:
    audio = tone(SUPERVISOR_HZ, 0.2)
    records = [
        (
            T0 + n * 0.02,
            ipv6_udp(
                rtp(ssrc=9, seq=n, ts=n * 160, payload=encode_ulaw(audio[n * 160 : n * 160 + 160])),
                dport=CALLER_PORT,
                sport=40000 + n % 2,  # ::2 port 40000, then 40001
            ),
        )
        for n in range(10)
    ]
    pcap = write_pcap(tmp_path / "v6.pcap", records)
    got = convert(
        [pcap],
        start_ts=T0,
        end_ts=T0 + 1,
        caller_port=CALLER_PORT,
        ignore_sources=[SourceRange("::2", 40000, 40000)],
    )
    assert (got.ignored, got.packets) == (5, 5)
    assert folded_address("::2") == 2 and folded_address("127.0.0.5") == 0x7F000005


@pytest.mark.parametrize(
    ("host", "low", "high", "complaint"),
    [("mixer.local", 1, 2, "not an IP address"), ("127.0.0.1", 9, 8, "not a range")],
)
def test_a_bad_ignored_source_is_refused(host: str, low: int, high: int, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        SourceRange(host, low, high)
