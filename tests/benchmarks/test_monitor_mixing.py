"""The monitoring benchmark's own checks (benchmarks/monitor_mixing.py): what it calls
loss, a missing or leaked tone, and a marker's mouth-to-ear delay, on audio made here."""

from __future__ import annotations

import struct

import numpy as np

from benchmarks._monitor_parties import (
    FRAME,
    MARKER_HZ,
    PTIME_S,
    PartySpec,
    Received,
    analyse,
    frames_for,
    onset_offset,
    seq_gaps,
)
from benchmarks.monitor_mixing import HEARS, CallPlan, media_address, party_specs, pct
from simulators import decode_ulaw, encode_ulaw

START = 1000.0
SECONDS = 3
TICKS = SECONDS * 50


def _specs(kind: str) -> dict[str, PartySpec]:
    return {s.role: s for s in party_specs(CallPlan("m0", kind), 0)}


def _mixed(
    sources: list[PartySpec],
    *,
    delay_s: float,
    drop: range = range(0),
    silence: dict[str, range] | None = None,
) -> tuple[Received, dict[str, list[float]]]:
    """What a listener of `sources` gets: their frames summed, one packet per tick (none
    in `drop`), each `delay_s` after the tick, a source's frame left out in the ticks of
    `silence`; the marker send times of each source."""
    frames = {s.role: [decode_ulaw(f).astype(np.int32) for f in frames_for(s)] for s in sources}
    times, heads, payloads = [], bytearray(), bytearray()
    seq = 0
    for tick in range(TICKS):
        if tick in drop:
            continue
        pcm = sum(
            frames[s.role][tick % 50]
            for s in sources
            if tick not in (silence or {}).get(s.role, range(0))
        )
        times.append(START + tick * PTIME_S + delay_s)
        heads += struct.pack("!BBHII", 0x80, 0, seq, seq * FRAME, 1)
        payloads += encode_ulaw(np.clip(pcm, -32768, 32767))
        seq += 1
    sends = {
        s.role: [START + t * PTIME_S for t in range(TICKS) if t % 50 == s.marker_phase]
        for s in sources
    }
    return Received(np.asarray(times), bytes(heads), bytes(payloads)), sends


def test_a_whispered_agent_hears_both_with_the_delay_of_its_packets() -> None:
    specs = _specs("whisper")
    received, sends = _mixed([specs["caller"], specs["supervisor"]], delay_s=0.030)
    result = analyse(specs["agent"], received, start=START, ticks=TICKS, marker_sends=sends)
    assert result["lost"] == 0 and result["seq_gaps"] == 0
    assert result["missing"] == {"caller": 0, "supervisor": 0}
    assert result["frames_heard"] == {"caller": TICKS, "supervisor": TICKS}
    for role in ("caller", "supervisor"):
        assert result["markers_matched"][role] == result["markers_sent"][role] == SECONDS
        assert all(abs(d - 30.0) < 1.0 for d in result["delays_ms"][role])  # 8 samples


def test_a_lost_second_is_loss_and_a_missing_window() -> None:
    specs = _specs("barge")
    received, sends = _mixed([specs["caller"], specs["agent"]], delay_s=0.01, drop=range(50, 100))
    result = analyse(specs["supervisor"], received, start=START, ticks=TICKS, marker_sends=sends)
    assert result["lost"] == 50
    assert result["missing"] == {"caller": 1, "agent": 1}
    assert result["frames_heard"] == {"caller": TICKS - 50, "agent": TICKS - 50}


def test_a_source_frame_dropped_under_another_one_is_frame_loss() -> None:
    specs = _specs("barge")
    received, sends = _mixed(
        [specs["caller"], specs["agent"]], delay_s=0.01, silence={"agent": range(20, 23)}
    )
    result = analyse(specs["supervisor"], received, start=START, ticks=TICKS, marker_sends=sends)
    assert result["lost"] == 0  # a packet every tick: the caller's frames
    assert result["frames_heard"] == {"caller": TICKS, "agent": TICKS - 3}


def test_the_whispering_supervisor_heard_by_the_caller_is_a_leak() -> None:
    specs = _specs("whisper")
    assert specs["caller"].must_not_hear == ("supervisor",)
    received, sends = _mixed([specs["agent"], specs["supervisor"]], delay_s=0.01)
    result = analyse(specs["caller"], received, start=START, ticks=TICKS, marker_sends=sends)
    assert result["missing"] == {"agent": 0}
    assert result["leaked"] == {"supervisor": SECONDS}


def test_the_mode_table_is_docs_monitoring() -> None:
    assert HEARS["whisper"]["caller"] == ["agent"]
    assert sorted(HEARS["barge"]["caller"]) == ["SUP", "agent"]
    assert set(_specs("barge")["caller"].hears) == {"agent", "supervisor"}


def test_an_onset_inside_a_packet_is_placed_to_the_sample_window() -> None:
    freq = MARKER_HZ["agent"]
    burst = 0.3 * 32767 * np.sin(2 * np.pi * freq * np.arange(FRAME) / 8000)
    for start in (0, 37, 100):
        previous = np.zeros(FRAME)
        block = np.concatenate([np.zeros(start), burst[: FRAME - start]])
        assert abs(onset_offset(previous, block, freq) - start) <= 4


def test_sequence_gaps_unroll_the_wrap_and_ignore_reordering() -> None:
    assert seq_gaps(np.array([65534, 65535, 0, 2, 1, 5])) == 2  # 3 and 4
    assert seq_gaps(np.array([7])) == 0


def test_helpers() -> None:
    assert media_address("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n") == (
        "127.0.0.1",
        4000,
    )
    assert pct([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert pct(list(range(1, 101)), 95) == 95
