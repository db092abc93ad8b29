"""A call's own skills through gRPC (EnqueueRequest.skills): matched by the replica,
shown by GetCallPosition, kept in Redis across a change of leader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from tests.acdsvc.conftest import RedisServer, ReplicaFactory, write_config
from tests.acdsvc.test_agent_rpcs import login

OK = pb.ERROR_CODE_UNSPECIFIED


@pytest.fixture
def skills_config(tmp_path: Path, redis_server: RedisServer, r: object) -> Path:
    """Agents a1001..a1003 with billing; a1002 and a1003 speak English too."""
    path = write_config(tmp_path / "callcenter.yaml", redis_server.address, agents=3)
    config = yaml.safe_load(path.read_text())
    for account in config["accounts"]:
        if account["username"] in ("a1002", "a1003"):
            account["skills"] = {"billing": 3, "english": 2}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _offers(reply: pb.EnqueueResponse | pb.SetIdleResponse) -> list[tuple[str, int]]:
    return [(a.offer.call_id, a.offer.employee_id) for a in reply.actions if a.HasField("offer")]


def test_a_call_with_skills_waits_for_an_agent_who_has_them_across_a_new_leader(
    make_replica: ReplicaFactory, skills_config: Path
) -> None:
    first = make_replica(skills_config, node="r1")
    client = AcdClient(first.address)
    try:
        assert login(client, 1001, 1).error.code == OK
        busy = login(client, 1002, 2, start_busy=True)
        assert busy.error.code == OK
        english = client.enqueue(
            pb.EnqueueRequest(
                call_id="c-en", queue="billing", priority=2, skills={"english": 1}, source="ctl#1"
            )
        )
        assert english.error.code == OK and _offers(english) == [], "1001 has no English"
        plain = client.enqueue(pb.EnqueueRequest(call_id="c-plain", queue="billing"))
        assert _offers(plain) == [("c-plain", 1001)], "the call behind it is not held up"
        position = client.get_call_position(pb.GetCallPositionRequest(call_id="c-en"))
        assert (position.waiting, position.position, position.priority) == (True, 1, 2)
        assert dict(position.skills) == {"english": 1}
        bad = client.enqueue(
            pb.EnqueueRequest(call_id="c-bad", queue="billing", skills={"english": 0})
        )
        assert bad.error.code == pb.ERROR_CODE_INVALID_ARGUMENT, bad
        assert "level >= 1" in bad.error.message
    finally:
        client.close()
    first.stop(grace=0.2)

    # A new leader loads the call, its skills included, from Redis.
    second = make_replica(skills_config, node="r2")
    client = AcdClient(second.address)
    try:
        position = client.get_call_position(pb.GetCallPositionRequest(call_id="c-en"))
        assert position.error.code == OK, position
        assert dict(position.skills) == {"english": 1} and position.priority == 2
        ready = client.set_idle(pb.SetIdleRequest(employee_id=1002, session_id=busy.session_id))
        assert ready.error.code == OK and _offers(ready) == [("c-en", 1002)]
    finally:
        client.close()
