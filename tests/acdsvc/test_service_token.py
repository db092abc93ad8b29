"""The service token (acd_client, acdsvc/_auth.py): call methods need it, agents' own
methods do not.

Real replicas on a real Redis; the refusals are what a stray peer on the network
would get.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

import acdsvc
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, TokenError, ensure_token_file, read_token
from tests.acdsvc.conftest import RedisServer, ReplicaProcess, password_of, write_config

CALL = pb.EnqueueRequest(call_id="c-token-1", queue="billing", caller="13800000001")


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return ensure_token_file(tmp_path / "secrets" / "acd.token")


@pytest.fixture
def guarded(tmp_path: Path, redis_server: RedisServer, r: object, token_file: Path) -> Path:
    return write_config(
        tmp_path / "callcenter.yaml", redis_server.address, token_file=str(token_file)
    )


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()  # type: ignore[no-any-return, attr-defined]


def test_call_methods_without_the_token_are_refused_and_change_nothing(
    make_replica: Callable[..., acdsvc.Replica], guarded: Path, token_file: Path
) -> None:
    replica = make_replica(guarded)
    stranger = AcdClient(replica.address, retry_for=0)
    wrong = AcdClient(replica.address, retry_for=0, token="x" * 43)
    for client in (stranger, wrong):
        assert _code(lambda c=client: c.enqueue(CALL)) is grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda c=client: c.get_snapshot()) is grpc.StatusCode.UNAUTHENTICATED
        stream = client.stub.WatchActions(pb.WatchActionsRequest())
        assert _code(lambda s=stream: next(s)) is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as refused:
        stranger.enqueue(CALL)
    assert "needs the ACD service token" in (refused.value.details() or "")  # type: ignore[attr-defined]

    service = AcdClient(replica.address, token=read_token(token_file))
    assert service.get_snapshot().queues[0].waiting == 0  # the refused Enqueues left nothing
    assert service.enqueue(CALL).error.code == 0
    assert service.get_snapshot().queues[0].waiting == 1


def test_agents_log_in_without_the_token(
    make_replica: Callable[..., acdsvc.Replica], guarded: Path
) -> None:
    replica = make_replica(guarded)
    agent = AcdClient(replica.address, retry_for=0)
    reply = agent.login(
        pb.LoginRequest(
            username="a1001",
            password=password_of("a1001"),
            seat=1,
            employee_id=1001,
            role=pb.ROLE_AGENT,
        )
    )
    assert reply.error.code == 0, reply.error.message
    beat = pb.HeartbeatRequest(employee_id=1001, session_id=reply.session_id)
    assert agent.heartbeat(beat).error.code == 0


def test_a_follower_forwards_with_the_token(
    make_replica: Callable[..., acdsvc.Replica], guarded: Path, token_file: Path
) -> None:
    make_replica(guarded, node="leader")
    follower = make_replica(guarded, node="follower")
    service = AcdClient(follower.address, token=read_token(token_file))
    assert service.enqueue(CALL).error.code == 0
    assert service.get_snapshot().queues[0].waiting == 1
    stranger = AcdClient(follower.address, retry_for=0)
    assert _code(lambda: stranger.enqueue(CALL)) is grpc.StatusCode.UNAUTHENTICATED


def test_a_replica_refuses_to_start_with_a_token_others_can_read(
    spawn_replica: Callable[..., ReplicaProcess], guarded: Path, token_file: Path
) -> None:
    os.chmod(token_file, 0o644)
    with pytest.raises(AssertionError, match="readable by others"):
        spawn_replica("loose", guarded)


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        (None, 0o600, "cannot read"),
        ("short", 0o600, "shorter than 32"),
        ("y" * 43, 0o640, "readable by others"),
    ],
)
def test_read_token_refuses_bad_files(
    tmp_path: Path, content: str | None, mode: int, message: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    with pytest.raises(TokenError, match=message):
        read_token(path)


def test_ensure_token_file_makes_a_private_token_once(tmp_path: Path) -> None:
    path = ensure_token_file(tmp_path / "s" / "t")
    first = read_token(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert read_token(ensure_token_file(path)) == first
