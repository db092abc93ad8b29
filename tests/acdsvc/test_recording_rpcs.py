"""R-AG-8/9 and R-VM-1 over real gRPC: PlayMessage, ControlRecording, ReportRecording
(the service token) and the voicemail RPCs with their role rules, on a real Redis and a
SQLite business store seeded through bizdata."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
import yaml

import acdsvc
import bizdata
import eventlog
from acd import PlayMessageCall, RecordingCommand
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, ensure_token_file, read_token
from acdsvc._convert import action_from_dict, action_to_proto
from testbed import wait_until
from tests.acdsvc.conftest import ADMIN, SUPERVISOR, RedisServer, password_of, write_config

OK = pb.ERROR_CODE_UNSPECIFIED
REF = "0123456789abcdef0123456789abcdef"


def with_sections(path: Path, **sections: Any) -> Path:
    """The test config with more top-level sections (recording:, bizdata:, voicemail:)."""
    config = yaml.safe_load(path.read_text())
    for name, value in sections.items():
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def login(client: AcdClient, username: str, eid: int, *, role: pb.Role = pb.ROLE_AGENT) -> str:
    reply = client.login(
        pb.LoginRequest(
            username=username,
            password=password_of(username),
            seat=eid % 1000 + 1,
            employee_id=eid,
            role=role,
        )
    )
    assert reply.error.code == OK, reply.error.message
    return str(reply.session_id)


def desk(eid: int, session: str) -> pb.Actor:
    return pb.Actor(desk=pb.DeskSession(employee_id=eid, session_id=session))


def admin(password: str | None = None, username: str = ADMIN) -> pb.Actor:
    return pb.Actor(
        admin=pb.AdminCredentials(username=username, password=password or password_of(username))
    )


def talking(client: AcdClient, call_id: str, eid: int) -> None:
    assert client.enqueue(pb.EnqueueRequest(call_id=call_id, queue="billing")).error.code == OK
    assert client.answered(pb.AnsweredRequest(call_id=call_id, employee_id=eid)).error.code == OK


def agent_view(client: AcdClient, eid: int) -> pb.AgentView:
    (found,) = [a for a in client.get_snapshot().agents if a.employee_id == eid]
    return found


# ---------------------------------------------------------------- recording, message


def test_new_actions_survive_the_commit_stream() -> None:
    """Stored as JSON in the commit stream, replayed to a resuming watcher."""
    play = PlayMessageCall("c1", "您好", "zh", 2, "a1001", 1001)
    command = RecordingCommand("c1", "pause", REF, "", "a1001")
    for action in (play, command):
        assert action_from_dict(json.loads(json.dumps(action.to_dict()))) == action
    assert action_to_proto(play, "1-0").play_message == pb.PlayMessageCall(
        call_id="c1", text="您好", language="zh", repeats=2, username="a1001", employee_id=1001
    )
    assert action_to_proto(command, "1-0").recording_command == pb.RecordingCommand(
        call_id="c1", op=pb.RECORDING_OP_PAUSE, ref=REF, requested_by="a1001"
    )


@pytest.fixture
def recording_config(tmp_path: Path, redis_server: RedisServer, r: redis.Redis) -> Path:
    path = write_config(
        tmp_path / "callcenter.yaml",
        redis_server.address,
        agents=3,
        queues=[{"name": "billing", "skills": {"billing": 1}, "language": "en"}],
    )
    return with_sections(path, recording={"managed": False})


def test_control_recording_and_play_message(
    make_replica: Callable[..., acdsvc.Replica], recording_config: Path
) -> None:
    replica = make_replica(recording_config)
    client = AcdClient(replica.address)
    seen: list[pb.Action] = []
    got = threading.Condition()

    def on_action(action: pb.Action) -> None:
        with got:
            seen.append(action)
            got.notify_all()

    feed = client.actions(on_action)  # every action, as a controller watches them
    desk_feed: list[pb.Action] = []
    agent_feed = client.actions(desk_feed.append, employee_id=1001)
    try:
        session = login(client, "a1001", 1001)
        talking(client, "c1", 1001)

        def control(op: pb.RecordingOp, name: str = "") -> pb.ControlRecordingResponse:
            return client.control_recording(
                pb.ControlRecordingRequest(employee_id=1001, session_id=session, op=op, name=name)
            )

        started = control(pb.RECORDING_OP_START, "complaint")
        assert started.error.code == OK, started.error.message
        assert started.state == pb.RECORDING_STATE_ON and len(started.ref) == 32
        (sent,) = [a.recording_command for a in started.actions]
        assert (sent.call_id, sent.op, sent.ref, sent.name, sent.requested_by) == (
            "c1",
            pb.RECORDING_OP_START,
            started.ref,
            "complaint",
            "a1001",
        )
        assert agent_view(client, 1001).recording == pb.RECORDING_STATE_ON

        # The controller paused it itself (a sensitive IVR node): the agent's pause is
        # refused against that, and the reply tells the desktop the state.
        reported = client.report_recording("c1", pb.RECORDING_STATE_PAUSED, started.ref)
        assert reported.error.code == OK, reported.error.message
        again = control(pb.RECORDING_OP_PAUSE)
        assert again.error.code == pb.ERROR_CODE_INVALID_TRANSITION
        assert (again.state, again.ref) == (pb.RECORDING_STATE_PAUSED, started.ref)
        assert control(pb.RECORDING_OP_RESUME).state == pb.RECORDING_STATE_ON
        stopped = control(pb.RECORDING_OP_STOP)
        assert (stopped.error.code, stopped.state, stopped.ref) == (
            OK,
            pb.RECORDING_STATE_OFF,
            started.ref,
        )
        assert control(pb.RECORDING_OP_UNSPECIFIED).error.code == pb.ERROR_CODE_INVALID_ARGUMENT
        assert control(pb.RECORDING_OP_START, "").error.code == pb.ERROR_CODE_INVALID_ARGUMENT
        gone = client.report_recording("nope", pb.RECORDING_STATE_ON, REF)
        assert gone.error.code == pb.ERROR_CODE_UNKNOWN_CALL

        played = client.play_message(
            pb.PlayMessageRequest(employee_id=1001, session_id=session, text="您好，再见")
        )
        assert played.error.code == OK, played.error.message
        assert played.call_id == "c1"
        (message,) = [a.play_message for a in played.actions]
        assert (message.text, message.language, message.repeats, message.username) == (
            "您好，再见",
            "en",  # the queue's
            2,
            "a1001",
        )
        view = agent_view(client, 1001)
        assert (view.state, view.call_id) == (pb.AGENT_STATE_IDLE, "")  # no wrap-up here
        late = client.hangup(pb.HangupRequest(call_id="c1"))  # the controller's, at the end
        assert late.error.code == pb.ERROR_CODE_UNKNOWN_CALL
        assert agent_view(client, 1001).state == pb.AGENT_STATE_IDLE
        not_talking = client.play_message(
            pb.PlayMessageRequest(employee_id=1001, session_id=session, text="x")
        )
        assert not_talking.error.code == pb.ERROR_CODE_CALL_NOT_TALKING

        # The controllers' stream has both kinds, in commit order; the agent's own doesn't.
        with got:
            assert got.wait_for(lambda: any(a.HasField("play_message") for a in seen), timeout=5), (
                seen
            )
        kinds = [a.WhichOneof("kind") for a in seen]
        assert kinds.count("recording_command") == 3  # start, resume, stop
        assert kinds[-1] == "play_message"
        assert not any(
            a.WhichOneof("kind") in ("play_message", "recording_command") for a in desk_feed
        )
    finally:
        feed.close()
        agent_feed.close()
        client.close()


def test_without_a_recording_section_or_a_store(
    make_replica: Callable[..., acdsvc.Replica], config_path: Path
) -> None:
    client = AcdClient(make_replica(config_path).address)
    session = login(client, "a1001", 1001)
    talking(client, "c1", 1001)
    refused = client.control_recording(
        pb.ControlRecordingRequest(
            employee_id=1001, session_id=session, op=pb.RECORDING_OP_START, name="x"
        )
    )
    assert refused.error.code == pb.ERROR_CODE_RECORDING_DISABLED
    listed = client.list_voicemail(pb.ListVoicemailRequest(actor=admin()))
    assert listed.error.code == pb.ERROR_CODE_RECORDING_DISABLED
    # A message needs no recording.
    played = client.play_message(
        pb.PlayMessageRequest(employee_id=1001, session_id=session, text="hi", language="zh")
    )
    assert played.error.code == OK, played.error.message
    client.close()


def test_report_recording_needs_the_service_token(
    make_replica: Callable[..., acdsvc.Replica], tmp_path: Path, recording_config: Path
) -> None:
    token_file = ensure_token_file(tmp_path / "secrets" / "acd.token")
    config = yaml.safe_load(recording_config.read_text())
    config["acd"]["token_file"] = str(token_file)
    recording_config.write_text(yaml.safe_dump(config))
    replica = make_replica(recording_config)
    service = AcdClient(replica.address, token=read_token(token_file))
    desk_client = AcdClient(replica.address, retry_for=0)
    session = login(desk_client, "a1001", 1001)
    talking(service, "c1", 1001)
    with pytest.raises(grpc.RpcError) as refused:
        desk_client.report_recording("c1", pb.RECORDING_STATE_ON, REF)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert service.report_recording("c1", pb.RECORDING_STATE_ON, REF).error.code == OK
    # The desk's own commands need no token: its session is its proof.
    stop = desk_client.control_recording(
        pb.ControlRecordingRequest(employee_id=1001, session_id=session, op=pb.RECORDING_OP_STOP)
    )
    assert (stop.error.code, stop.ref) == (OK, REF)
    listed = desk_client.list_voicemail(pb.ListVoicemailRequest(actor=admin()))
    assert listed.error.code == pb.ERROR_CODE_RECORDING_DISABLED  # the ACD's, not the token's
    played = desk_client.play_message(
        pb.PlayMessageRequest(employee_id=1001, session_id=session, text="hi")
    )
    assert played.error.code == OK, played.error.message
    service.close()
    desk_client.close()


# ---------------------------------------------------------------- voicemail


MESSAGES = {  # message ID -> box
    "a" * 32: "billing-box",
    "b" * 32: "vip-box",
    "c" * 32: "agent.a1001",
    "d" * 32: "agent.a1002",
}


@pytest.fixture
def voicemail_config(tmp_path: Path, redis_server: RedisServer, r: redis.Redis) -> Path:
    run = tmp_path / "run"
    path = write_config(
        tmp_path / "callcenter.yaml",
        redis_server.address,
        agents=3,
        queues=[
            {"name": "billing", "skills": {"billing": 1}},
            {"name": "vip", "skills": {"vip": 1}},
        ],
    )
    config = yaml.safe_load(path.read_text())
    config["node"]["run_dir"] = str(run)
    config["bizdata"] = {"url": "sqlite:///data/store.sqlite"}  # relative to the run dir
    config["voicemail"] = {
        "boxes": {
            "billing-box": {"queue": "billing"},
            "vip-box": {"queue": "vip", "notify": ["a1002"]},
        }
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"sqlite:///{run / 'data' / 'store.sqlite'}"
    bizdata.migrate(url)
    store = bizdata.open_engine(url)
    for n, (message_id, box) in enumerate(MESSAGES.items()):
        file = f"{box}/{message_id}.wav"
        (run / "voicemail" / box).mkdir(parents=True, exist_ok=True)
        (run / "voicemail" / file).write_bytes(b"RIFF" + message_id.encode())
        bizdata.add_voicemail(
            store,
            message_id=message_id,
            box=box,
            caller="1380000000" + str(n),
            call_id=f"call-{n}",
            recording_ref=f"{n}" * 32,
            received_at=datetime(2026, 12, 7, 9, n, tzinfo=UTC),
            duration_ms=1000 + n,
            file=file,
        )
    store.dispose()
    return path


def listed(client: AcdClient, actor: pb.Actor, **kwargs: Any) -> set[str]:
    reply = client.list_voicemail(pb.ListVoicemailRequest(actor=actor, **kwargs))
    assert reply.error.code == OK, reply.error.message
    return {m.message_id for m in reply.messages}


def ids(*boxes: str) -> set[str]:
    return {mid for mid, box in MESSAGES.items() if box in boxes}


def voicemail_events(r: redis.Redis) -> list[eventlog.Event]:
    entries: list[tuple[bytes, dict[bytes, bytes]]] = r.xrange("cc:events")  # type: ignore[assignment]
    return [
        e
        for e in (eventlog.decode(fields) for _id, fields in entries)
        if e.kind.startswith("voicemail.")
    ]


def test_who_sees_which_mailbox(
    make_replica: Callable[..., acdsvc.Replica], voicemail_config: Path
) -> None:
    client = AcdClient(make_replica(voicemail_config).address)
    a1001 = desk(1001, login(client, "a1001", 1001))  # billing skills: the billing queue
    a1002 = desk(1002, login(client, "a1002", 1002))  # also notified for vip-box
    sup = desk(SUPERVISOR, login(client, "sup", SUPERVISOR, role=pb.ROLE_SUPERVISOR))
    assert listed(client, a1001) == ids("billing-box", "agent.a1001")
    assert listed(client, a1002) == ids("billing-box", "vip-box", "agent.a1002")
    assert listed(client, sup) == set(MESSAGES)
    assert listed(client, admin()) == set(MESSAGES)
    assert listed(client, a1001, box="agent.a1001") == ids("agent.a1001")

    reply = client.list_voicemail(pb.ListVoicemailRequest(actor=admin(), box="billing-box"))
    (message,) = reply.messages
    assert (message.box, message.caller, message.call_id, message.duration_ms) == (
        "billing-box",
        "13800000000",
        "call-0",
        1000,
    )
    assert message.received_at == datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
    assert not message.heard

    def code(actor: pb.Actor, box: str = "") -> int:
        return client.list_voicemail(pb.ListVoicemailRequest(actor=actor, box=box)).error.code

    assert code(a1001, "vip-box") == pb.ERROR_CODE_PERMISSION_DENIED
    assert code(a1001, "agent.a1002") == pb.ERROR_CODE_PERMISSION_DENIED
    assert code(a1001, "nobody") == pb.ERROR_CODE_UNKNOWN_MAILBOX
    assert code(desk(1001, "stale")) == pb.ERROR_CODE_PERMISSION_DENIED
    assert code(desk(1003, "never")) == pb.ERROR_CODE_PERMISSION_DENIED
    assert code(admin(password="wrong")) == pb.ERROR_CODE_PERMISSION_DENIED
    assert code(admin(username="a1001")) == pb.ERROR_CODE_PERMISSION_DENIED  # not an admin
    assert code(pb.Actor()) == pb.ERROR_CODE_PERMISSION_DENIED
    # A supervisor logged in as an agent sees what an agent sees.
    assert (
        client.logout(
            pb.LogoutRequest(employee_id=SUPERVISOR, session_id=sup.desk.session_id)
        ).error.code
        == OK
    )
    as_agent = desk(SUPERVISOR, login(client, "sup", SUPERVISOR))
    assert listed(client, as_agent) == ids("billing-box")
    client.close()


def test_play_mark_heard_and_delete(
    make_replica: Callable[..., acdsvc.Replica], voicemail_config: Path, r: redis.Redis
) -> None:
    client = AcdClient(make_replica(voicemail_config).address)
    a1001 = desk(1001, login(client, "a1001", 1001))
    billing, own, vip = "a" * 32, "c" * 32, "b" * 32
    run = voicemail_config.parent / "run"

    audio = client.get_voicemail_audio(pb.GetVoicemailAudioRequest(actor=a1001, message_id=billing))
    assert audio.error.code == OK, audio.error.message
    assert audio.wav == b"RIFF" + billing.encode()
    assert (audio.message.message_id, audio.message.box) == (billing, "billing-box")

    def refused(method: Callable[[Any], Any], request_type: Any, actor: pb.Actor, mid: str) -> int:
        return int(method(request_type(actor=actor, message_id=mid)).error.code)

    for method, request_type in (
        (client.get_voicemail_audio, pb.GetVoicemailAudioRequest),
        (client.mark_voicemail_heard, pb.MarkVoicemailHeardRequest),
        (client.delete_voicemail, pb.DeleteVoicemailRequest),
    ):
        assert refused(method, request_type, a1001, vip) == pb.ERROR_CODE_PERMISSION_DENIED
        assert refused(method, request_type, a1001, "e" * 32) == pb.ERROR_CODE_UNKNOWN_MESSAGE
        assert refused(method, request_type, a1001, "not-an-id") == pb.ERROR_CODE_UNKNOWN_MESSAGE
    assert voicemail_events(r) == []  # refusals write nothing

    heard = client.mark_voicemail_heard(
        pb.MarkVoicemailHeardRequest(actor=a1001, message_id=billing)
    )
    assert heard.error.code == OK, heard.error.message
    assert billing not in listed(client, a1001)
    assert billing in listed(client, a1001, include_heard=True)
    again = client.mark_voicemail_heard(
        pb.MarkVoicemailHeardRequest(actor=admin(), message_id=billing)
    )
    assert again.error.code == OK
    (event,) = voicemail_events(r)  # heard once: no second event
    assert (event.kind, event.correlation_id, dict(event.data)) == (
        eventlog.VOICEMAIL_HEARD,
        "call-0",
        {"box": "billing-box", "message_id": billing, "by": "a1001"},
    )

    wav = run / "voicemail" / "agent.a1001" / f"{own}.wav"
    assert wav.exists()
    deleted = client.delete_voicemail(pb.DeleteVoicemailRequest(actor=a1001, message_id=own))
    assert deleted.error.code == OK, deleted.error.message
    assert not wav.exists()
    assert (
        refused(client.get_voicemail_audio, pb.GetVoicemailAudioRequest, admin(), own)
        == pb.ERROR_CODE_UNKNOWN_MESSAGE
    )
    wait_until(lambda: len(voicemail_events(r)) == 2, timeout=5, what="voicemail.deleted")
    event = voicemail_events(r)[1]
    assert (event.kind, event.correlation_id, event.data["by"], event.data["box"]) == (
        eventlog.VOICEMAIL_DELETED,
        "call-2",
        "a1001",
        "agent.a1001",
    )
    # An admin may delete any box's message.
    assert (
        client.delete_voicemail(pb.DeleteVoicemailRequest(actor=admin(), message_id=vip)).error.code
        == OK
    )
    assert listed(client, admin(), include_heard=True) == {billing, "d" * 32}
    client.close()
