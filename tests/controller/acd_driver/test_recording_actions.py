"""The ACD's RecordingCommand and PlayMessageCall, carried out by the driver (fakes):
the recorder over a fake rtpengine, the message player with a fake renderer."""

from __future__ import annotations

import wave
from pathlib import Path

import yaml

from acd_api.v1 import acd_pb2 as pb
from callcenter._stack import controller_argv
from configuration import load_config
from controller._app import parse_args
from controller._play_message import MessagePlayer, repeated_message
from controller._recording import CallRecorder
from eventlog import CALL_ANSWERED, CALL_ENDED
from tests.controller.acd_driver.test_driver_logic import CID, World, action, enqueued_with, offer
from tests.controller.test_recording_unit import CALLER_SDP, FakeMedia


def bridged() -> tuple[World, CallRecorder, FakeMedia]:
    w = World()
    media = FakeMedia()
    recorder = CallRecorder(
        media,
        w.tap,
        media_node="127.0.0.1:2223",
        caller_sdp=lambda cid: CALLER_SDP,
        queue_of=w.driver.queue_of,
        report=w.driver.report_recording,
    )
    w.driver.recorder = recorder
    w.replies["Enqueue"] = enqueued_with(offer("5-0", 1001))
    w.arrive()
    w.emit(CALL_ANSWERED, agent="1001", seat="1", leg_id="L2")
    w.run()
    return w, recorder, media


def command(commit: str, op: pb.RecordingOp, ref: str = "", name: str = "") -> pb.Action:
    return action(
        commit,
        recording_command=pb.RecordingCommand(
            call_id=CID,
            op=op,
            ref=ref,
            name=name,
            requested_by="1001",
        ),
    )


def test_recording_commands_start_pause_resume_stop_with_the_acds_ref() -> None:
    w, recorder, media = bridged()
    ref = "f" * 32
    w.feed(command("6-0", pb.RECORDING_OP_START, ref, "1001"))
    assert recorder.state(CID) == "on" and recorder.ref(CID) == ref
    started = next(e for e in w.published if e.kind == "recording.started")
    assert (started["reason"], started["name"], started["queue"]) == (
        "on_demand",
        "1001",
        "billing",
    )
    w.feed(command("7-0", pb.RECORDING_OP_PAUSE))
    assert recorder.state(CID) == "paused"
    w.feed(command("8-0", pb.RECORDING_OP_RESUME))
    w.feed(command("9-0", pb.RECORDING_OP_STOP))
    assert recorder.state(CID) == "off"
    assert [r[0] for r in media.requests] == ["start", "stop", "start", "stop"]
    # The ACD asked for each: nothing reported back.
    assert w.rpcs("ReportRecording") == []


def test_a_command_that_cannot_be_done_reports_the_true_state() -> None:
    w, _recorder, media = bridged()
    media.fail_start = True
    w.feed(command("6-0", pb.RECORDING_OP_START, "f" * 32, "1001"))
    (report,) = w.rpcs("ReportRecording")
    assert (report.call_id, report.state, report.ref) == (CID, pb.RECORDING_STATE_OFF, "f" * 32)
    assert [e["reason"] for e in w.published if e.kind == "recording.failed"] == ["rtpengine"]


def test_a_recording_the_controller_starts_itself_is_reported() -> None:
    w, recorder, _ = bridged()
    ref = recorder.start(CID, reason="always", name="")
    w.run()
    (report,) = w.rpcs("ReportRecording")
    assert (report.state, report.ref) == (pb.RECORDING_STATE_ON, ref)


def test_play_message_releases_the_agent_plays_then_hangs_up(tmp_path: Path) -> None:
    w, recorder, _ = bridged()
    recorder.start(CID, reason="always", name="")
    rendered: list[tuple[str, str, int]] = []
    wav = tmp_path / "m.wav"
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(b"\0\0" * 8000)

    def render(text: str, language: str, repeats: int, cache: Path) -> Path:
        rendered.append((text, language, repeats))
        return wav

    w.driver.messages = MessagePlayer(
        run=w.driver._run,
        post=w.loop.append,
        later=w.later,
        hangup=w.driver._hangup,
        events=w.tap,
        cache_dir=tmp_path,
        node="ctl",
        render=render,
        run_job=w.jobs.append,
    )
    w.feed(
        action(
            "6-0",
            play_message=pb.PlayMessageCall(
                call_id=CID, text="Your bill is paid.", language="en", repeats=2, username="1001"
            ),
        )
    )
    assert [c["cmd"] for c in w.commands][-2:] == ["release", "play"]
    assert rendered == [("Your bill is paid.", "en", 2)]
    ((delay, played),) = w.timers
    assert 1.0 < delay < 1.5  # the WAV's second and a little
    w.timers.clear()
    played()
    w.run()
    kinds = [e.kind for e in w.published]
    assert kinds[-2:] == ["call.message_played", CALL_ENDED]
    ended = w.published[-1]
    assert (ended["cause"], ended["side"]) == ("message_played", "system")
    played_event = w.published[-2]
    assert (played_event["agent"], played_event["repeats"]) == ("1001", "2")
    # The ACD forgot the call with PlayMessage: no Hangup goes back.
    assert w.rpcs("Hangup") == [] and w.rpcs("Abandon") == []


def test_the_repeated_message_has_the_gap(tmp_path: Path) -> None:
    one = tmp_path / "one.wav"
    with wave.open(str(one), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(b"\1\0" * 4000)
    path = repeated_message("x", "en", 2, tmp_path, render=lambda t, l, c: one)  # noqa: E741
    with wave.open(str(path), "rb") as f:
        assert f.getnframes() == 4000 + 4000 + 4000


def test_record_flags_reach_the_replicas_and_parse(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
                "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
                "queues": [{"name": "billing", "record": True}, {"name": "sales"}],
                "numbers": [
                    {
                        "number": "95598",
                        "category": "billing",
                        "target": "controller",
                        "queue": "billing",
                        "record": True,
                    },
                    {
                        "number": "95597",
                        "category": "sales",
                        "target": "controller",
                        "queue": "sales",
                    },
                ],
                "acd": {"listen": "127.0.0.1:50051"},
            }
        )
    )
    argv = controller_argv(load_config(path), 0)
    assert argv[argv.index("--record-number") + 1] == "95598"
    assert argv[argv.index("--record-queue") + 1] == "billing"
    config = parse_args(
        [
            "--sip",
            "127.0.0.1:5070",
            "--rtpengine",
            "127.0.0.1:2223",
            "--record-number",
            "95598,95599",
            "--record-queue",
            "billing",
            "--record-queue",
            "vip",
        ]
    )
    assert config.recording.numbers == {"95598", "95599"}
    assert config.recording.queues == {"billing", "vip"}
