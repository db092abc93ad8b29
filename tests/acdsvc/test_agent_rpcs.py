"""Agent and supervisor requests over gRPC: confirmations, and refusals with their reason."""

from __future__ import annotations

import pytest

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from tests.acdsvc.conftest import ADMIN, SUPERVISOR, ReplicaFactory, password_of

OK = pb.ERROR_CODE_UNSPECIFIED


def login(
    client: AcdClient,
    eid: int,
    seat: int,
    *,
    user: str | None = None,
    password: str | None = None,
    role: pb.Role = pb.ROLE_AGENT,
    start_busy: bool = False,
) -> pb.LoginResponse:
    user = user or f"a{eid}"
    return client.login(
        pb.LoginRequest(
            username=user,
            password=password or password_of(user),
            seat=seat,
            employee_id=eid,
            role=role,
            start_busy=start_busy,
        )
    )


@pytest.fixture
def client(make_replica: ReplicaFactory) -> AcdClient:
    replica = make_replica()
    return AcdClient(replica.address)


def test_login_busy_idle_logout_round_trip(client: AcdClient) -> None:
    reply = login(client, 1001, 1)
    assert reply.error.code == OK and reply.session_id and reply.lease_seconds == 30
    session = reply.session_id
    busy = client.set_busy(pb.SetBusyRequest(employee_id=1001, session_id=session, reason="BREAK"))
    assert busy.error.code == OK
    (agent,) = client.get_snapshot().agents
    assert agent.state == pb.AGENT_STATE_BUSY and agent.reason == "BREAK"
    assert client.set_idle(pb.SetIdleRequest(employee_id=1001, session_id=session)).error.code == OK
    beat = client.heartbeat(pb.HeartbeatRequest(employee_id=1001, session_id=session))
    assert beat.error.code == OK
    out = client.logout(pb.LogoutRequest(employee_id=1001, session_id=session))
    assert out.error.code == OK and not out.deferred
    assert not client.get_snapshot().agents


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"password": "wrong"}, pb.ERROR_CODE_AUTH_FAILED),
        ({"user": "nobody", "password": "x"}, pb.ERROR_CODE_AUTH_FAILED),
        ({"seat": 5000}, pb.ERROR_CODE_SEAT_OUT_OF_RANGE),
        ({"eid": 1002}, pb.ERROR_CODE_EMPLOYEE_ID_MISMATCH),
        ({"role": pb.ROLE_SUPERVISOR}, pb.ERROR_CODE_ROLE_INVALID),
        ({"role": pb.ROLE_UNSPECIFIED}, pb.ERROR_CODE_ROLE_INVALID),
    ],
)
def test_login_refusals_carry_code_and_reason(
    client: AcdClient, kwargs: dict[str, object], code: int
) -> None:
    args: dict[str, object] = {"eid": 1001, "seat": 1, "user": "a1001"} | kwargs
    reply = login(client, args.pop("eid"), args.pop("seat"), **args)  # type: ignore[arg-type]
    assert reply.error.code == code and reply.error.message
    assert not reply.session_id


def test_second_login_and_taken_seat_are_refused(client: AcdClient) -> None:
    assert login(client, 1001, 1).error.code == OK
    again = login(client, 1001, 2)
    assert again.error.code == pb.ERROR_CODE_ALREADY_LOGGED_IN
    seat = login(client, 1002, 1)
    assert seat.error.code == pb.ERROR_CODE_SEAT_OCCUPIED and "seat 1" in seat.error.message


def test_busy_refused_while_ringing_and_stale_session_refused(client: AcdClient) -> None:
    session = login(client, 1001, 1).session_id
    enq = client.enqueue(
        pb.EnqueueRequest(
            call_id="c1", queue="billing", caller="13800138000", category="electricity-bill"
        )
    )
    assert enq.error.code == OK
    (offer,) = [a.offer for a in enq.actions]
    assert (offer.call_id, offer.employee_id, offer.seat) == ("c1", 1001, 1)
    assert offer.caller == "13800138000" and offer.category == "electricity-bill"
    busy = client.set_busy(pb.SetBusyRequest(employee_id=1001, session_id=session, reason="X"))
    assert busy.error.code == pb.ERROR_CODE_NOT_ON_HOOK
    stale = client.heartbeat(pb.HeartbeatRequest(employee_id=1001, session_id="s999"))
    assert stale.error.code == pb.ERROR_CODE_STALE_SESSION
    unknown = client.enqueue(pb.EnqueueRequest(call_id="c2", queue="nope"))
    assert unknown.error.code == pb.ERROR_CODE_UNKNOWN_QUEUE


def test_call_flow_answer_hangup_abandon_transfer(client: AcdClient) -> None:
    login(client, 1001, 1)
    login(client, 1002, 2)
    client.enqueue(pb.EnqueueRequest(call_id="c1", queue="billing"))
    client.enqueue(pb.EnqueueRequest(call_id="c2", queue="billing"))
    agents = {a.employee_id: a for a in client.get_snapshot().agents}
    ringing = {a.call_id: eid for eid, a in agents.items()}
    assert set(ringing) == {"c1", "c2"}
    assert (
        client.answered(pb.AnsweredRequest(call_id="c1", employee_id=ringing["c1"])).error.code
        == OK
    )
    retried = client.answered(pb.AnsweredRequest(call_id="c1", employee_id=ringing["c1"]))
    assert retried.error.code == OK  # idempotent for the answering agent (fail-over retries)
    other = client.answered(pb.AnsweredRequest(call_id="c1", employee_id=ringing["c2"]))
    assert other.error.code == pb.ERROR_CODE_CALL_ALREADY_ANSWERED
    late = client.abandon(pb.AbandonRequest(call_id="c1"))
    assert late.error.code == pb.ERROR_CODE_CALL_ALREADY_ANSWERED
    gone = client.abandon(pb.AbandonRequest(call_id="c2"))
    assert gone.error.code == OK
    assert [a.cancel_ring.call_id for a in gone.actions] == ["c2"]
    moved = client.transfer_to_agent(
        pb.TransferToAgentRequest(call_id="c1", employee_id=ringing["c2"])
    )
    assert moved.error.code == OK
    # The controller drops the transferring agent's leg, then rings the target.
    assert [
        (a.WhichOneof("kind"), getattr(a, a.WhichOneof("kind")).employee_id) for a in moved.actions
    ] == [("release", ringing["c1"]), ("offer", ringing["c2"])]
    assert (
        client.answered(pb.AnsweredRequest(call_id="c1", employee_id=ringing["c2"])).error.code
        == OK
    )
    assert client.hangup(pb.HangupRequest(call_id="c1")).error.code == OK
    again = client.hangup(pb.HangupRequest(call_id="c1"))
    assert again.error.code == pb.ERROR_CODE_UNKNOWN_CALL
    assert {a.state for a in client.get_snapshot().agents} == {pb.AGENT_STATE_IDLE}


def test_supervisor_commands_need_a_supervisor_desk_or_admin(client: AcdClient) -> None:
    agent = login(client, 1001, 1).session_id
    other = login(client, 1002, 2).session_id

    def force(actor: pb.Actor) -> pb.ForceBusyResponse:
        return client.force_busy(pb.ForceBusyRequest(actor=actor, employee_id=1002))

    as_agent = force(pb.Actor(desk=pb.DeskSession(employee_id=1001, session_id=agent)))
    assert as_agent.error.code == pb.ERROR_CODE_PERMISSION_DENIED
    no_actor = force(pb.Actor())
    assert no_actor.error.code == pb.ERROR_CODE_PERMISSION_DENIED
    bad_admin = force(pb.Actor(admin=pb.AdminCredentials(username=ADMIN, password="nope")))
    assert bad_admin.error.code == pb.ERROR_CODE_PERMISSION_DENIED
    # A supervisor account logged in as a plain agent is not a supervisor desk.
    as_plain = login(client, SUPERVISOR, 9, user="sup").session_id
    plain = force(pb.Actor(desk=pb.DeskSession(employee_id=SUPERVISOR, session_id=as_plain)))
    assert plain.error.code == pb.ERROR_CODE_PERMISSION_DENIED
    client.logout(pb.LogoutRequest(employee_id=SUPERVISOR, session_id=as_plain))
    sup = login(client, SUPERVISOR, 9, user="sup", role=pb.ROLE_SUPERVISOR).session_id
    desk = pb.Actor(desk=pb.DeskSession(employee_id=SUPERVISOR, session_id=sup))
    assert force(desk).error.code == OK
    forged = force(pb.Actor(desk=pb.DeskSession(employee_id=SUPERVISOR, session_id="s1")))
    assert forged.error.code == pb.ERROR_CODE_PERMISSION_DENIED
    admin = pb.Actor(admin=pb.AdminCredentials(username=ADMIN, password=password_of(ADMIN)))
    assert client.force_idle(pb.ForceIdleRequest(actor=admin, employee_id=1002)).error.code == OK
    assert client.force_logout(pb.ForceLogoutRequest(actor=desk, employee_id=1002)).error.code == OK
    states = {a.employee_id: a.state for a in client.get_snapshot().agents}
    assert 1002 not in states and states[1001] == pb.AGENT_STATE_IDLE
    assert other


def test_follower_forwards_to_the_leader(make_replica: ReplicaFactory) -> None:
    leader = make_replica(node="leader")
    follower = make_replica(node="follower")
    assert leader.engine.is_leader and not follower.engine.is_leader
    via_follower = AcdClient(follower.address)
    assert login(via_follower, 1001, 1).error.code == OK
    assert login(via_follower, 1001, 1).error.code == pb.ERROR_CODE_ALREADY_LOGGED_IN
    snapshot = via_follower.get_snapshot()
    assert snapshot.node == "leader" and [a.employee_id for a in snapshot.agents] == [1001]
