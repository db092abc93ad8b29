"""rtpengine's own pcap segments converted: the real recorder input, end to end.

rtpengine (`--recording-method=pcap --recording-format=raw`) records a call between two
RTP endpoints, each sending its own tone; the recording is paused (stop, then start
segment 1) and ends with the call's delete. scan_spool finds both segments by our
metadata, convert puts the caller's tone left and the agent's right, the pause silent.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from recording import convert, recording_metadata, scan_spool, write_wav
from rtpengine import NgClient
from simulators import RtpEndpoint, RtpSender, encode_ulaw, tone_fraction
from testbed import running_rtpengine, wait_until
from tests.recording.pcap_files import RATE, tone

CALLER_HZ = 440.0
AGENT_HZ = 1000.0
REF = "0123456789abcdef0123456789abcdef"


def sdp(port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\n"
    )


def media_port(reply: dict[str, object]) -> int:
    found = re.search(r"m=audio (\d+)", str(reply["sdp"]))
    assert found, reply
    return int(found.group(1))


def talk(
    *,
    caller: RtpEndpoint,
    agent: RtpEndpoint,
    to_caller_side: int,
    to_agent_side: int,
    seconds: float,
    senders: tuple[RtpSender, RtpSender],
) -> None:
    """Both parties send their tone in 20 ms packets, paced as phones do."""
    caller_audio = encode_ulaw(tone(CALLER_HZ, seconds))
    agent_audio = encode_ulaw(tone(AGENT_HZ, seconds))
    started = time.monotonic()
    for n, first in enumerate(range(0, len(caller_audio), 160)):
        caller.send_packet(
            ("127.0.0.1", to_caller_side), senders[0].audio(caller_audio[first : first + 160])
        )
        agent.send_packet(
            ("127.0.0.1", to_agent_side), senders[1].audio(agent_audio[first : first + 160])
        )
        time.sleep(max(0.0, started + (n + 1) * 0.02 - time.monotonic()))  # pacing


def test_rtpengine_segments_become_a_stereo_recording_with_a_silent_pause(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    caller, agent = RtpEndpoint(), RtpEndpoint()
    senders = (RtpSender(ssrc=0x11111111), RtpSender(ssrc=0x22222222))
    with running_rtpengine(tmp_path, recording_dir=spool) as engine:
        ng = NgClient("127.0.0.1", engine.ng_port, timeout=2.0)
        try:
            call = {"call-id": "rec-core-1", "from-tag": "caller"}
            # The offer's SDP goes to the agent: rtpengine's port facing the agent.
            to_agent_side = media_port(ng.request("offer", sdp=sdp(caller.port), **call))
            answer = ng.request("answer", sdp=sdp(agent.port), **call, **{"to-tag": "agent"})
            caller_port = media_port(answer)  # what the caller is told: its side
            parties = {
                "caller": caller,
                "agent": agent,
                "to_caller_side": caller_port,
                "to_agent_side": to_agent_side,
                "senders": senders,
            }
            started = time.time()
            ng.request("start recording", metadata=recording_metadata(REF, 0), **call)
            talk(**parties, seconds=1.0)
            paused = time.time()
            ng.request("stop recording", **call)
            talk(**parties, seconds=0.6)  # not recorded
            resumed = time.time()
            ng.request("start recording", metadata=recording_metadata(REF, 1), **call)
            talk(**parties, seconds=1.0)
            ng.request("delete", **call)
            stopped = time.time()
            wait_until(
                lambda: len(scan_spool(spool).get(REF, [])) == 2,
                timeout=5,
                what="both segments' metadata files in the spool",
            )
        finally:
            ng.close()
            caller.close()
            agent.close()

    segments = scan_spool(spool)[REF]
    assert [s.segment for s in segments] == [0, 1]
    assert all(s.pcap.exists() and s.pcap.parent == spool / "pcaps" for s in segments)
    got = convert(
        [s.pcap for s in segments],
        start_ts=started,
        end_ts=stopped,
        caller_port=caller_port,
        pauses=[(paused, resumed)],
    )
    assert got.frames == round((stopped - started) * RATE) == len(got.pcm)
    assert not got.truncated
    assert got.packets >= 2 * 2 * 45  # 50 a second from each side, a few may miss a segment
    left, right = got.pcm[:, 0].astype(np.float64), got.pcm[:, 1].astype(np.float64)
    assert tone_fraction(got.pcm[:, 0], CALLER_HZ) > 0.9
    assert tone_fraction(got.pcm[:, 1], AGENT_HZ) > 0.9
    assert tone_fraction(got.pcm[:, 0], AGENT_HZ) < 0.05
    assert tone_fraction(got.pcm[:, 1], CALLER_HZ) < 0.05
    pause = slice(round((paused - started) * RATE), round((resumed - started) * RATE))
    assert not np.any(got.pcm[pause])
    # Each segment is sound on both sides, save its edges (the first packet of a segment
    # may come a packet time after the start, later on a loaded machine).
    for first, last in ((started, paused), (resumed, stopped)):
        inside = slice(round((first - started + 0.2) * RATE), round((last - started - 0.2) * RATE))
        for channel in (left, right):
            blocks = channel[inside][: (inside.stop - inside.start) // 160 * 160].reshape(-1, 160)
            assert np.all(np.abs(blocks).max(axis=1) > 1000)
    write_wav(tmp_path / "out" / f"{REF}.wav", got.pcm)
    assert (tmp_path / "out" / f"{REF}.wav").stat().st_size == 44 + 4 * got.frames
