"""The call recording state machine (controller/_recording.py) against fakes."""

from __future__ import annotations

from typing import Any

import pytest

from controller._events import MemoryPublisher
from controller._media import MediaError
from controller._recording import AlwaysOnRecording, CallRecorder, RecorderTap
from eventlog import Event
from recording import disk_full_key
from tests.controller.test_call_control_rules import CID as RULES_CID
from tests.controller.test_call_control_rules import World
from tests.controller.test_service import sdp

CID = "cid-0001"
CALLER_SDP = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 30012 RTP/AVP 0\r\na=sendrecv\r\n"


class FakeMedia:
    def __init__(self) -> None:
        self.requests: list[tuple[Any, ...]] = []
        self.fail_start = False

    def start_recording(self, call_id: str, ref: str, segment: int) -> None:
        if self.fail_start:
            raise MediaError("Unknown call-id")
        self.requests.append(("start", call_id, ref, segment))

    def stop_recording(self, call_id: str) -> None:
        self.requests.append(("stop", call_id))


def rig(
    *, full: bool = False, queue: str = "", sdp: str | None = CALLER_SDP
) -> tuple[CallRecorder, FakeMedia, MemoryPublisher, list[tuple[str, str, str]]]:
    media, events = FakeMedia(), MemoryPublisher()
    reports: list[tuple[str, str, str]] = []
    recorder = CallRecorder(
        media,
        events,
        media_node="127.0.0.1:2223",
        caller_sdp=lambda cid: sdp,
        node="ctl-a",
        disk_full=lambda node: full,
        queue_of=lambda cid: queue,
        report=lambda cid, state, ref: reports.append((cid, state, ref)),
        clock=lambda: 1000.0,
    )
    recorder.observe(
        Event.new(
            "call.arrived",
            correlation_id=CID,
            node="ctl-a",
            trunk="",
            caller="13800000000",
            dialled="95598",
            category="",
        )
    )
    recorder.observe(
        Event.new(
            "call.answered", correlation_id=CID, node="ctl-a", agent="1001", seat="1", leg_id="L2"
        )
    )
    return recorder, media, events, reports


def kinds(events: MemoryPublisher) -> list[str]:
    return [e.kind for e in events.events]


def test_start_pause_resume_stop_opens_a_segment_per_start_and_writes_every_event() -> None:
    recorder, media, events, reports = rig(queue="billing")
    ref = recorder.start(CID, reason="on_demand", name="1001", ref="a" * 32, tell_acd=False)
    assert ref == "a" * 32
    assert recorder.state(CID) == "on"
    started = events.events[0]
    assert started.kind == "recording.started"
    assert dict(started.data) == {
        "ref": ref,
        "name": "1001",
        "reason": "on_demand",
        "media_node": "127.0.0.1:2223",
        "caller": "13800000000",
        "agent": "1001",
        "queue": "billing",
        "number": "95598",
        "caller_port": "30012",
    }
    assert recorder.pause(CID, "agent")
    assert not recorder.pause(CID, "agent")  # already paused
    assert recorder.state(CID) == "paused"
    assert recorder.resume(CID)
    assert not recorder.resume(CID)
    assert recorder.stop(CID)
    assert recorder.state(CID) == "off"
    assert media.requests == [
        ("start", CID, ref, 0),
        ("stop", CID),
        ("start", CID, ref, 1),
        ("stop", CID),
    ]
    assert kinds(events) == [
        "recording.started",
        "recording.paused",
        "recording.resumed",
        "recording.stopped",
    ]
    assert events.events[1]["reason"] == "agent"
    assert events.events[-1]["segments"] == "2"
    # The ACD started it (no report); the pause, resume and stop were the controller's.
    assert reports == [(CID, "paused", ref), (CID, "on", ref), (CID, "off", ref)]


def test_a_stop_while_paused_sends_no_stop_to_rtpengine() -> None:
    recorder, media, events, _ = rig()
    ref = recorder.start(CID, reason="always", name="")
    recorder.pause(CID, "sensitive")
    recorder.call_ending(CID)
    assert media.requests == [("start", CID, ref, 0), ("stop", CID)]
    assert events.events[-1].kind == "recording.stopped"
    assert events.events[-1]["segments"] == "1"
    assert not recorder.stop(CID)  # nothing left


def test_a_full_disk_records_nothing_and_says_so() -> None:
    recorder, media, events, _ = rig(full=True)
    assert recorder.start(CID, reason="always", name="") is None
    assert media.requests == []
    assert recorder.state(CID) == "off"
    assert kinds(events) == ["recording.failed"]
    assert events.events[0]["reason"] == "disk_full"
    assert len(events.events[0]["ref"]) == 32


def test_an_rtpengine_refusal_records_nothing_and_the_call_goes_on() -> None:
    recorder, media, events, _ = rig()
    media.fail_start = True
    assert recorder.start(CID, reason="always", name="") is None
    assert kinds(events) == ["recording.failed"]
    assert events.events[0]["reason"] == "rtpengine"
    recorder.call_ending(CID)  # nothing to stop
    assert kinds(events) == ["recording.failed"]


def test_refusals() -> None:
    recorder, _, _, _ = rig()
    with pytest.raises(ValueError, match="reason"):
        recorder.start(CID, reason="whenever", name="")
    recorder.start(CID, reason="always", name="")
    with pytest.raises(ValueError, match="already recorded"):
        recorder.start(CID, reason="on_demand", name="1001")
    with pytest.raises(ValueError, match="pause reason"):
        recorder.pause(CID, "lunch")
    unanswered, _, _, _ = rig(sdp=None)
    with pytest.raises(ValueError, match="no answered caller"):
        unanswered.start(CID, reason="always", name="")


def test_voicemail_has_no_agent() -> None:
    recorder, _, events, _ = rig()
    recorder.start(CID, reason="voicemail", name="billing")
    assert events.events[0]["agent"] == ""
    assert events.events[0]["name"] == "billing"


def test_always_on_by_number_from_the_answer_and_by_queue_from_the_agent() -> None:
    recorder, media, events, _ = rig(queue="billing")
    recorder._recordings.clear()
    by_number = AlwaysOnRecording(recorder, numbers={"95598"})
    tap = RecorderTap(MemoryPublisher(), recorder, by_number)
    tap.publish(
        Event.new(
            "call.arrived",
            correlation_id="cid-2",
            node="n",
            trunk="",
            caller="1",
            dialled="95598",
            category="",
        )
    )
    by_number.caller_answered("cid-2")
    assert recorder.state("cid-2") == "on"
    by_queue = AlwaysOnRecording(recorder, queues={"billing"})
    tap = RecorderTap(MemoryPublisher(), recorder, by_queue)
    tap.publish(
        Event.new(
            "call.answered", correlation_id="cid-3", node="n", agent="1002", seat="2", leg_id="L2"
        )
    )
    assert recorder.state("cid-3") == "on"
    started = [e for e in events.events if e.correlation_id == "cid-3"]
    assert started[0]["agent"] == "1002"
    # A second answer (a transfer's target) keeps the one recording going.
    tap.publish(
        Event.new(
            "call.answered", correlation_id="cid-3", node="n", agent="1003", seat="3", leg_id="L3"
        )
    )
    assert [e.kind for e in events.events if e.correlation_id == "cid-3"] == ["recording.started"]
    assert sum(1 for r in media.requests if r[0] == "start") == 2


def test_the_disk_full_key() -> None:
    assert disk_full_key("acd:", "127.0.0.1:2223") == "acd:recording:disk_full:127.0.0.1:2223"


# ------------------------------------------------- with the service: one recording per call


def test_one_recording_follows_the_caller_through_consult_transfer_and_intercept() -> None:
    """The recording belongs to the rtpengine call: a consult, its completed transfer and
    an intercept neither restart nor stop it; the hang-up stops it before the delete."""
    w = World()
    requests: list[tuple[str, ...]] = []
    w.media.start_recording = lambda cid, ref, segment: requests.append(  # type: ignore[attr-defined]
        ("start", ref, str(segment))
    )
    w.media.stop_recording = lambda cid: requests.append(("stop",))  # type: ignore[attr-defined]
    recorder = CallRecorder(
        w.media,  # type: ignore[arg-type]
        w.published,
        media_node="127.0.0.1:2223",
        caller_sdp=w.service.caller_media,
    )
    w.service.events = RecorderTap(w.published, recorder, AlwaysOnRecording(recorder))
    w.service.on_call_ending = recorder.call_ending
    w.inbound_bridged()
    ref = recorder.start(RULES_CID, reason="on_demand", name="1001")
    assert w.cmd("consult", cid=RULES_CID, agent="1002")["ok"]
    w.service.answered(RULES_CID, "L3", sdp(5003))
    w.settle()
    assert w.cmd("complete_transfer", cid=RULES_CID)["ok"]
    w.settle()
    assert w.cmd("intercept", cid=RULES_CID, agent="2001")["ok"]
    w.service.answered(RULES_CID, "L4", sdp(5004))
    w.settle()
    assert recorder.state(RULES_CID) == "on"
    mark = len(w.media.ops)
    w.service.ended(RULES_CID, "L1")
    assert requests == [("start", ref, "0"), ("stop",)]
    assert w.media.ops[mark:][-1] == ("delete",)
    kinds = [e.kind for e in w.published.events if e.kind.startswith("recording.")]
    assert kinds == ["recording.started", "recording.stopped"]
    ended_at = [e.kind for e in w.published.events].index("call.ended")
    stopped_at = [e.kind for e in w.published.events].index("recording.stopped")
    assert stopped_at < ended_at
