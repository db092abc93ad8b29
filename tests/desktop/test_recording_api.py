"""The desktop's recording, play-message and voicemail routes against a real ACD replica
(docs/desktop.md): refusals outside a call with the ACD's code, start/pause/resume/stop
on an answered call with the state shown on the events socket, a message played to the
caller, and the voicemail tab's list, audio, mark heard and delete on messages seeded
through bizdata with their WAVs under the run directory's voicemail/."""

from __future__ import annotations

import io
import uuid
import wave
from datetime import UTC, datetime
from pathlib import Path

import yaml

import bizdata
from acd_api.v1 import acd_pb2 as pb
from tests.desktop.conftest import DeskStack, enqueue
from tests.desktop.test_events import open_events, wait_state


def small_wav(seconds: float = 0.3) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x08" * int(8000 * seconds))
    return out.getvalue()


def talking(stack: DeskStack, call_id: str, eid: int) -> None:
    enqueue(stack.acd, call_id, "13800138000")
    reply = stack.acd.answered(pb.AnsweredRequest(call_id=call_id, employee_id=eid))
    assert reply.error.code == 0, reply.error.message


def test_recording_and_play_message_are_refused_outside_a_call(desktop_server: DeskStack) -> None:
    stack = desktop_server
    page = stack.logged_in("a1001", 1001, 1)
    for path, body in [
        ("/api/recording/start", {"name": "complaint"}),
        ("/api/recording/pause", {}),
        ("/api/recording/resume", {}),
        ("/api/recording/stop", {}),
        ("/api/play-message", {"text": "您的电费已到账", "language": "zh"}),
    ]:
        reply = page.post(path, body)
        assert (reply.status, reply.code) == (409, "call_not_talking"), (path, reply.body)
    # The route's own checks come first, and CSRF and the session as everywhere.
    assert page.post("/api/recording/start", {}).code == "invalid"
    assert page.post("/api/recording/start", {"name": "x" * 65}).code == "invalid"
    assert page.post("/api/play-message", {"text": "hi", "language": "fr"}).code == "invalid"
    assert page.post("/api/play-message", {"text": ""}).code == "invalid"
    no_csrf = page.request("POST", "/api/recording/stop", {}, csrf=False)
    assert (no_csrf.status, no_csrf.code) == (403, "csrf")
    assert stack.browser().post("/api/recording/stop").code == "no_session"
    page.post("/api/logout")


def test_record_pause_resume_stop_on_a_call_and_the_state_on_the_socket(
    desktop_server: DeskStack,
) -> None:
    stack = desktop_server
    page = stack.logged_in("a1002", 1002, 2)
    with open_events(stack, page) as ws:
        wait_state(ws, "idle")
        talking(stack, "rec-call-1", 1002)
        wait_state(ws, "talking")
        started = page.post("/api/recording/start", {"name": "billing dispute"})
        assert started.status == 200, started.body
        ref = started.body["ref"]
        assert len(ref) == 32 and started.body["recording"] == "on"
        assert wait_state(ws, "talking")["recording"] == "on"
        paused = page.post("/api/recording/pause")
        assert paused.body == {"ref": ref, "recording": "paused"}, paused.body
        again = page.post("/api/recording/pause")
        assert (again.status, again.code) == (409, "invalid_transition"), again.body
        assert page.post("/api/recording/resume").body == {"ref": ref, "recording": "on"}
        stopped = page.post("/api/recording/stop")
        assert stopped.body["recording"] == "off", stopped.body
        # The events lane shows the ACD's view of it (AgentView.recording).
        event = wait_state(ws, "talking")
        while event["recording"] != "off":
            event = wait_state(ws, "talking")
        # Play a message: the caller hears it, the agent leaves the call at once.
        played = page.post("/api/play-message", {"text": "Goodbye", "language": "en"})
        assert played.status == 200 and played.body == {"call_id": "rec-call-1"}, played.body
        assert wait_state(ws, "wrap_up")["recording"] == "off"
    page.post("/api/logout")


def seed_voicemail(stack: DeskStack, box: str, caller: str) -> tuple[str, bytes]:
    run_dir = Path(yaml.safe_load(stack.config_path.read_text())["node"]["run_dir"])
    message_id = uuid.uuid4().hex
    audio = small_wav()
    path = run_dir / "voicemail" / box / f"{message_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(audio)
    engine = bizdata.open_engine(stack.store_url)
    try:
        bizdata.add_voicemail(
            engine,
            message_id=message_id,
            box=box,
            caller=caller,
            call_id=f"vm-{message_id[:8]}",
            recording_ref=uuid.uuid4().hex,
            received_at=datetime.now(UTC),
            duration_ms=300,
            file=f"{box}/{message_id}.wav",
        )
    finally:
        engine.dispose()
    return message_id, audio


def test_voicemail_tab_lists_plays_marks_heard_and_deletes(desktop_server: DeskStack) -> None:
    stack = desktop_server
    own, own_audio = seed_voicemail(stack, "agent.a1003", "13900139000")
    queue_box, _ = seed_voicemail(stack, "billing", "13700137000")
    others, _ = seed_voicemail(stack, "agent.a1004", "13600136000")
    page = stack.logged_in("a1003", 1003, 3, skills={"billing": 2})
    listed = page.get("/api/voicemail")
    assert listed.status == 200, listed.body
    ids = {m["message_id"] for m in listed.body["messages"]}
    assert {own, queue_box} <= ids and others not in ids
    mine = next(m for m in listed.body["messages"] if m["message_id"] == own)
    assert mine["box"] == "agent.a1003" and mine["caller"] == "13900139000"
    assert mine["heard"] is False and mine["duration_ms"] == 300
    audio = page.get(f"/api/voicemail/{own}/audio")
    assert audio.status == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.body == own_audio
    assert page.post(f"/api/voicemail/{own}/heard").body == {}
    unheard = {m["message_id"] for m in page.get("/api/voicemail").body["messages"]}
    assert own not in unheard and queue_box in unheard
    heard_too = page.get("/api/voicemail?include_heard=1").body["messages"]
    assert next(m for m in heard_too if m["message_id"] == own)["heard"] is True
    # Another agent's box and message: refused; unknown ones: not found.
    assert page.get("/api/voicemail?box=agent.a1004").code == "forbidden"
    assert page.get(f"/api/voicemail/{others}/audio").code == "forbidden"
    assert page.get("/api/voicemail?box=nobody").code == "unknown_mailbox"
    assert page.get("/api/voicemail/not-an-id/audio").code == "unknown_message"
    assert page.request("DELETE", f"/api/voicemail/{own}", csrf=False).code == "csrf"
    assert page.request("DELETE", f"/api/voicemail/{own}").status == 204
    gone = page.get(f"/api/voicemail/{own}/audio")
    assert (gone.status, gone.code) == (404, "unknown_message")
    page.post("/api/logout")
