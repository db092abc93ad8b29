"""Two replicas on one Redis under concurrent load, and a replica killed mid-load.

Checks are made on what the replicas wrote, not on what they said: the call
event log (one total order, written in the same Lua commit as the state), the
action stream seen by a watcher, and the final state re-read from Redis.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import redis

import eventlog
from acd import Acd
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from acdsvc import StateStore, settings_from_config
from configuration import load_config
from simulators.acd_agent import AgentProfile, SimulatedAgents
from testbed import wait_until
from tests.acdsvc.conftest import ReplicaProcess, password_of

OK = pb.ERROR_CODE_UNSPECIFIED
AGENTS = 8
CALLS = 300
CALLERS = 4


class Load:
    """Callers hammering Enqueue on both replicas; simulated agents answer and hang up."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.acked: set[str] = set()
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self.offers: list[pb.Action] = []
        self.observer = AcdClient(addresses).actions(self._observe)
        profiles = [
            AgentProfile(
                f"a{eid}",
                password_of(f"a{eid}"),
                eid,
                eid - 1000,
                answer_delay=0.0,
                hold=(0.002, 0.02),
            )
            for eid in range(1001, 1001 + AGENTS)
        ]
        self.agents = SimulatedAgents(AcdClient(addresses), profiles).start()
        assert all(a.session for a in self.agents.agents.values())
        self.callers = [
            threading.Thread(target=self._call, args=(i,), daemon=True) for i in range(CALLERS)
        ]

    def _observe(self, action: pb.Action) -> None:
        if action.WhichOneof("kind") in ("offer", "cancel_ring"):
            self.offers.append(action)

    def _call(self, index: int) -> None:
        # Half the callers start on each replica; each fails over to the other.
        order = self.addresses[index % 2 :] + self.addresses[: index % 2]
        client = AcdClient(order, retry_for=20)
        while True:
            n = next(self._ids)
            if n >= CALLS:
                return
            call_id = f"call-{n}"
            try:
                reply = client.enqueue(
                    pb.EnqueueRequest(call_id=call_id, queue="billing", caller=f"1380000{n:04d}")
                )
            except Exception as exc:
                with self._lock:
                    self.failed.append(f"{call_id}: {exc}")
                continue
            # CALL_EXISTS: a retry of an Enqueue whose first attempt was committed.
            if reply.error.code == OK or (
                reply.error.code == pb.ERROR_CODE_CALL_EXISTS and client.retries
            ):
                with self._lock:
                    self.acked.add(call_id)

    def start(self) -> None:
        for thread in self.callers:
            thread.start()

    def join(self) -> None:
        for thread in self.callers:
            thread.join(timeout=60)

    def stop(self) -> None:
        self.agents.stop(logout=False)
        self.observer.close()


def _state(config: Path, r: redis.Redis) -> Acd:
    settings = settings_from_config(load_config(config))
    data = StateStore(r).load()
    assert data is not None
    return Acd.from_dict(data, settings.acd, _Clock())  # from_dict checks the invariants


class _Clock:
    def now(self) -> float:
        import time

        return time.time()


def _check_log(r: redis.Redis, acked: set[str]) -> dict[int, list[str]]:
    """One call per agent at any time, in the total order of the event log.

    Returns each agent's rung calls in order, for comparison with the action stream.
    """
    holding: dict[int, str | None] = defaultdict(lambda: None)
    rung: dict[int, list[str]] = defaultdict(list)
    ended: dict[str, int] = defaultdict(int)
    for delivery in eventlog.replay(r):
        e = delivery.event
        if e.kind == "agent.state":
            # The log names agents by account, a<employee ID> here (conftest).
            agent, to = int(e["agent"].removeprefix("a")), e["state"]
            if to == "reserved":
                assert e["previous"] == "idle", e
                assert holding[agent] is None, (
                    f"agent {agent} offered {e.correlation_id} while holding {holding[agent]}"
                )
                holding[agent] = e.correlation_id
                rung[agent].append(e.correlation_id)
            elif to == "talking":
                assert holding[agent] == e.correlation_id, e
            else:
                holding[agent] = None
        elif e.kind == "call.ended":
            ended[e.correlation_id] += 1
    lost = sorted(acked - set(ended))
    assert not lost, f"calls never ended: {lost[:10]} ({len(lost)})"
    assert all(n == 1 for n in ended.values()), "a call ended twice"
    return rung


def _check_actions(offers: list[pb.Action], rung: dict[int, list[str]]) -> None:
    """The watcher saw exactly the offers the log records, in the same order per agent."""
    seen: dict[int, list[str]] = defaultdict(list)
    for action in offers:
        if action.WhichOneof("kind") == "offer":
            seen[action.offer.employee_id].append(action.offer.call_id)
    assert dict(seen) == dict(rung)


def _settled(config: Path, r: redis.Redis) -> Callable[[], bool]:
    def check() -> bool:
        acd = _state(config, r)
        snap = acd.snapshot()
        return (
            not snap["queues"][0]["waiting"]
            and all(a["state"] == "idle" for a in snap["agents"])
            and len(snap["agents"]) == AGENTS
            and not any(q["ringing"] or q["talking"] for q in snap["queues"])
        )

    return check


def test_two_replicas_under_load_never_give_an_agent_two_calls(
    spawn_replica: Callable[..., ReplicaProcess], config_path: Path, r: redis.Redis
) -> None:
    replicas = [spawn_replica("r1"), spawn_replica("r2")]
    load = Load([p.address for p in replicas])
    try:
        load.start()
        load.join()
        assert not load.failed
        assert len(load.acked) == CALLS
        wait_until(_settled(config_path, r), timeout=30, what="every call served")
        wait_until(lambda: load.agents.stats.hung_up >= CALLS, timeout=10, what="agents to hang up")
    finally:
        load.stop()
    rung = _check_log(r, load.acked)
    _check_actions(load.offers, rung)
    assert sum(len(calls) for calls in rung.values()) >= CALLS
    assert not load.agents.stats.refused, load.agents.stats.refused


def test_replica_killed_mid_load_loses_no_call_and_strands_no_agent(
    spawn_replica: Callable[..., ReplicaProcess], config_path: Path, r: redis.Redis
) -> None:
    leader = spawn_replica("r1")
    survivor = spawn_replica("r2")
    assert AcdClient(leader.address).get_snapshot().node == "r1"
    load = Load([leader.address, survivor.address])
    try:
        load.start()
        wait_until(lambda: len(load.acked) >= CALLS // 3, timeout=30, what="load under way")
        leader.kill()
        load.join()
        assert not load.failed
        wait_until(_settled(config_path, r), timeout=30, what="every call served")
    finally:
        load.stop()
    assert AcdClient(survivor.address).get_snapshot().node == "r2"
    assert len(load.acked) == CALLS
    rung = _check_log(r, load.acked)
    _check_actions(load.offers, rung)
    assert load.observer.reconnects >= 1  # the watcher was on the killed replica
    # Refusals allowed only as fail-over echoes of commands the dead leader carried out
    # or a ring timeout that fired while no leader could take the answer.
    allowed = {
        "answered:ERROR_CODE_NOT_RINGING",
        "answered:ERROR_CODE_CALL_ALREADY_ANSWERED",
        "hangup:ERROR_CODE_UNKNOWN_CALL",
        "answered:ERROR_CODE_UNKNOWN_CALL",
    }
    assert set(load.agents.stats.refused) <= allowed, load.agents.stats.refused


def test_timers_still_fire_after_the_leader_dies(
    spawn_replica: Callable[..., ReplicaProcess], config_path: Path, r: redis.Redis
) -> None:
    leader = spawn_replica("r1")
    survivor = spawn_replica("r2")
    client = AcdClient([leader.address, survivor.address])
    reply = client.login(
        pb.LoginRequest(
            username="a1001",
            password=password_of("a1001"),
            seat=1,
            employee_id=1001,
            role=pb.ROLE_AGENT,
        )
    )
    assert reply.error.code == OK
    offer = client.enqueue(pb.EnqueueRequest(call_id="c1", queue="billing")).actions[0].offer
    assert offer.employee_id == 1001
    leader.kill()
    # Nobody answers: the survivor's ticker applies the 2 s ring timeout (then re-offers).
    wait_until(
        lambda: any(
            d.event.kind == "call.no_answer" and d.event.node.startswith("r2")
            for d in eventlog.replay(r)
        ),
        timeout=8,
        what="ring timeout applied by r2",
    )
