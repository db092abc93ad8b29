"""R-AG-8/9 in the core: play a message to the caller (the agent is off the call at
once) and the call's recording state (agent's commands, controller's reports)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from acd import (
    Acd,
    AgentState,
    ErrorCode,
    ManualClock,
    PlayMessageCall,
    QueueConfig,
    RecordingCommand,
)
from tests.acd.acd_testkit import login, sound

BILLING_EN = QueueConfig("billing", skills={"billing": 1}, wrap_up=30.0, language="en")
REF = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def rec(make_acd: Callable[..., Acd]) -> Acd:
    """Recording on; 1001 talking on c1 (queue billing, wrap-up 30 s, language en)."""
    acd = make_acd(BILLING_EN, recording=True)
    talk(acd)
    return acd


def talk(acd: Acd, call_id: str = "c1", agent: int = 1001) -> str:
    """Log `agent` in, ring it `call_id` and answer; returns its session."""
    session = login(acd, agent).session_id
    assert session is not None
    assert acd.enqueue(call_id, "billing", caller="13700001111").ok
    assert acd.answered(call_id, agent).ok
    return session


def session_of(acd: Acd, agent: int = 1001) -> str:
    record = acd.agent(agent)
    assert record is not None
    return str(record["session"])


def recording_of(acd: Acd, call_id: str = "c1") -> tuple[str, str]:
    record = acd.call(call_id)
    assert record is not None
    return record.get("recording", "off"), record.get("recording_ref", "")


def view(acd: Acd, agent: int = 1001) -> str:
    (found,) = [a for a in acd.snapshot()["agents"] if a["employee_id"] == agent]
    return str(found["recording"])


# ---------------------------------------------------------------- play a message


def test_play_message_releases_the_agent_at_once_and_tells_the_controller(
    rec: Acd, clock: ManualClock
) -> None:
    result = rec.play_message(1001, session_of(rec), "您的电费已缴清", "")
    assert result.ok, result.error
    assert result.actions == [
        PlayMessageCall(
            call_id="c1",
            text="您的电费已缴清",
            language="en",  # the queue's
            repeats=2,
            username="user1001",
            employee_id=1001,
        )
    ]
    # As after a hang-up: wrap-up (the queue's 30 s), and the call has left the ACD.
    assert rec.agent_state(1001) is AgentState.WRAP_UP
    assert rec.call("c1") is None
    assert rec.ended_at("c1") is not None
    states = [e for e in result.events if e["kind"] == "agent.state"]
    assert [(e["to"], e["reason"], e["call"]) for e in states] == [
        ("wrap_up", "PLAY_MESSAGE", "c1")
    ]
    assert view(rec) == "off"
    # The controller's Hangup at the end of the message is harmless: refused, no change.
    before = rec.to_dict()
    late = rec.hangup("c1")
    assert late.error is not None and late.error.code is ErrorCode.UNKNOWN_CALL
    assert "already ended" in late.error.message
    assert rec.to_dict() == before
    clock.advance(30.0)
    assert rec.tick().ok
    assert rec.agent_state(1001) is AgentState.IDLE
    sound(rec)


def test_play_message_language_given_or_zh_without_a_queue(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd()  # billing, language zh by default
    talk(acd)
    result = acd.play_message(1001, session_of(acd), "hello", "en")
    assert result.ok, result.error
    (action,) = result.actions
    assert isinstance(action, PlayMessageCall) and action.language == "en"
    # An internal call (no queue): zh; no wrap-up, straight back to idle.
    login(acd, 1002)
    assert acd.reserve_for_internal_call(1002, "i1", caller="user1001").ok
    assert acd.answered("i1", 1002).ok
    result = acd.play_message(1002, session_of(acd, 1002), "你好")
    assert result.ok, result.error
    (action,) = result.actions
    assert isinstance(action, PlayMessageCall) and action.language == "zh"
    assert acd.agent_state(1002) is AgentState.IDLE
    sound(acd)


def test_play_message_next_call_is_offered_to_the_freed_agent(
    make_acd: Callable[..., Acd],
) -> None:
    acd = make_acd()  # no wrap-up: the agent is idle at once and takes the next call
    talk(acd)
    assert acd.enqueue("c2", "billing").ok
    result = acd.play_message(1001, session_of(acd), "再见")
    assert result.ok, result.error
    assert [type(a).__name__ for a in result.actions] == ["PlayMessageCall", "Offer"]
    assert acd.agent_state(1001) is AgentState.RESERVED
    sound(acd)


def test_play_message_after_a_pending_logout_logs_the_agent_out(rec: Acd) -> None:
    assert rec.logout(1001, session_of(rec)).deferred
    assert rec.play_message(1001, session_of(rec), "再见").ok
    assert rec.agent_state(1001) is AgentState.LOGGED_OUT
    sound(rec)


@pytest.mark.parametrize(
    ("text", "language"),
    [("", ""), ("   ", "zh"), ("x" * 501, ""), ("hi", "fr"), ("hi", "ZH")],
)
def test_play_message_bad_text_or_language(rec: Acd, text: str, language: str) -> None:
    before = rec.to_dict()
    result = rec.play_message(1001, session_of(rec), text, language)
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT
    assert rec.to_dict() == before


def test_play_message_refusals(rec: Acd) -> None:
    def code(result: object) -> ErrorCode | None:
        error = getattr(result, "error", None)
        return None if error is None else error.code

    assert code(rec.play_message(1001, "stale", "hi")) is ErrorCode.STALE_SESSION
    assert code(rec.play_message(4242, None, "hi")) is ErrorCode.NOT_LOGGED_IN
    login(rec, 1002)
    assert code(rec.play_message(1002, session_of(rec, 1002), "hi")) is ErrorCode.CALL_NOT_TALKING
    assert rec.enqueue("c2", "billing").ok  # rings 1002
    assert rec.agent_state(1002) is AgentState.RESERVED
    assert code(rec.play_message(1002, session_of(rec, 1002), "hi")) is ErrorCode.CALL_NOT_TALKING
    assert rec.go_busy(1002, "BREAK").error is not None  # ringing: not on hook
    assert rec.hangup("c1").ok  # 1001 in wrap-up
    assert code(rec.play_message(1001, session_of(rec), "hi")) is ErrorCode.CALL_NOT_TALKING
    assert rec.agent_state(1002) is AgentState.RESERVED
    sound(rec)


# ---------------------------------------------------------------- recording


def test_start_pause_resume_stop(rec: Acd) -> None:
    session = session_of(rec)
    assert view(rec) == "off"
    started = rec.control_recording(1001, session, "start", "投诉 2026-12")
    assert started.ok, started.error
    (action,) = started.actions
    assert isinstance(action, RecordingCommand)
    ref = action.ref
    assert len(ref) == 32 and all(ch in "0123456789abcdef" for ch in ref)
    assert action == RecordingCommand("c1", "start", ref, "投诉 2026-12", "user1001")
    assert recording_of(rec) == ("on", ref) and view(rec) == "on"

    paused = rec.control_recording(1001, session, "pause")
    assert paused.actions == [RecordingCommand("c1", "pause", ref, "", "user1001")]
    assert recording_of(rec) == ("paused", ref) and view(rec) == "paused"
    resumed = rec.control_recording(1001, session, "resume", "ignored")
    assert resumed.actions == [RecordingCommand("c1", "resume", ref, "", "user1001")]
    assert recording_of(rec) == ("on", ref)
    assert rec.control_recording(1001, session, "pause").ok
    stopped = rec.control_recording(1001, session, "stop")  # from paused
    assert stopped.actions == [RecordingCommand("c1", "stop", ref, "", "user1001")]
    assert recording_of(rec) == ("off", "") and view(rec) == "off"
    # A second recording of the same call gets a new ref.
    again = rec.control_recording(1001, session, "start", "second")
    (action,) = again.actions
    assert isinstance(action, RecordingCommand) and action.ref != ref
    sound(rec)


@pytest.mark.parametrize(
    ("state", "op"),
    [
        ("on", "start"),
        ("paused", "start"),
        ("off", "pause"),
        ("paused", "pause"),
        ("off", "resume"),
        ("on", "resume"),
        ("off", "stop"),
    ],
)
def test_an_op_that_does_not_apply_is_an_invalid_transition(rec: Acd, state: str, op: str) -> None:
    if state != "off":
        assert rec.report_recording("c1", state, REF).ok
    before = rec.to_dict()
    result = rec.control_recording(1001, session_of(rec), op, "name")
    assert result.error is not None and result.error.code is ErrorCode.INVALID_TRANSITION
    assert result.actions == []
    assert rec.to_dict() == before


@pytest.mark.parametrize("name", ["", "x" * 65, "a\nb", "tab\there", "del\x7f"])
def test_start_with_a_bad_name(rec: Acd, name: str) -> None:
    result = rec.control_recording(1001, session_of(rec), "start", name)
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT
    assert recording_of(rec) == ("off", "")


def test_recording_refusals(rec: Acd, make_acd: Callable[..., Acd]) -> None:
    def code(result: object) -> ErrorCode | None:
        error = getattr(result, "error", None)
        return None if error is None else error.code

    session = session_of(rec)
    assert code(rec.control_recording(1001, session, "record")) is ErrorCode.INVALID_ARGUMENT
    assert code(rec.control_recording(1001, "stale", "stop")) is ErrorCode.STALE_SESSION
    assert code(rec.control_recording(4242, None, "stop")) is ErrorCode.NOT_LOGGED_IN
    login(rec, 1002)
    idle = session_of(rec, 1002)
    assert code(rec.control_recording(1002, idle, "start", "x")) is ErrorCode.CALL_NOT_TALKING
    assert rec.hangup("c1").ok
    assert code(rec.control_recording(1001, session, "start", "x")) is ErrorCode.CALL_NOT_TALKING

    off = make_acd(BILLING_EN)  # no `recording:` section
    talk(off)
    result = off.control_recording(1001, session_of(off), "start", "x")
    assert code(result) is ErrorCode.RECORDING_DISABLED
    # Playing a message needs no recording.
    assert off.play_message(1001, session_of(off), "hi").ok


def test_controller_reports_set_the_state(rec: Acd) -> None:
    assert rec.report_recording("c1", "on", REF).ok  # always-on recording at answer
    assert recording_of(rec) == ("on", REF) and view(rec) == "on"
    again = rec.report_recording("c1", "on", REF)  # idempotent: no event, no write
    assert again.ok and again.events == []
    assert rec.report_recording("c1", "paused", REF).ok  # a sensitive IVR node
    # The agent's command is checked against what the controller reported.
    resumed = rec.control_recording(1001, session_of(rec), "resume")
    assert resumed.ok and resumed.actions == [RecordingCommand("c1", "resume", REF, "", "user1001")]
    assert rec.report_recording("c1", "off", "ignored").ok
    assert recording_of(rec) == ("off", "")

    def code(result: object) -> ErrorCode | None:
        error = getattr(result, "error", None)
        return None if error is None else error.code

    assert code(rec.report_recording("c1", "recording", REF)) is ErrorCode.INVALID_ARGUMENT
    assert code(rec.report_recording("c1", "on", "")) is ErrorCode.INVALID_ARGUMENT
    assert code(rec.report_recording("nope", "on", REF)) is ErrorCode.UNKNOWN_CALL
    assert rec.hangup("c1").ok
    gone = rec.report_recording("c1", "off")  # the stop at hang-up comes after the end
    assert code(gone) is ErrorCode.UNKNOWN_CALL and gone.error is not None
    assert "already ended" in gone.error.message
    sound(rec)


def test_recording_follows_the_call_through_a_transfer_and_persists(
    rec: Acd, clock: ManualClock
) -> None:
    assert rec.control_recording(1001, session_of(rec), "start", "kept").ok
    ref = recording_of(rec)[1]
    login(rec, 1002)
    assert rec.transfer("c1", to_agent=1002).ok
    assert recording_of(rec) == ("on", ref)
    assert view(rec, 1002) == "on"  # ringing it
    assert view(rec, 1001) == "off"  # in wrap-up, off the call
    assert rec.answered("c1", 1002).ok
    # Round trip through the stored form (a new leader sees the same state).
    data = rec.to_dict()
    (stored,) = data["calls"]
    assert (stored["recording"], stored["recording_ref"]) == ("on", ref)
    again = Acd.from_dict(data, rec.config, clock)
    assert recording_of(again) == ("on", ref)
    paused = again.control_recording(1002, session_of(again, 1002), "pause")
    assert paused.ok, paused.error
    sound(again)


def test_a_call_never_recorded_is_stored_as_before() -> None:
    """No recording keys in the record of a call that was never recorded, so a replica
    of the previous release (a rolling upgrade) still loads it."""
    from acd import CallRecord, CallState

    record = CallRecord("c9", "billing", "", "", 0, 1, CallState.QUEUED, 0.0, 0.0)
    assert "recording" not in record.to_dict()
    assert CallRecord.from_dict(record.to_dict()) == record
