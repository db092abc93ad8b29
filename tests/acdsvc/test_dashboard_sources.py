"""The dashboards' live source and supervisor actions against a real ACD replica.

`dashboards.queries.GrpcLive` and `GrpcAcdCommands` are what the wallboard and the
supervisor page use when an `acd:` section exists; these tests run them against a
replica on Redis rather than a stand-in.
"""

from __future__ import annotations

import grpc
import pytest

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, ActionFeed
from dashboards.queries import GrpcAcdCommands, GrpcLive, GrpcLiveStream, Supervisor
from testbed import wait_until
from tests.acdsvc.conftest import (
    ADMIN,
    SUPERVISOR,
    ReplicaFactory,
    free_port,
    password_of,
)
from tests.acdsvc.test_agent_rpcs import login


@pytest.fixture
def acd(make_replica: ReplicaFactory) -> str:
    address: str = make_replica().address
    return address


def test_live_source_shows_logged_in_agents_and_queues(acd: str) -> None:
    client = AcdClient(acd)
    assert login(client, 1001, 7).error.code == pb.ERROR_CODE_UNSPECIFIED
    assert login(client, 1002, 8, start_busy=True).error.code == pb.ERROR_CODE_UNSPECIFIED

    snapshot = GrpcLive(acd).snapshot()

    states = {(a.agent, a.seat, a.state) for a in snapshot.agents}
    # Named by account, as the event log names them.
    assert states == {("a1001", "7", "idle"), ("a1002", "8", "busy")}
    assert [(q.queue, q.waiting) for q in snapshot.queues] == [("billing", 0)]
    assert snapshot.source.startswith("ACD")


def test_supervisor_actions_change_agent_state_and_refuse_agents(acd: str) -> None:
    client = AcdClient(acd)
    assert login(client, 1001, 7).error.code == pb.ERROR_CODE_UNSPECIFIED
    commands = GrpcAcdCommands(acd)
    admin = Supervisor(ADMIN, password_of(ADMIN), ("admin",))
    plain_agent = Supervisor("a1002", password_of("a1002"), ("agent",))

    refused = commands.force_busy("a1001", "MEETING", plain_agent)
    assert not refused.ok and "PERMISSION_DENIED" in refused.message
    assert GrpcLive(acd).snapshot().agents[0].state == "idle"

    done = commands.force_busy("a1001", "MEETING", admin)
    assert done.ok, done.message
    (agent,) = GrpcLive(acd).snapshot().agents
    assert (agent.state, agent.reason) == ("busy", "MEETING")

    assert commands.force_idle("1001", admin).ok  # an employee ID is accepted too
    assert GrpcLive(acd).snapshot().agents[0].state == "idle"
    assert commands.force_logout("a1001", admin).ok
    assert GrpcLive(acd).snapshot().agents == ()


def test_supervisor_intercept_reaches_the_action_feed_and_refusals_say_why(acd: str) -> None:
    """The page's Intercept: a1001 talks on a queue call; the supervisor `sup`, acting
    with its own credentials, asks to take it over. Refusals (a plain agent as actor, the
    supervisor's desk busy, an agent on no call) carry the ACD's code; the accepted one
    is an InterceptCall on WatchActions for the call's controller, and nobody's state
    moves at the ACD until that controller reserves the supervisor."""
    client = AcdClient(acd)
    assert login(client, 1001, 7).error.code == pb.ERROR_CODE_UNSPECIFIED
    assert login(client, 1002, 8, start_busy=True).error.code == pb.ERROR_CODE_UNSPECIFIED
    desk = login(client, SUPERVISOR, 9, user="sup", role=pb.ROLE_SUPERVISOR, start_busy=True)
    assert desk.error.code == pb.ERROR_CODE_UNSPECIFIED
    assert client.enqueue(pb.EnqueueRequest(call_id="c-int", queue="billing")).error.code == 0
    assert client.answered(pb.AnsweredRequest(call_id="c-int", employee_id=1001)).error.code == 0
    seen: list[pb.Action] = []
    feed = ActionFeed(client, seen.append).start()
    commands = GrpcAcdCommands(acd)
    sup = Supervisor("sup", password_of("sup"), ("agent", "supervisor"))
    plain_agent = Supervisor("a1002", password_of("a1002"), ("agent",))
    try:
        refused = commands.intercept("a1001", "sup", plain_agent)
        assert not refused.ok and refused.message.startswith("ERROR_CODE_PERMISSION_DENIED")
        busy = commands.intercept("a1001", "sup", sup)
        assert not busy.ok and "AGENT_NOT_AVAILABLE" in busy.message, busy.message
        no_call = commands.intercept("a1002", "sup", sup)
        assert not no_call.ok and "CALL_NOT_TALKING" in no_call.message
        assert (
            client.set_idle(
                pb.SetIdleRequest(employee_id=SUPERVISOR, session_id=desk.session_id)
            ).error.code
            == 0
        )

        done = commands.intercept("1001", "sup", sup)  # by employee ID, as shown too

        assert done.ok and done.message == "call c-int: ringing sup to take it over", done.message
        wait_until(
            lambda: any(a.WhichOneof("kind") == "intercept_call" for a in seen),
            timeout=5,
            what="the InterceptCall on WatchActions",
        )
    finally:
        feed.close()
    (asked,) = [a.intercept_call for a in seen if a.WhichOneof("kind") == "intercept_call"]
    assert (asked.call_id, asked.username, asked.employee_id, asked.requested_by) == (
        "c-int",
        "sup",
        SUPERVISOR,
        "sup",
    )
    assert asked.ring_timeout_seconds > 0
    states = {a.agent: a.state for a in GrpcLive(acd).snapshot().agents}
    assert states == {"a1001": "talking", "a1002": "busy", "sup": "idle"}


def test_supervisor_action_with_the_acd_down_says_so() -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    result = GrpcAcdCommands(nowhere, timeout=0.5).force_idle(
        "1001", Supervisor(ADMIN, password_of(ADMIN), ("admin",))
    )
    assert not result.ok and "ACD is unreachable" in result.message


def test_supervisor_action_on_an_agent_not_logged_in_is_refused(acd: str) -> None:
    result = GrpcAcdCommands(acd).force_idle(
        "a1009", Supervisor(ADMIN, password_of(ADMIN), ("admin",))
    )
    assert not result.ok and "not logged in" in result.message


def test_live_stream_pushes_changes_and_refuses_to_show_a_stale_view(
    make_replica: ReplicaFactory,
) -> None:
    """The wallboard's source: a login reaches it from the stream (no GetSnapshot per
    refresh); once the ACD is gone the view is not passed off as live."""
    replica = make_replica()
    stream = GrpcLiveStream(replica.address, max_interval_s=0.5, stale_s=1.0)
    try:
        wait_until(lambda: stream.snapshot().queues != (), timeout=5, what="first push")
        assert login(AcdClient(replica.address), 1001, 7).error.code == 0
        wait_until(
            lambda: [a.agent for a in stream.snapshot().agents] == ["a1001"],
            timeout=5,
            what="the login pushed to the stream",
        )
        replica.stop(grace=0.2)
        with pytest.raises(grpc.RpcError):
            wait_until(
                lambda: stream.snapshot() is None,
                timeout=10,  # raises once stale
                what="the stale view refused",
            )
    finally:
        stream.close()
