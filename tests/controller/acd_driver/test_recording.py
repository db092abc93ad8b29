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
import yaml

import prompts
from acd_api.v1 import acd_pb2 as pb
from eventlog import Event
from recording import convert, scan_spool
from simulators import RtpEndpoint, encode_ulaw
from testbed import (
    PRESENT_SCORE,
    Controller,
    Rtpengine,
    find_prompt,
    load_wav,
    media_of,
    received_pcm,
    tone_fraction,
    wait_until,
)
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
TONE_S = 0.5
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
    stream's first packet at its arrival, the rest by RTP timestamp); in real time, as
    the timeline is the wall clock's."""
    ssrc = next(_SSRCS)
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (0.3 * 32767 * np.sin(2 * math.pi * hz * t)).astype(np.int16)
    audio = encode_ulaw(pcm)
    for seq, start in enumerate(range(0, len(audio), 160)):
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)
        endpoint.send_packet(dest, header + audio[start : start + 160])
        time.sleep(0.02)


Sender = tuple[RtpEndpoint, tuple[str, int], float]  # endpoint, where to, tone


def both_send(a: Sender, b: Sender) -> float:
    """Each side sends `TONE_S` of its tone at once; returns when they started."""
    started = time.time()
    thread = threading.Thread(target=send_tone, args=(*a, TONE_S))
    thread.start()
    send_tone(*b, TONE_S)
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
    return (
        call is not None
        and call["state"] == "bridged"
        and any(
            leg["role"] == "agent" and leg["target"] == agent and leg["state"] == "answered"
            for leg in call["legs"]
        )
    )


def _one(events: list[Event], kind: str) -> Event:
    (event,) = [e for e in events if e.kind == kind]
    return event


def _window(pcm: np.ndarray, start_s: float) -> np.ndarray:
    # The middle of the burst: its edges depend on when the first packet arrived.
    first = int((start_s + 0.1) * RATE)
    return pcm[first : first + int((TONE_S - 0.2) * RATE)]


def test_a_queue_recording_pauses_and_follows_a_blind_transfer(rig: Rig, spool: Path) -> None:
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
        talk = both_send(
            (caller.rtp, to_caller, CALLER_HZ), (first.rtp, media_of(rang), FIRST_AGENT_HZ)
        )
        reply = controller.cmd("recording", cid=cid, op="pause")
        assert reply["state"] == "paused"
        paused_talk = both_send(
            (caller.rtp, to_caller, CALLER_HZ), (first.rtp, media_of(rang), FIRST_AGENT_HZ)
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
            (caller.rtp, _settled(caller), CALLER_HZ),
            (second.rtp, media_of(rang2), SECOND_AGENT_HZ),
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
    # After the transfer the same recording goes on, with 1002 and the caller in it.
    # rtpengine gave the caller a new port for its new peer, so by the `caller_port`
    # rule the caller lands on the right now (docs/recording.md, "The caller's port
    # moves"): both tones share that channel until the converter follows the caller.
    mixed = _window(audio.astype(np.int32).sum(axis=1), after - zero)
    assert tone_fraction(mixed, SECOND_AGENT_HZ) > 0.3
    assert tone_fraction(mixed, CALLER_HZ) > 0.3
    assert tone_fraction(_window(right, after - zero), SECOND_AGENT_HZ) > 0.3


MESSAGE = "Your bill is due on Friday."


def _found_twice(heard: np.ndarray, prompt: np.ndarray) -> tuple[float, float]:
    """Where the prompt is in `heard`, twice: the best match, then the best elsewhere."""
    first, score = find_prompt(heard, prompt)
    assert score >= PRESENT_SCORE, f"the message is not there (score {score:.2f})"
    rest = heard.copy()
    at = int(first * RATE)
    rest[at : at + len(prompt)] = 0
    second, score = find_prompt(rest, prompt)
    assert score >= PRESENT_SCORE, f"the message is there once only (score {score:.2f})"
    return min(first, second), max(first, second)


def test_play_a_message_twice_drops_the_agent_at_once_then_ends_the_call(
    rig: Rig, workdir: Path
) -> None:
    agents = rig.agents("1001")
    phone = rig.phone("1001", "acd_agent", pause_ms=200)
    cid = new_cid()
    cache = workdir / "prompts"
    with rig.controller("--prompt-cache", str(cache), "--record-queue", "billing") as controller:
        caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
        caller.rtp.record = True
        phone.run.wait_for_log("CALL", timeout=10)
        caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        asked = time.monotonic()
        reply = rig.client.play_message(
            pb.PlayMessageRequest(
                employee_id=1001,
                session_id=agents.agents[1001].session,
                text=MESSAGE,
                language="en",
            )
        )
        assert reply.error.code == OK, reply
        phone.run.wait_for_log("BYE", timeout=5)
        assert time.monotonic() - asked < 1.0, "the agent's phone gets BYE at once"
        caller.run.wait_for_log("BYE", timeout=20)
        wait_until(lambda: controller.cmd("status")["calls"] == 0, timeout=5, what="call gone")
    events = rig.ended_events(cid)
    played = _one(events, "call.message_played")
    assert (played["agent"], played["repeats"]) == ("1001", "2")
    ended = _one(events, "call.ended")
    assert (ended["cause"], ended["side"]) == ("message_played", "system")
    stopped = _one(events, "recording.stopped")
    assert played.ts <= stopped.ts <= ended.ts  # the recording stops at the hang-up
    prompt = load_wav(prompts.render(MESSAGE, "en", cache))
    first, second = _found_twice(received_pcm(caller.rtp), prompt)
    gap = second - first - len(prompt) / RATE
    assert 0.3 < gap < 0.8, gap  # 0.5 s between the two


def test_a_full_disk_flag_records_nothing_and_the_call_goes_on(rig: Rig) -> None:
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent", pause_ms=200)
    node = f"127.0.0.1:{rig.engine.ng_port}"
    rig.r.set(f"acd:recording:disk_full:{node}", "1", ex=30)  # as the recorder sets it
    cid = new_cid()
    with rig.controller("--record-queue", "billing") as controller:
        caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
        phone.run.wait_for_log("CALL", timeout=10)
        caller.wait_bridged()
        wait_until(lambda: _bridged_to(controller, cid, "1001"), timeout=5, what="bridged")
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
    events = rig.ended_events(cid)
    failed = _one(events, "recording.failed")
    assert failed["reason"] == "disk_full" and node in failed["detail"]
    assert not [e for e in events if e.kind in ("recording.started", "recording.stopped")]
    assert _one(events, "call.ended")["cause"] == "200"


def recording_enabled(rig: Rig) -> None:
    """The ACD replica again, with a `recording:` section (it refuses ControlRecording
    without one)."""
    config = yaml.safe_load(rig.acd.config.read_text())
    config["recording"] = {"managed": False}
    rig.acd.config.write_text(yaml.safe_dump(config, sort_keys=False))
    rig.acd.stop()
    rig.acd.start()


def test_the_agent_records_on_demand_through_the_acd(rig: Rig) -> None:
    """ControlRecording START/PAUSE/RESUME/STOP at the ACD reach the controller as
    RecordingCommands: the recording carries the ACD's ref and the agent's name."""
    recording_enabled(rig)
    agents = rig.agents("1001")
    phone = rig.phone("1001", "acd_agent", pause_ms=200)
    session = agents.agents[1001].session
    cid = new_cid()

    def control(op: pb.RecordingOp, name: str = "") -> pb.ControlRecordingResponse:
        reply = rig.client.control_recording(
            pb.ControlRecordingRequest(employee_id=1001, session_id=session, op=op, name=name)
        )
        assert reply.error.code == OK, reply
        return reply

    def state() -> str:
        return str(controller.cmd("recording")["calls"].get(cid, {}).get("state", "off"))

    with rig.controller() as controller:
        caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
        phone.run.wait_for_log("CALL", timeout=10)
        caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        ref = control(pb.RECORDING_OP_START, "complaint").ref
        wait_until(lambda: state() == "on", timeout=5, what="recording on")
        control(pb.RECORDING_OP_PAUSE)
        wait_until(lambda: state() == "paused", timeout=5, what="recording paused")
        control(pb.RECORDING_OP_RESUME)
        wait_until(lambda: state() == "on", timeout=5, what="recording resumed")
        control(pb.RECORDING_OP_STOP)
        wait_until(lambda: state() == "off", timeout=5, what="recording stopped")
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
    events = rig.ended_events(cid)
    started = _one(events, "recording.started")
    assert (started["ref"], started["reason"], started["name"], started["agent"]) == (
        ref,
        "on_demand",
        "complaint",
        "1001",
    )
    assert _one(events, "recording.paused")["reason"] == "agent"
    assert _one(events, "recording.stopped")["segments"] == "2"


def test_an_always_on_recording_is_reported_to_the_acd(rig: Rig) -> None:
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent", pause_ms=200)
    cid = new_cid()
    with rig.controller("--record-queue", "billing") as controller:
        caller = rig.caller(controller, cid, scenario="acd_caller_any_bye")
        phone.run.wait_for_log("CALL", timeout=10)
        caller.wait_bridged()

        def seen() -> bool:
            view = rig.agent_view("1001")
            return view is not None and view.recording == pb.RECORDING_STATE_ON

        wait_until(seen, timeout=5, what="the ACD sees the recording on")
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
