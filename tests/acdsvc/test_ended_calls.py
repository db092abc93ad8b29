"""A retried Enqueue for a call that already ended is refused (CALL_EXISTS), also on a new
leader: the ended call IDs are committed to `acd:ended` with the call's removal.

The fail-over sequence of test_cluster's flaky "a call ended twice", step by step: r1
commits an Enqueue and dies before replying; r2 loads the state, the call rings, is
answered and hung up; then the caller's retry of the Enqueue reaches r2.
"""

from __future__ import annotations

import threading
import types
from collections import Counter
from pathlib import Path

import redis

import eventlog
from acd import Account, AcdConfig, ErrorCode, ManualClock, QueueConfig
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from acdsvc import StateStore, settings_from_config
from acdsvc._engine import Engine
from configuration import load_config
from tests.acdsvc.conftest import ReplicaFactory, password_of, write_config
from tests.acdsvc.test_group_commit import GatedStore

OK = pb.ERROR_CODE_UNSPECIFIED
AGENT = Account("a1", 1, frozenset({"agent"}), {"billing": 1})


def _settings(node: str, retention: float = 600.0) -> types.SimpleNamespace:
    config = AcdConfig(
        queues=[QueueConfig("billing", skills={"billing": 1})],
        employee_id_range=(1, 9999),
        ended_call_retention=retention,
    )
    return types.SimpleNamespace(
        acd=config, node=node, section=types.SimpleNamespace(call_events="acd")
    )


def _lead(store: StateStore, clock: ManualClock, node: str, retention: float = 600.0) -> Engine:
    """A replica's engine that has just won the lease and loaded the state."""
    lease = store.try_acquire(node, f"{node}:1", 60_000)
    assert lease is not None
    engine = Engine(
        _settings(node, retention),
        store,
        clock=clock,  # type: ignore[arg-type]
        verify_commits=True,
    )  # every commit re-read and compared, ended included
    engine.take_over(lease)
    return engine


def _die(r: redis.Redis) -> None:
    """The leader is killed: nobody renews its lease, which runs out."""
    r.delete("acd:leader")


def _per_call(r: redis.Redis, call_id: str) -> Counter[str]:
    return Counter(
        d.event.kind
        for d in eventlog.replay(r)
        if d.event.correlation_id == call_id and d.event.kind.startswith("call.")
    )


def test_enqueue_retried_on_the_new_leader_after_the_call_ended_is_refused(r: redis.Redis) -> None:
    store, clock = StateStore(r), ManualClock(1000.0)
    r1 = _lead(store, clock, "r1")
    r1.execute(lambda a: a.login(AGENT, seat=1, employee_id=1, role="agent"))
    first = r1.execute(lambda a: a.enqueue("call-101", "billing"))
    assert first.commit_id and first.result.ok  # committed; the reply never reaches the caller
    _die(r)

    r2 = _lead(store, clock, "r2")
    assert r2.read(lambda a: a.call("call-101"))["state"] == "ringing"  # type: ignore[index]
    assert r2.execute(lambda a: a.answered("call-101", 1)).result.ok
    clock.advance(5)
    assert r2.execute(lambda a: a.hangup("call-101")).result.ok
    assert r.zscore(store.ended_key, "call-101") == clock.now()

    retried = r2.execute(lambda a: a.enqueue("call-101", "billing"))  # the caller's retry
    assert retried.result.error is not None
    assert retried.result.error.code is ErrorCode.CALL_EXISTS
    assert "already ended" in retried.result.error.message
    assert not retried.commit_id  # nothing written
    assert r2.read(lambda a: a.agent_state(1)).value == "idle"
    assert _per_call(r, "call-101") == {
        "call.queued": 1,
        "call.ringing": 1,
        "call.answered": 1,
        "call.ended": 1,
    }
    store.close()


def test_a_new_leader_loads_the_ended_calls_and_refuses_the_retry(r: redis.Redis) -> None:
    store, clock = StateStore(r), ManualClock(1000.0)
    r1 = _lead(store, clock, "r1")
    r1.execute(lambda a: a.login(AGENT, seat=1, employee_id=1, role="agent"))
    r1.execute(lambda a: a.enqueue("c1", "billing"))
    r1.execute(lambda a: a.answered("c1", 1))
    r1.execute(lambda a: a.hangup("c1"))  # committed, then r1 steps down
    r1.step_down()
    _die(r)

    r2 = _lead(store, clock, "r2")
    assert r2.read(lambda a: a.ended_at("c1")) == 1000.0
    for command in (
        lambda a: a.enqueue("c1", "billing"),
        lambda a: a.reserve_for_internal_call(1, "c1"),
    ):
        refused = r2.execute(command).result.error
        assert refused is not None and refused.code is ErrorCode.CALL_EXISTS
    gone = r2.execute(lambda a: a.answered("c1", 1)).result.error
    assert gone is not None and gone.code is ErrorCode.UNKNOWN_CALL
    assert gone.message == "call 'c1' already ended"
    assert _per_call(r, "c1")["call.queued"] == 1
    store.close()


def test_ended_calls_expire_in_redis_and_on_a_new_leader(r: redis.Redis) -> None:
    store, clock = StateStore(r), ManualClock(1000.0)
    r1 = _lead(store, clock, "r1", retention=60.0)
    r1.execute(lambda a: a.login(AGENT, seat=1, employee_id=1, role="agent"))
    r1.execute(lambda a: a.enqueue("old", "billing"))
    r1.execute(lambda a: a.hangup("old"))
    clock.advance(30)
    r1.execute(lambda a: a.enqueue("new", "billing"))
    r1.execute(lambda a: a.hangup("new"))
    assert r.zcard(store.ended_key) == 2
    clock.advance(30)  # "old" ended one retention ago: the next commit trims it
    assert r1.execute(lambda a: a.heartbeat(1, "s1"), agents=[1]).commit_id
    assert r.zscore(store.ended_key, "old") is None
    assert r.zscore(store.ended_key, "new") == 1030.0
    r1.step_down()
    _die(r)

    r2 = _lead(store, clock, "r2", retention=60.0)
    assert r2.execute(lambda a: a.enqueue("old", "billing")).result.ok  # forgotten: new call
    refused = r2.execute(lambda a: a.enqueue("new", "billing")).result.error
    assert refused is not None and refused.code is ErrorCode.CALL_EXISTS
    assert r.zscore(store.ended_key, "old") is None  # live again, not "ended"
    store.reset()
    assert not r.exists(store.ended_key)
    store.close()


def test_a_call_ended_by_a_command_not_yet_committed_is_already_refused() -> None:
    """The leader's memory is checked, not Redis: an Enqueue applied while the Hangup
    that ended the call is still waiting for its group commit is refused too."""
    store = GatedStore()
    engine = Engine(_settings("n1"), store, clock=ManualClock(1000.0))  # type: ignore[arg-type]
    from acdsvc._store import LeaderInfo

    engine.take_over(LeaderInfo("n1", "x", 1, "v"))
    engine.execute(lambda a: a.enqueue("c1", "billing"))
    store.gate.clear()
    store.entered.clear()
    out: dict[str, object] = {}
    hangup = threading.Thread(
        target=lambda: out.__setitem__("hangup", engine.execute(lambda a: a.hangup("c1")))
    )
    hangup.start()
    assert store.entered.wait(5)  # the hangup is applied; its commit is held open
    retry = threading.Thread(
        target=lambda: out.__setitem__(
            "retry", engine.execute(lambda a: a.enqueue("c1", "billing"))
        )
    )
    retry.start()
    hangup.join(0.2)
    assert not out  # nobody replies before the hangup is committed
    store.gate.set()
    hangup.join(5)
    retry.join(5)
    refused = out["retry"].result.error  # type: ignore[attr-defined]
    assert refused is not None and refused.code is ErrorCode.CALL_EXISTS
    assert store.batches[-1][-1].ended == {"c1": 1000.0}


def test_rpcs_on_an_ended_call_over_grpc(make_replica: ReplicaFactory, r: redis.Redis) -> None:
    client = AcdClient(make_replica().address)
    client.login(
        pb.LoginRequest(
            username="a1001",
            password=password_of("a1001"),
            seat=1,
            employee_id=1001,
            role=pb.ROLE_AGENT,
        )
    )
    client.login(
        pb.LoginRequest(
            username="a1002",
            password=password_of("a1002"),
            seat=2,
            employee_id=1002,
            role=pb.ROLE_AGENT,
        )
    )
    offer = client.enqueue(pb.EnqueueRequest(call_id="c1", queue="billing")).actions[0].offer
    assert (
        client.answered(pb.AnsweredRequest(call_id="c1", employee_id=offer.employee_id)).error.code
        == OK
    )
    assert client.hangup(pb.HangupRequest(call_id="c1")).error.code == OK
    assert r.zscore("acd:ended", "c1") is not None

    again = client.enqueue(pb.EnqueueRequest(call_id="c1", queue="billing"))
    assert again.error.code == pb.ERROR_CODE_CALL_EXISTS and not again.actions
    assert "already ended" in again.error.message
    internal = client.reserve_for_internal_call(
        pb.ReserveForInternalCallRequest(employee_id=1002, call_id="c1")
    )
    assert internal.error.code == pb.ERROR_CODE_CALL_EXISTS
    for reply in (
        client.answered(pb.AnsweredRequest(call_id="c1", employee_id=offer.employee_id)),
        client.no_answer(pb.NoAnswerRequest(call_id="c1", employee_id=offer.employee_id)),
        client.hangup(pb.HangupRequest(call_id="c1")),
        client.abandon(pb.AbandonRequest(call_id="c1")),
        client.transfer_to_queue(pb.TransferToQueueRequest(call_id="c1", queue="billing")),
        client.transfer_to_agent(pb.TransferToAgentRequest(call_id="c1", employee_id=1002)),
    ):
        assert reply.error.code == pb.ERROR_CODE_UNKNOWN_CALL
        assert reply.error.message == "call 'c1' already ended"
    assert {a.state for a in client.get_snapshot().agents} == {pb.AGENT_STATE_IDLE}
    assert client.get_snapshot().queues[0].waiting == 0


def test_retention_is_configurable(tmp_path: Path, r: redis.Redis) -> None:
    path = write_config(tmp_path / "c.yaml", "127.0.0.1:6379", ended_call_retention_ms=90_000)
    assert settings_from_config(load_config(path)).acd.ended_call_retention == 90.0
    default = write_config(tmp_path / "d.yaml", "127.0.0.1:6379")
    assert settings_from_config(load_config(default)).acd.ended_call_retention == 600.0
