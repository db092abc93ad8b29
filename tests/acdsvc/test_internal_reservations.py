"""ReserveForInternalCall by account, as a call controller sends it: the replica
resolves the callee's and the calling agent's accounts, keeps the source, and a
transfer's Release reaches a desk that watches only its own agent."""

from __future__ import annotations

import pytest

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from testbed import wait_until
from tests.acdsvc.conftest import ADMIN, ReplicaFactory
from tests.acdsvc.test_agent_rpcs import login

OK = pb.ERROR_CODE_UNSPECIFIED


@pytest.fixture
def client(make_replica: ReplicaFactory) -> AcdClient:
    return AcdClient(make_replica().address)


def _agent(client: AcdClient, eid: int) -> pb.AgentView:
    return next(a for a in client.get_snapshot().agents if a.employee_id == eid)


def test_reserve_by_account_takes_the_calling_agent_out_of_service(client: AcdClient) -> None:
    login(client, 1001, 1)
    login(client, 1002, 2)
    reply = client.reserve_for_internal_call(
        pb.ReserveForInternalCallRequest(
            call_id="i1",
            username="a1002",
            calling_agent="a1001",
            caller="a1001",
            category="internal",
            kind=pb.CALL_KIND_INTERNAL,
            source="ctl#1",
        )
    )
    assert reply.error.code == OK, reply
    (offered,) = reply.actions
    assert (offered.offer.employee_id, offered.offer.username) == (1002, "a1002")
    caller = _agent(client, 1001)
    assert (caller.state, caller.reason) == (pb.AGENT_STATE_BUSY, "INTERNAL_CALL")
    assert _agent(client, 1002).state == pb.AGENT_STATE_RESERVED
    assert client.abandon(pb.AbandonRequest(call_id="i1")).error.code == OK
    assert {a.state for a in client.get_snapshot().agents} == {pb.AGENT_STATE_IDLE}


@pytest.mark.parametrize(
    ("request_fields", "code", "message"),
    [
        ({"username": "nobody"}, pb.ERROR_CODE_NOT_LOGGED_IN, "no agent account 'nobody'"),
        ({"username": ADMIN}, pb.ERROR_CODE_NOT_LOGGED_IN, f"no agent account '{ADMIN}'"),
        ({}, pb.ERROR_CODE_INVALID_ARGUMENT, "give employee_id or username"),
        ({"username": "a1003"}, pb.ERROR_CODE_NOT_LOGGED_IN, "employee 1003 is logged_out"),
        (
            {"username": "a1001", "calling_agent": "a1001"},
            pb.ERROR_CODE_INVALID_ARGUMENT,
            "cannot call itself",
        ),
    ],
)
def test_reservation_refusals(
    client: AcdClient, request_fields: dict[str, str], code: int, message: str
) -> None:
    login(client, 1001, 1)
    reply = client.reserve_for_internal_call(
        pb.ReserveForInternalCallRequest(call_id="i1", kind=pb.CALL_KIND_INTERNAL, **request_fields)
    )  # type: ignore[arg-type]
    assert reply.error.code == code and message in reply.error.message, reply
    assert _agent(client, 1001).state == pb.AGENT_STATE_IDLE


def test_a_desk_watching_its_agent_sees_the_release_of_its_transferred_call(
    client: AcdClient,
) -> None:
    login(client, 1001, 1)
    client.enqueue(pb.EnqueueRequest(call_id="c1", queue="billing"))
    assert client.answered(pb.AnsweredRequest(call_id="c1", employee_id=1001)).error.code == OK
    seen: list[pb.Action] = []
    # Subscribed on return (the server's headers): nothing committed after is missed.
    feed = client.actions(seen.append, employee_id=1001)
    try:
        moved = client.transfer_to_queue(pb.TransferToQueueRequest(call_id="c1", queue="billing"))
        assert moved.error.code == OK
        wait_until(
            lambda: any(a.WhichOneof("kind") == "release" for a in seen),
            timeout=5,
            what="the Release on the agent's own action stream",
        )
    finally:
        feed.close()
    (release,) = [a.release for a in seen if a.WhichOneof("kind") == "release"]
    assert (release.call_id, release.employee_id, release.queue) == ("c1", 1001, "billing")
