"""R-SUP-1/2 over real gRPC on a real Redis: Monitor, SwitchMonitor, StopMonitor (the
supervisor's Actor), ReportMonitor (the controllers': the service token), the actions
on the controllers' feed, Snapshot.monitors, sessions kept across a new leader, and the
reconciler ending a dead controller's call and with it its sessions
(docs/monitoring.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
import yaml

from acd import SWITCH_MODES, MonitorCall, MonitorCommand
from acd_api.v1 import acd_pb2 as pb
from acd_client import (
    MONITOR_MODE_NAMES,
    AcdClient,
    ensure_token_file,
    make_source,
    monitor_mode,
    monitor_rows,
    monitor_state,
    read_token,
)
from acdsvc._convert import action_from_dict, action_to_proto
from testbed import wait_until
from tests.acdsvc.conftest import SUPERVISOR, RedisServer, ReplicaFactory, write_config
from tests.acdsvc.test_recording_rpcs import admin, desk, login

OK = pb.ERROR_CODE_UNSPECIFIED
MIXERS = {"mixers": [{"ng": "127.0.0.1:2300", "managed": False}], "ring_timeout_ms": 7000}


def test_monitor_actions_survive_the_commit_stream() -> None:
    call = MonitorCall("c1", "s1", "sup", 900, "whisper", 7.0, True, "root", "a1001")
    switch = MonitorCommand("c1", "s1", "barge", "sup")
    stop = MonitorCommand("c1", "s1", "", "sup")
    for action in (call, switch, stop):
        assert action_from_dict(json.loads(json.dumps(action.to_dict()))) == action
    assert action_to_proto(call, "1-0").monitor_call == pb.MonitorCall(
        session_id="s1",
        call_id="c1",
        username="sup",
        employee_id=900,
        mode=pb.MONITOR_MODE_WHISPER,
        ring_timeout_seconds=7.0,
        record=True,
        requested_by="root",
        agent="a1001",
    )
    assert action_to_proto(switch, "1-0").monitor_command.mode == pb.MONITOR_MODE_BARGE
    assert action_to_proto(stop, "1-0").monitor_command.mode == pb.MONITOR_MODE_UNSPECIFIED


def test_mode_and_state_names_are_the_cores() -> None:
    assert set(MONITOR_MODE_NAMES.values()) == SWITCH_MODES
    for name in SWITCH_MODES:
        assert MONITOR_MODE_NAMES[monitor_mode(name)] == name
    assert monitor_mode("shout") == pb.MONITOR_MODE_UNSPECIFIED
    assert [monitor_state(s) for s in ("ringing", "active", "ended", "")] == [
        pb.MONITOR_STATE_RINGING,
        pb.MONITOR_STATE_ACTIVE,
        pb.MONITOR_STATE_ENDED,
        pb.MONITOR_STATE_UNSPECIFIED,
    ]
    view = pb.MonitorView(
        session_id="s1",
        supervisor="sup",
        agent="a1001",
        call_id="c1",
        mode=pb.MONITOR_MODE_BARGE,
        state=pb.MONITOR_STATE_ACTIVE,
        since_seconds=4.5,
    )
    assert monitor_rows(pb.Snapshot(monitors=[view])) == [
        {
            "session_id": "s1",
            "supervisor": "sup",
            "agent": "a1001",
            "call_id": "c1",
            "mode": "barge",
            "state": "active",
            "since_seconds": 4.5,
        }
    ]


def monitoring_config(path: Path, redis_address: str, *, mixers: bool = True, **acd: Any) -> Path:
    """Agents a1001..a1003 (a1001, a1002 of team red), the supervisor `sup` who
    supervises team red, and `sup2` (employee 901) who supervises nobody."""
    write_config(path, redis_address, agents=3, **acd)
    config = yaml.safe_load(path.read_text())
    for account in config["accounts"]:
        if account["username"] in ("a1001", "a1002"):
            account["team"] = "red"
        if account["username"] == "sup":
            account["supervises"] = {"teams": ["red"]}
    nobody = dict(next(a for a in config["accounts"] if a["username"] == "sup"))
    nobody.pop("supervises")
    # Same password hash as `sup`'s: its password is sup's too (see password_of).
    config["accounts"].append({**nobody, "username": "sup2", "employee_id": "901"})
    if mixers:
        config["monitoring"] = MIXERS
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def monitored(tmp_path: Path, redis_server: RedisServer, r: redis.Redis) -> Path:
    return monitoring_config(tmp_path / "callcenter.yaml", redis_server.address)


def talking(client: AcdClient, call_id: str, eid: int, source: str = "") -> None:
    reply = client.enqueue(pb.EnqueueRequest(call_id=call_id, queue="billing", source=source))
    assert reply.error.code == OK, reply.error.message
    answered = client.answered(pb.AnsweredRequest(call_id=call_id, employee_id=eid))
    assert answered.error.code == OK, answered.error.message


def supervisor_desk(client: AcdClient) -> pb.Actor:
    reply = client.login(
        pb.LoginRequest(
            username="sup",
            password="pw-sup-secret",
            seat=SUPERVISOR,
            employee_id=SUPERVISOR,
            role=pb.ROLE_SUPERVISOR,
            start_busy=True,
        )
    )
    assert reply.error.code == OK, reply.error.message
    return desk(SUPERVISOR, reply.session_id)


class Feed:
    """The actions a controller sees (every one), gathered for waiting on."""

    def __init__(self, client: AcdClient, employee_id: int = 0) -> None:
        self.seen: list[pb.Action] = []
        self._got = threading.Condition()
        self._feed = client.actions(self._on, employee_id=employee_id)

    def _on(self, action: pb.Action) -> None:
        with self._got:
            self.seen.append(action)
            self._got.notify_all()

    def kinds(self) -> list[str]:
        with self._got:
            return [str(a.WhichOneof("kind")) for a in self.seen]

    def wait_for(self, kind: str, count: int = 1) -> None:
        with self._got:
            assert self._got.wait_for(lambda: self.kinds_locked().count(kind) >= count, 5), (
                self.seen
            )

    def kinds_locked(self) -> list[str]:
        return [str(a.WhichOneof("kind")) for a in self.seen]

    def close(self) -> None:
        self._feed.close()


@pytest.fixture
def client_of() -> Iterator[list[AcdClient]]:
    clients: list[AcdClient] = []
    yield clients
    for client in clients:
        client.close()


def test_monitor_switch_report_and_stop(
    make_replica: ReplicaFactory, monitored: Path, client_of: list[AcdClient]
) -> None:
    replica = make_replica(monitored)
    client = AcdClient(replica.address)
    client_of.append(client)
    controller = Feed(client)
    agent_desk = Feed(client, employee_id=1001)
    try:
        login(client, "a1001", 1001)
        talking(client, "c1", 1001)
        actor = supervisor_desk(client)

        started = client.monitor(
            pb.MonitorRequest(
                actor=actor,
                agent="a1001",
                supervisor="sup",
                mode=pb.MONITOR_MODE_LISTEN,
                record=True,
            )
        )
        assert started.error.code == OK, started.error.message
        assert started.call_id == "c1" and len(started.session_id) == 32
        (sent,) = [a.monitor_call for a in started.actions]
        assert (sent.session_id, sent.username, sent.mode, sent.record, sent.agent) == (
            started.session_id,
            "sup",
            pb.MONITOR_MODE_LISTEN,
            True,
            "a1001",
        )
        assert sent.ring_timeout_seconds == 7.0  # monitoring.ring_timeout_ms
        rows = monitor_rows(client.get_snapshot())
        assert [(m["supervisor"], m["agent"], m["mode"], m["state"]) for m in rows] == [
            ("sup", "a1001", "listen", "ringing")
        ]
        # A second session for the same supervisor is refused with the reason.
        again = client.monitor(
            pb.MonitorRequest(
                actor=actor, call_id="c1", supervisor="sup", mode=pb.MONITOR_MODE_BARGE
            )
        )
        assert again.error.code == pb.ERROR_CODE_AGENT_NOT_AVAILABLE
        assert "already monitors" in again.error.message

        sid = started.session_id
        answered = client.report_monitor(sid, pb.MONITOR_STATE_ACTIVE)
        assert answered.error.code == OK, answered.error.message
        switched = client.switch_monitor(
            pb.SwitchMonitorRequest(actor=actor, session_id=sid, mode=pb.MONITOR_MODE_WHISPER)
        )
        assert switched.error.code == OK, switched.error.message
        (command,) = [a.monitor_command for a in switched.actions]
        assert (command.session_id, command.call_id, command.mode) == (
            sid,
            "c1",
            pb.MONITOR_MODE_WHISPER,
        )
        same = client.switch_monitor(
            pb.SwitchMonitorRequest(actor=actor, session_id=sid, mode=pb.MONITOR_MODE_WHISPER)
        )
        assert same.error.code == pb.ERROR_CODE_INVALID_TRANSITION
        (view,) = client.get_snapshot().monitors
        assert (view.mode, view.state) == (pb.MONITOR_MODE_WHISPER, pb.MONITOR_STATE_ACTIVE)
        # The monitored agent is still simply talking.
        (agent,) = [a for a in client.get_snapshot().agents if a.employee_id == 1001]
        assert (agent.state, agent.call_id) == (pb.AGENT_STATE_TALKING, "c1")

        stopped = client.stop_monitor(pb.StopMonitorRequest(actor=actor, session_id=sid))
        assert stopped.error.code == OK, stopped.error.message
        (stop,) = [a.monitor_command for a in stopped.actions]
        assert stop.mode == pb.MONITOR_MODE_UNSPECIFIED
        assert list(client.get_snapshot().monitors) == []
        late = client.report_monitor(sid, pb.MONITOR_STATE_ENDED, reason="requested")
        assert late.error.code == OK  # the controller's report of the end: idempotent
        unknown = client.stop_monitor(pb.StopMonitorRequest(actor=actor, session_id=sid))
        assert unknown.error.code == pb.ERROR_CODE_UNKNOWN_MONITOR_SESSION

        # Controllers get every monitor action, in commit order; the agent's desk none.
        controller.wait_for("monitor_command", 2)
        assert [k for k in controller.kinds() if k.startswith("monitor")] == [
            "monitor_call",
            "monitor_command",
            "monitor_command",
        ]
        assert not [k for k in agent_desk.kinds() if k.startswith("monitor")]
    finally:
        controller.close()
        agent_desk.close()


def test_refusals_carry_their_reason(
    make_replica: ReplicaFactory,
    monitored: Path,
    tmp_path: Path,
    redis_server: RedisServer,
    client_of: list[AcdClient],
) -> None:
    replica = make_replica(monitored)
    client = AcdClient(replica.address)
    client_of.append(client)
    login(client, "a1001", 1001)
    login(client, "a1003", 1003)
    talking(client, "c1", 1001)
    actor = supervisor_desk(client)

    def ask(**fields: Any) -> pb.Error:
        request = {"actor": actor, "call_id": "c1", "supervisor": "sup", **fields}
        request.setdefault("mode", pb.MONITOR_MODE_LISTEN)
        reply: pb.MonitorResponse = client.monitor(pb.MonitorRequest(**request))
        return reply.error

    assert ask(mode=pb.MONITOR_MODE_UNSPECIFIED).code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert ask(mode=pb.MONITOR_MODE_INTERCEPT).code == pb.ERROR_CODE_INVALID_ARGUMENT
    assert ask(actor=pb.Actor()).code == pb.ERROR_CODE_PERMISSION_DENIED
    assert ask(actor=admin("wrong")).code == pb.ERROR_CODE_PERMISSION_DENIED
    nobody = ask(actor=admin(), supervisor="sup2")
    assert nobody.code == pb.ERROR_CODE_NOT_LOGGED_IN  # sup2 has no desk
    talking(client, "c3", 1003)  # a1003 has no team: outside sup's scope
    outside = ask(call_id="c3")
    assert outside.code == pb.ERROR_CODE_PERMISSION_DENIED and "outside" in outside.message
    assert ask(call_id="nope").code == pb.ERROR_CODE_UNKNOWN_CALL
    report = client.report_monitor("nope", pb.MONITOR_STATE_ACTIVE)
    assert report.error.code == pb.ERROR_CODE_UNKNOWN_MONITOR_SESSION
    bad = client.report_monitor("nope", pb.MONITOR_STATE_UNSPECIFIED)
    assert bad.error.code == pb.ERROR_CODE_INVALID_ARGUMENT
    replica.stop(grace=0.2)

    # Without a mixer, monitoring is off.
    plain = monitoring_config(tmp_path / "plain.yaml", redis_server.address, mixers=False)
    second = make_replica(plain, node="plain")
    other = AcdClient(second.address)
    client_of.append(other)
    off: pb.MonitorResponse = other.monitor(
        pb.MonitorRequest(
            actor=admin(), call_id="c1", supervisor="sup", mode=pb.MONITOR_MODE_LISTEN
        )
    )
    assert off.error.code == pb.ERROR_CODE_MONITORING_DISABLED


def test_sessions_survive_a_new_leader(
    make_replica: ReplicaFactory, monitored: Path, r: redis.Redis, client_of: list[AcdClient]
) -> None:
    first = make_replica(monitored, node="r1")
    client = AcdClient(first.address)
    client_of.append(client)
    login(client, "a1001", 1001)
    talking(client, "c1", 1001)
    actor = supervisor_desk(client)
    started = client.monitor(
        pb.MonitorRequest(actor=actor, call_id="c1", supervisor="sup", mode=pb.MONITOR_MODE_BARGE)
    )
    assert started.error.code == OK, started.error.message
    sid = started.session_id
    assert client.report_monitor(sid, pb.MONITOR_STATE_ACTIVE).error.code == OK
    stored = json.loads(r.hget("acd:monitors", sid))  # type: ignore[arg-type]
    assert (stored["state"], stored["mode"], stored["call_id"]) == ("active", "barge", "c1")
    first.stop(grace=0.2)

    second = make_replica(monitored, node="r2")
    client = AcdClient(second.address)
    client_of.append(client)
    (view,) = client.get_snapshot().monitors
    assert (view.session_id, view.state, view.mode) == (
        sid,
        pb.MONITOR_STATE_ACTIVE,
        pb.MONITOR_MODE_BARGE,
    )
    switched = client.switch_monitor(
        pb.SwitchMonitorRequest(actor=actor, session_id=sid, mode=pb.MONITOR_MODE_LISTEN)
    )
    assert switched.error.code == OK, switched.error.message
    # The call ends: so does the session, in Redis too.
    assert client.hangup(pb.HangupRequest(call_id="c1")).error.code == OK
    assert list(client.get_snapshot().monitors) == []
    assert r.hlen("acd:monitors") == 0


def test_the_reconciler_ends_a_dead_controllers_call_and_its_sessions(
    make_replica: ReplicaFactory,
    tmp_path: Path,
    redis_server: RedisServer,
    r: redis.Redis,
    client_of: list[AcdClient],
) -> None:
    path = monitoring_config(
        tmp_path / "reconcile.yaml",
        redis_server.address,
        call_events="controller",
        reconcile_interval_ms=100,
        reconcile_grace_ms=200,
    )
    replica = make_replica(path)
    client = AcdClient(replica.address)
    client_of.append(client)
    login(client, "a1001", 1001)
    # Its controller's registry record was never written: as a dead controller's.
    talking(client, "c-dead", 1001, source=make_source("ctl-dead", "i1"))
    actor = supervisor_desk(client)
    started = client.monitor(
        pb.MonitorRequest(
            actor=actor, call_id="c-dead", supervisor="sup", mode=pb.MONITOR_MODE_LISTEN
        )
    )
    assert started.error.code == OK, started.error.message
    wait_until(lambda: not client.get_snapshot().monitors, timeout=10, what="the session ended")
    assert r.hlen("acd:monitors") == 0
    (agent,) = [a for a in client.get_snapshot().agents if a.employee_id == 1001]
    assert agent.call_id == ""  # the call was ended too (wrap-up or idle)


def test_report_monitor_needs_the_service_token_and_monitor_does_not(
    make_replica: ReplicaFactory,
    tmp_path: Path,
    redis_server: RedisServer,
    r: redis.Redis,
    client_of: list[AcdClient],
) -> None:
    token_file = ensure_token_file(tmp_path / "secrets" / "acd.token")
    path = monitoring_config(
        tmp_path / "guarded.yaml", redis_server.address, token_file=str(token_file)
    )
    replica = make_replica(path)
    trusted = AcdClient(replica.address, token=read_token(token_file))
    stranger = AcdClient(replica.address, retry_for=0)
    client_of.extend([trusted, stranger])
    login(stranger, "a1001", 1001)
    talking(trusted, "c1", 1001)
    actor = supervisor_desk(stranger)
    started = stranger.monitor(
        pb.MonitorRequest(actor=actor, call_id="c1", supervisor="sup", mode=pb.MONITOR_MODE_LISTEN)
    )
    assert started.error.code == OK, started.error.message
    with pytest.raises(grpc.RpcError) as caught:
        stranger.report_monitor(started.session_id, pb.MONITOR_STATE_ENDED, reason="no_answer")
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert len(trusted.get_snapshot().monitors) == 1
    ended = trusted.report_monitor(started.session_id, pb.MONITOR_STATE_ENDED, reason="no_answer")
    assert ended.error.code == OK, ended.error.message
    assert list(trusted.get_snapshot().monitors) == []
