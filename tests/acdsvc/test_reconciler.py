"""Reconcile: the leader ends the calls a controller replica lost (acdsvc/_reconciler.py).

The decision is pure and tested as such first. Then a real replica (in this process)
and a real Redis, with the controllers' side played by the real `CallRegistry`
(controller/_registry.py) fed a set of call IDs the test controls: the registry
record in Redis is the whole interface between a controller and the reconciler.
tests/controller/acd_driver/test_reconcile.py runs the same through real controller processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

import eventlog
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, ControllerRecord, make_source, split_source
from acdsvc import Replica
from acdsvc._reconciler import Lost, decide, judge
from controller._registry import CallRegistry, RegistryOptions
from testbed import wait_until
from tests.acdsvc.conftest import RedisServer, ReplicaFactory, password_of, write_config

OK = pb.ERROR_CODE_UNSPECIFIED
GRACE = 10.0


def record(instance: str = "i1", *calls: str, stopped: bool = False) -> ControllerRecord:
    return ControllerRecord("ctl-a", instance, frozenset(calls), stopped=stopped)


# ---------------------------------------------------------------- the decision (pure)


def test_judge_names_why_a_call_is_missing_and_who_writes_its_end() -> None:
    source = make_source("ctl-a", "i1")
    assert judge("c1", source, record("i1", "c1")) is None
    # No record for the source: its process died (or was restarted: a new process has
    # a record of its own).
    assert judge("c1", source, None) == ("reconciled: controller ctl-a gone", True)
    # The controller ended (and logged) these calls itself; only the agent is left to free.
    assert judge("c1", source, record("i1", "c2")) == (
        "reconciled: call not at controller ctl-a",
        False,
    )
    assert judge("c1", source, record("i1", stopped=True)) == (
        "reconciled: controller ctl-a stopped",
        False,
    )
    assert split_source("ctl#a#i1") == ("ctl#a", "i1")
    assert split_source("ctl-a") == ("ctl-a", "")


def test_a_call_is_ended_at_the_second_check_in_a_row_it_is_missing() -> None:
    calls = [("c1", "ctl-a#i1", 0.0)]
    lost, strikes = decide(calls, {"ctl-a#i1": None}, now=100.0, grace_s=GRACE, strikes={})
    assert (lost, strikes) == ([], {"c1": 1})
    lost, strikes = decide(calls, {"ctl-a#i1": None}, now=105.0, grace_s=GRACE, strikes=strikes)
    assert lost == [Lost("c1", "ctl-a#i1", "reconciled: controller ctl-a gone", True)]
    assert strikes == {}


def test_a_call_seen_again_starts_from_zero() -> None:
    calls = [("c1", "ctl-a#i1", 0.0)]
    _, strikes = decide(calls, {"ctl-a#i1": record("i1")}, now=100.0, grace_s=GRACE, strikes={})
    assert strikes == {"c1": 1}
    _, strikes = decide(
        calls, {"ctl-a#i1": record("i1", "c1")}, now=105.0, grace_s=GRACE, strikes=strikes
    )
    assert strikes == {}
    lost, strikes = decide(
        calls, {"ctl-a#i1": record("i1")}, now=110.0, grace_s=GRACE, strikes=strikes
    )
    assert (lost, strikes) == ([], {"c1": 1})


def test_young_calls_and_unreadable_records_are_not_judged() -> None:
    young = [("c1", "ctl-a#i1", 95.0)]  # arrived 5 s ago, grace 10 s
    lost, strikes = decide(young, {"ctl-a#i1": None}, now=100.0, grace_s=GRACE, strikes={})
    assert (lost, strikes) == ([], {})
    # A source left out of the records: its record could not be read. No verdict, and
    # the count starts again (a strike needs a record that says the call is missing).
    old = [("c1", "ctl-a#i1", 0.0)]
    lost, strikes = decide(old, {}, now=100.0, grace_s=GRACE, strikes={"c1": 1})
    assert (lost, strikes) == ([], {})


def test_only_the_dead_controllers_calls_are_lost() -> None:
    calls = [("a1", "ctl-a#i1", 0.0), ("b1", "ctl-b#j1", 0.0), ("b2", "ctl-b#j1", 0.0)]
    records = {
        "ctl-a#i1": None,
        "ctl-b#j1": ControllerRecord("ctl-b", "j1", frozenset({"b1", "b2"})),
    }
    lost, _ = decide(calls, records, now=100.0, grace_s=GRACE, strikes={"a1": 1})
    assert [item.call_id for item in lost] == ["a1"]


def test_records_round_trip_and_bad_ones_are_refused() -> None:
    original = ControllerRecord("ctl-a", "i1", frozenset({"c1", "c2"}), started=1.5, ts=2.5)
    assert ControllerRecord.decode(original.encode()) == original
    assert ControllerRecord.decode(original.encode().encode()) == original  # bytes from Redis
    for bad in (
        "",
        "[]",
        '{"v": 2}',
        '{"v": 1, "node": "x"}',
        '{"v": 1, "node": "x", "instance": "i", "calls": [1]}',
    ):
        with pytest.raises(ValueError, match=r"record|version|object|calls"):
            ControllerRecord.decode(bad)


# ---------------------------------------------------------------- a real replica


INTERVAL_MS = 200
GRACE_MS = 600
WRAP_UP_MS = 400


@dataclass
class Rig:
    replica: Replica
    client: AcdClient
    r: redis.Redis
    redis_server: RedisServer
    registries: list[CallRegistry] = field(default_factory=list)

    def registry(self, calls: set[str], node: str = "ctl-x") -> CallRegistry:
        """A controller's registry on a 0.2 s heartbeat, listing `calls` (read each beat)."""
        registry = CallRegistry(
            self.redis_server.client(),
            node=node,
            options=RegistryOptions(heartbeat_s=0.2, ttl_s=0.6),
        )
        registry.start(lambda: list(calls), lambda fn: fn())
        self.registries.append(registry)
        return registry

    def login(self, eid: int, *, busy: bool = False) -> None:
        reply = self.client.login(
            pb.LoginRequest(
                username=f"a{eid}",
                password=password_of(f"a{eid}"),
                seat=eid - 1000,
                employee_id=eid,
                role=pb.ROLE_AGENT,
                start_busy=busy,
            )
        )
        assert reply.error.code == OK, reply.error

    def talking(self, cid: str, eid: int, source: str) -> None:
        """Enqueue with `source`; the idle agent `eid` is offered the call and answers."""
        reply = self.client.enqueue(pb.EnqueueRequest(call_id=cid, queue="billing", source=source))
        assert reply.error.code == OK, reply.error
        assert [a.offer.employee_id for a in reply.actions] == [eid]
        answered = self.client.answered(pb.AnsweredRequest(call_id=cid, employee_id=eid))
        assert answered.error.code == OK, answered.error
        assert self.state(eid) == "TALKING"

    def state(self, eid: int) -> str:
        for agent in self.client.get_snapshot().agents:
            if agent.employee_id == eid:
                return pb.AgentState.Name(agent.state).removeprefix("AGENT_STATE_")
        return "LOGGED_OUT"

    def wait_state(self, eid: int, state: str, timeout: float = 5.0) -> None:
        wait_until(
            lambda: self.state(eid) == state,
            timeout=timeout,
            what=f"agent {eid} {state} (now {self.state(eid)})",
        )

    def checks_pass(self, count: int) -> None:
        """Wait for `count` more reconcile checks: a positive sign the reconciler looked."""
        reconciler = self.replica.reconciler
        assert reconciler is not None
        target = reconciler.checks + count
        wait_until(
            lambda: reconciler.checks >= target,
            timeout=count * 1.0 + 5,
            what=f"{count} reconcile checks",
        )

    def log(self, cid: str) -> list[eventlog.Event]:
        return [d.event for d in eventlog.replay(self.r) if d.event.correlation_id == cid]


@pytest.fixture
def rig(
    tmp_path: Path, redis_server: RedisServer, r: redis.Redis, make_replica: ReplicaFactory
) -> Iterator[Rig]:
    path = write_config(
        tmp_path / "reconcile.yaml",
        redis_server.address,
        agents=3,
        queues=[
            {
                "name": "billing",
                "skills": {"billing": 1},
                "ring_timeout_ms": 5000,
                "wrap_up_ms": WRAP_UP_MS,
                "max_no_answers": 0,
            }
        ],
        call_events="controller",
        reconcile_interval_ms=INTERVAL_MS,
        reconcile_grace_ms=GRACE_MS,
    )
    replica = make_replica(path)
    client = AcdClient(replica.address, timeout=2.0, retry_for=5.0)
    rig = Rig(replica, client, r, redis_server)
    yield rig
    for registry in rig.registries:
        registry.stop(final=False)
    client.close()


def ends(events: list[eventlog.Event]) -> list[tuple[str, str, str]]:
    return [(e.node, e["cause"], e["side"]) for e in events if e.kind == "call.ended"]


def wraps(events: list[eventlog.Event]) -> list[tuple[str, str, str]]:
    return [
        (e["previous"], e["state"], e["reason"])
        for e in events
        if e.kind == "agent.state" and e["previous"] == "talking"
    ]


def test_a_live_controller_keeps_its_call_and_a_dead_ones_call_ends(rig: Rig) -> None:
    rig.login(1001)
    rig.login(1002)
    calls = {"call-x"}  # the controller has the call before it enqueues it
    registry = rig.registry(calls)
    rig.talking("call-x", 1001, registry.source)
    rig.talking("call-free", 1002, "")  # a client without a registry (simulated agents)

    # Alive: well past the grace and two strikes' worth of checks, nothing changes.
    rig.checks_pass(3 * (GRACE_MS // INTERVAL_MS))
    assert rig.state(1001) == "TALKING"

    registry.stop(final=False)  # SIGKILL as Redis sees it: no more writes, the TTL runs
    died = time.monotonic()
    rig.wait_state(1001, "WRAP_UP")
    # TTL 0.6 s, then missing at two checks 0.2 s apart (each up to 0.2 s late).
    assert time.monotonic() - died < 0.6 + 3 * 0.2 + 1.0
    rig.wait_state(1001, "IDLE")
    log = rig.log("call-x")
    # Nobody else can write this call's end: the ACD does, for the dead controller.
    assert ends(log) == [(rig.replica.settings.node, "reconciled: controller ctl-x gone", "system")]
    assert wraps(log) == [("talking", "wrap_up", "reconciled: controller ctl-x gone")]
    # The call without a source is never touched, whatever the registry says.
    rig.checks_pass(3)
    assert rig.state(1002) == "TALKING"
    assert ends(rig.log("call-free")) == []


def test_a_call_its_live_controller_no_longer_has_is_ended_without_a_second_end(rig: Rig) -> None:
    rig.login(1001)
    calls = {"call-y"}
    registry = rig.registry(calls)
    rig.talking("call-y", 1001, registry.source)
    rig.checks_pass(2 * (GRACE_MS // INTERVAL_MS))
    assert rig.state(1001) == "TALKING"

    calls.discard("call-y")  # the call ended at the controller; its Hangup never came
    rig.wait_state(1001, "WRAP_UP")
    rig.wait_state(1001, "IDLE")
    log = rig.log("call-y")
    # The controller wrote call.ended when the call ended: the ACD writes none.
    assert ends(log) == []
    assert wraps(log) == [("talking", "wrap_up", "reconciled: call not at controller ctl-x")]
    assert registry.writes > 0  # the record was alive all along


def test_a_restarted_controllers_old_calls_end_and_a_stopped_ones_too(rig: Rig) -> None:
    rig.login(1001)
    rig.login(1002)
    old_calls = {"call-old"}
    old = rig.registry(old_calls)
    rig.talking("call-old", 1001, old.source)
    old.stop(final=False)
    # Restarted at once under the same node: a new process, with a record of its own
    # (two processes under one name never overwrite each other's), while the old
    # one's runs out.
    new_calls = {"call-new"}
    new = rig.registry(new_calls)
    assert new.key != old.key and (new.node, new.instance) != (old.node, old.instance)
    rig.talking("call-new", 1002, new.source)
    rig.wait_state(1001, "WRAP_UP")
    assert ends(rig.log("call-old")) == [
        (rig.replica.settings.node, "reconciled: controller ctl-x gone", "system")
    ]
    assert rig.state(1002) == "TALKING"

    # A clean stop ended and logged the call itself (the Hangup was lost here): the
    # `stopped` record says so, and the ACD frees the agent without a second end.
    new.stop()
    rig.wait_state(1002, "WRAP_UP")
    assert ends(rig.log("call-new")) == []
    assert wraps(rig.log("call-new")) == [
        ("talking", "wrap_up", "reconciled: controller ctl-x stopped")
    ]


def test_a_queued_call_of_a_dead_controller_is_not_judged_within_the_grace(
    tmp_path: Path, redis_server: RedisServer, r: redis.Redis, make_replica: ReplicaFactory
) -> None:
    grace = 2.0
    path = write_config(
        tmp_path / "grace.yaml",
        redis_server.address,
        agents=1,
        call_events="controller",
        reconcile_interval_ms=INTERVAL_MS,
        reconcile_grace_ms=int(grace * 1000),
    )
    leader = make_replica(path)
    follower = make_replica(path)
    assert leader.engine.is_leader and not follower.engine.is_leader
    client = AcdClient(leader.address)
    try:
        reply = client.login(
            pb.LoginRequest(
                username="a1001",
                password=password_of("a1001"),
                seat=1,
                employee_id=1001,
                role=pb.ROLE_AGENT,
                start_busy=True,
            )
        )  # staffed but busy: the call waits
        assert reply.error.code == OK
        # A controller that never wrote a record (died at once): gone from the start.
        enqueued = time.monotonic()
        assert (
            client.enqueue(
                pb.EnqueueRequest(call_id="call-q", queue="billing", source="ctl-dead#i1")
            ).error.code
            == OK
        )
        assert leader.reconciler is not None and follower.reconciler is not None
        target = leader.reconciler.checks + 5  # 1 s of checks, all within the grace
        wait_until(
            lambda: leader.reconciler is not None and leader.reconciler.checks >= target,
            timeout=6,
            what="five checks",
        )
        assert client.get_snapshot().queues[0].waiting == 1
        wait_until(
            lambda: client.get_snapshot().queues[0].waiting == 0,
            timeout=grace + 5,
            what="the dead controller's queued call removed",
        )
        assert time.monotonic() - enqueued >= grace
        (ended,) = [
            d.event
            for d in eventlog.replay(r)
            if d.event.correlation_id == "call-q" and d.event.kind == "call.ended"
        ]
        assert (ended["cause"], ended["side"]) == ("reconciled: controller ctl-dead gone", "system")
        assert follower.reconciler.checks == 0  # only the leader checks
    finally:
        client.close()


def test_an_unreadable_record_is_reported_and_its_calls_left_alone(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.login(1001)
    rig.talking("call-z", 1001, "ctl-bad#i1")
    rig.r.set("acd:controllers:ctl-bad#i1", "not json")
    rig.checks_pass(3 * (GRACE_MS // INTERVAL_MS))
    assert rig.state(1001) == "TALKING"
    assert any("controller ctl-bad#i1: bad controller record" in m for m in caplog.messages)
    rig.r.delete("acd:controllers:ctl-bad#i1")  # now it is gone
    rig.wait_state(1001, "WRAP_UP")


def test_a_registry_whose_loop_does_not_answer_lets_its_record_expire(
    redis_server: RedisServer, r: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The record says "this replica's SIP loop is alive": a loop that never runs the
    registry's read (wedged) gets no more writes, so the ACD will take it for dead."""
    registry = CallRegistry(
        redis_server.client(), node="ctl-w", options=RegistryOptions(heartbeat_s=0.2, ttl_s=0.6)
    )
    registry.start(lambda: ["c1"], lambda fn: None)  # posted reads never run
    try:
        first = r.get(registry.key)
        assert first is not None  # written at start, on the loop's own thread
        assert ControllerRecord.decode(first).calls == {"c1"}
        wait_until(lambda: not r.exists(registry.key), timeout=5, what="the record expires")
        assert registry.writes == 1
        assert any("SIP loop did not list its calls" in m for m in caplog.messages)
    finally:
        registry.stop(final=False)
