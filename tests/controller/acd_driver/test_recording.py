"""Call recording on the real path (conftest.py: the ACD, Redis, rtpengine writing
pcaps into a spool, the controller, sipp parties): an always-on queue recording from
the agent's answer, paused and resumed, surviving a blind transfer, converted with
`recording.convert`; the caller's tone on the left, the agents' on the right, the
pause silent. And "play this message twice": the agent's phone gets BYE at once, the
caller hears the rendered text twice, then the call ends (call.message_played).
"""

from __future__ import annotations

import math
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from acd_api.v1 import acd_pb2 as pb
from eventlog import Event
from simulators import RtpEndpoint, encode_ulaw
from testbed import Controller, Rtpengine, media_of, tone_fraction, wait_until
from testbed import running_rtpengine as start_rtpengine
from tests.controller.acd_driver.conftest import (
    OK,
    Party,
    Rig,
    caller_call_id,
    new_cid,
    trigger,
)

RATE = 8000
CALLER_HZ, FIRST_AGENT_HZ, SECOND_AGENT_HZ = 440.0, 1000.0, 1500.0


@pytest.fixture(scope="module")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spool")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, spool: Path) -> Iterator[Rtpengine]:
    """rtpengine writing pcap segments into `spool` (docs/recording.md)."""
    with start_rtpengine(tmp_path_factory.mktemp("rtpengine"), recording_dir=spool) as running:
        yield running


_SSRCS = iter(range(0x5EC0000, 0x5EC1000))


def send_tone(endpoint: RtpEndpoint, dest: tuple[str, int], hz: float, seconds: float) -> None:
    """`seconds` of a sine as PCMU, a fresh SSRC per burst (the converter places a
    stream's first packet at its arrival, the rest by RTP timestamp); sent at 4x speed."""
    ssrc = next(_SSRCS)
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (0.3 * 32767 * np.sin(2 * math.pi * hz * t)).astype(np.int16)
    audio = encode_ulaw(pcm)
    for seq, start in enumerate(range(0, len(audio), 160)):
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)
        endpoint.send_packet(dest, header + audio[start : start + 160])
        time.sleep(0.005)


def both_send(
    a: RtpEndpoint, a_to: tuple[str, int], a_hz: float, b: RtpEndpoint, b_to: tuple[str, int], b_hz: float
) -> float:
    """Each side sends 1 s of its tone at once; returns when they started (time.time())."""
    started = time.time()
    thread = threading.Thread(target=send_tone, args=(a, a_to, a_hz, 1.0))
    thread.start()
    send_tone(b, b_to, b_hz, 1.0)
    thread.join()
    return started


def _settled(caller: Party) -> tuple[str, int]:
    wait_until(
        lambda: len(caller.lines("SETTLED")) == len(caller.lines("REINVITE ")),
        timeout=10,
        what="the caller's re-INVITEs done",
    )
    return media_of(caller.lines("REINVITE ")[-1])


def _bridged_to(controller: Controller, cid: str, agent: str) -> bool:
    call = next((c for c in controller.cmd("calls") if c["cid"] == cid), None)
    return call is not None and call["state"] == "bridged" and any(
        leg["role"] == "agent" and leg["target"] == agent and leg["state"] == "answered"
        for leg in call["legs"]
    )


def _one(events: list[Event], kind: str) -> Event:
    (event,) = [e for e in events if e.kind == kind]
    return event


def _window(pcm: np.ndarray, start_s: float, seconds: float = 1.0) -> np.ndarray:
    # The middle of the burst: its edges depend on when the first packet arrived.
    first = int((start_s + 0.15) * RATE)
    return pcm[first : first + int((seconds - 0.3) * RATE)]


def test_a_queue_recording_pauses_and_follows_a_blind_transfer(rig: Rig, spool: Path) -> None:
    from recording import convert, scan_spool  # noqa: PLC0415 - rec-core's package

    rig.agents("1001", "1002")
    first = rig.phone("1001", "acd_agent", pause_ms=200)
    second = rig.phone("1002", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller("--record-queue", "billing") as controller:
        caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
        (rang,) = first.run.wait_for_log("CALL", timeout=10)
        to_caller = media_of(caller.wait_bridged())
        wait_until(
            lambda: controller.cmd("recording")["calls"].get(cid, {}).get("state") == "on",
            timeout=5,
            what="the call recorded from the agent's answer",
        )
        talk = both_send(caller.rtp, to_caller, CALLER_HZ, first.rtp, media_of(rang), FIRST_AGENT_HZ)
        reply = controller.cmd("recording", cid=cid, op="pause")
        assert reply["state"] == "paused"
        paused_talk = both_send(
            caller.rtp, to_caller, CALLER_HZ, first.rtp, media_of(rang), FIRST_AGENT_HZ
        )
        assert controller.cmd("recording", cid=cid, op="resume")["state"] == "on"

        reply_t = rig.client.transfer_to_agent(
            pb.TransferToAgentRequest(call_id=cid, employee_id=1002)
        )
        assert reply_t.error.code == OK, reply_t
        first.run.wait_for_log("BYE", timeout=10)
        (rang2,) = second.run.wait_for_log("CALL", timeout=10)
        wait_until(lambda: _bridged_to(controller, cid, "1002"), timeout=10, what="bridged to 1002")
        after = both_send(
            caller.rtp, _settled(caller), CALLER_HZ, second.rtp, media_of(rang2), SECOND_AGENT_HZ
        )
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        second.run.wait_for_log("BYE", timeout=10)

    events = rig.ended_events(cid)
    started = _one(events, "recording.started")
    stopped = _one(events, "recording.stopped")
    paused, resumed = _one(events, "recording.paused"), _one(events, "recording.resumed")
    assert (started["reason"], started["agent"], started["queue"], started["number"]) == (
        "always",
        "1001",
        "billing",
        "95598",
    )
    assert started["caller"] == "13912345678"
    assert started["media_node"] == f"127.0.0.1:{rig.engine.ng_port}"
    assert paused["reason"] == "agent"
    assert stopped["segments"] == "2"  # one recording across the transfer: one start, one resume
    assert stopped.ts <= _one(events, "call.ended").ts
    ref = started["ref"]
    wait_until(
        lambda: len(scan_spool(spool).get(ref, [])) == 2, timeout=5, what="both segments closed"
    )
    audio = convert(
        [s.pcap for s in scan_spool(spool)[ref]],
        start_ts=started.ts,
        end_ts=stopped.ts,
        caller_port=int(started["caller_port"]),
        pauses=[(paused.ts, resumed.ts)],
    ).pcm
    left, right = audio[:, 0], audio[:, 1]
    zero = started.ts
    assert tone_fraction(_window(left, talk - zero), CALLER_HZ) > 0.9
    assert tone_fraction(_window(right, talk - zero), FIRST_AGENT_HZ) > 0.9
    assert not _window(audio, paused_talk - zero).any(), "a pause is silence"
    # After the transfer the recording goes on: 1002 on the right.
    assert tone_fraction(_window(right, after - zero), SECOND_AGENT_HZ) > 0.5
    assert tone_fraction(_window(audio.sum(axis=1), after - zero), CALLER_HZ) > 0.2
