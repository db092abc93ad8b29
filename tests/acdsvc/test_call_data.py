"""A call's data through gRPC (EnqueueRequest.call_data -> Offer.call_data): refused when
too big, on the offer, and loaded from Redis by a new leader, including a call record
written before the field existed."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from tests.acdsvc.conftest import ReplicaFactory
from tests.acdsvc.test_agent_rpcs import login

OK = pb.ERROR_CODE_UNSPECIFIED
DATA = {"ivr_path": "welcome>menu>to_agent", "account": "6222021234567890"}


def _offers(reply: pb.EnqueueResponse | pb.SetIdleResponse) -> list[tuple[str, dict[str, str]]]:
    return [
        (a.offer.call_id, dict(a.offer.call_data)) for a in reply.actions if a.HasField("offer")
    ]


def test_call_data_reaches_the_offer_across_a_new_leader(
    make_replica: ReplicaFactory, config_path: Path, r: redis.Redis
) -> None:
    first = make_replica(config_path, node="r1")
    client = AcdClient(first.address)
    try:
        busy = login(client, 1001, 1, start_busy=True)
        assert busy.error.code == OK
        bad = client.enqueue(
            pb.EnqueueRequest(call_id="c-bad", queue="billing", call_data={"bad key": "x"})
        )
        assert bad.error.code == pb.ERROR_CODE_INVALID_ARGUMENT, bad
        assert "call_data key 'bad key'" in bad.error.message
        for call_id, data in (("c-data", DATA), ("c-none", {})):
            reply = client.enqueue(
                pb.EnqueueRequest(call_id=call_id, queue="billing", call_data=data)
            )
            assert reply.error.code == OK and _offers(reply) == []
    finally:
        client.close()
    first.stop(grace=0.2)

    # The plain call's record is stored exactly as before the field: no call_data key.
    (key,) = [k for k in r.scan_iter("*calls") if r.type(k) in (b"hash", "hash")]
    assert "call_data" not in json.loads(r.hget(key, "c-none"))  # type: ignore[arg-type]
    assert json.loads(r.hget(key, "c-data"))["call_data"] == DATA  # type: ignore[arg-type]

    second = make_replica(config_path, node="r2")
    client = AcdClient(second.address)
    try:
        ready = client.set_idle(pb.SetIdleRequest(employee_id=1001, session_id=busy.session_id))
        assert ready.error.code == OK and _offers(ready) == [("c-data", DATA)]
    finally:
        client.close()
