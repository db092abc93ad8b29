"""The state round-trips through JSON, and random command sequences keep it consistent."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from acd import Acd, ManualClock, MonitorScope, QueueConfig, Result
from tests.acd.acd_testkit import ADMIN, account, default_config, login

QUEUES = (
    QueueConfig(
        "billing",
        skills={"billing": 1},
        strategy="round_robin",
        wrap_up=10,
        ring_timeout=8,
        max_wait=90,
        overflow_queue="general",
        max_no_answers=2,
    ),
    QueueConfig(
        "general",
        skills={"general": 1},
        strategy="ring_all",
        ring_timeout=6,
        max_wait=60,
        overflow_target="voicemail",
    ),
    QueueConfig("vip", skills={"billing": 3}, strategy="skill_level_first"),
)


def busy_state(make_acd: Callable[..., Acd], clock: ManualClock) -> Acd:
    acd = make_acd(*QUEUES, lease_seconds=120)
    login(acd, 1001, skills={"billing": 3, "general": 1})
    login(acd, 1002, skills={"billing": 1})
    login(acd, 1003, skills={"general": 1}, role="supervisor")
    login(acd, 1004, skills={"billing": 1, "general": 1}, ready=False)
    acd.enqueue("c1", "billing", caller="138", category="bill", priority=2)
    acd.enqueue("c2", "general")
    acd.answered("c1", 1001)
    acd.enqueue("c3", "billing")
    acd.enqueue("c4", "billing", priority=1)
    acd.phone_presence(1004, reachable=False)
    acd.logout(1001)  # deferred
    clock.advance(3)
    return acd


def test_round_trip_through_json(make_acd: Callable[..., Acd], clock: ManualClock) -> None:
    acd = busy_state(make_acd, clock)
    data = acd.to_dict()
    text = json.dumps(data)
    again = Acd.from_dict(json.loads(text), acd.config, clock)
    assert again.to_dict() == data
    assert again.snapshot() == acd.snapshot()
    assert again.next_deadline() == acd.next_deadline()


def test_restored_state_behaves_identically(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = busy_state(make_acd, clock)
    again = Acd.from_dict(json.loads(json.dumps(acd.to_dict())), acd.config, clock)

    def script(a: Acd) -> list[Result]:
        return [
            a.hangup("c1"),
            a.enqueue("c5", "vip"),
            a.no_answer("c3", 1002),
            a.tick(),
            a.force_idle(ADMIN, 1004),
            a.phone_presence(1004, reachable=True),
        ]

    first, second = script(acd), script(again)
    assert [(r.error, r.events, r.actions) for r in first] == [
        (r.error, r.events, r.actions) for r in second
    ]
    assert acd.to_dict() == again.to_dict()


def test_records_are_flat_and_small(make_acd: Callable[..., Acd], clock: ManualClock) -> None:
    data = busy_state(make_acd, clock).to_dict()
    for record in data["agents"] + data["calls"]:
        for value in record.values():
            assert isinstance(value, (str, int, float, bool, type(None), list, dict))
            if isinstance(value, (list, dict)):  # only skills and agent-ID lists nest
                assert all(
                    not isinstance(v, (list, dict))
                    for v in (value.values() if isinstance(value, dict) else value)
                )


def test_bad_version_or_inconsistent_state_is_rejected(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = busy_state(make_acd, clock)
    data = acd.to_dict()
    with pytest.raises(ValueError, match="version"):
        Acd.from_dict({**data, "version": 99}, acd.config, clock)
    broken = json.loads(json.dumps(data))
    for agent in broken["agents"]:
        if agent["state"] == "talking":
            agent["call"] = None
    with pytest.raises(ValueError, match="inconsistent"):
        Acd.from_dict(broken, acd.config, clock)
    with pytest.raises(ValueError, match="unknown queue"):
        Acd.from_dict(data, default_config(QueueConfig("other")), clock)


@pytest.mark.parametrize("seed", range(6))
def test_random_commands_keep_the_state_consistent(seed: int) -> None:
    """No sequence of commands may break the invariants (an agent on two calls, a lost
    call, a stuck reservation), and the state must survive a JSON round-trip anywhere."""
    rng = random.Random(seed)
    clock = ManualClock(0.0)
    config = default_config(*QUEUES, lease_seconds=40, monitoring=True)
    acd = Acd(config, clock)
    agents = list(range(1001, 1009))
    skills = [{"billing": 3, "general": 1}, {"billing": 1}, {"general": 1}, {"billing": 4}]
    sessions: dict[int, str] = {}
    calls = [f"c{n}" for n in range(40)]
    for step in range(600):
        clock.advance(rng.choice([0, 0, 0.5, 1, 3, 7]))
        agent = rng.choice(agents)
        call = rng.choice(calls)
        op = rng.randrange(16)
        if op == 0:
            role = rng.choice(["agent", "supervisor"])
            result = acd.login(
                replace(
                    account(agent, roles=("agent", "supervisor"), skills=skills[agent % 4]),
                    team=rng.choice([None, "red"]),
                    supervises=MonitorScope(everyone=True),
                ),
                seat=agent - 1000,
                employee_id=agent,
                role=role,
                ready=rng.random() < 0.8,
            )
            if result.session_id:
                sessions[agent] = result.session_id
        elif op == 1:
            acd.logout(agent)
        elif op == 2:
            acd.go_busy(agent, "BREAK")
        elif op == 3:
            acd.go_idle(agent)
        elif op in (4, 5):
            acd.enqueue(
                call, rng.choice(["billing", "general", "vip"]), priority=rng.choice([0, 0, 1, 5])
            )
        elif op in (6, 7):
            ringing = [c for c in calls if (acd.call(c) or {}).get("ringing")]
            if ringing:
                c = rng.choice(ringing)
                acd.answered(c, rng.choice(acd.call(c)["ringing"]))  # type: ignore[index]
        elif op == 8:
            ringing = [c for c in calls if (acd.call(c) or {}).get("ringing")]
            if ringing:
                c = rng.choice(ringing)
                acd.no_answer(c, rng.choice(acd.call(c)["ringing"]))  # type: ignore[index]
        elif op == 9:
            acd.hangup(call)
        elif op == 10:
            target = rng.choice(["billing", "general"])
            acd.transfer(call, to_queue=target, front=rng.random() < 0.5)
        elif op == 11:
            if rng.random() < 0.5:
                acd.reserve_for_internal_call(agent, f"i{step}")
            else:
                acd.transfer(call, to_agent=agent)
        elif op == 12:
            if agent in sessions:
                acd.heartbeat(agent, sessions[agent])
            acd.phone_presence(agent, reachable=rng.random() < 0.7)
        elif op == 13:
            acd.reconcile(c for c in calls if rng.random() < 0.9)
        elif op == 14:
            talking = [c for c in calls if (acd.call(c) or {}).get("state") == "talking"]
            sups = [
                a
                for a in agents
                if (acd.agent(a) or {}).get("role") == "supervisor"
                and acd.agent(a)["state"] not in ("reserved", "talking")  # type: ignore[index]
            ]
            acd.monitor(
                ADMIN,
                str(rng.choice(sups or [agent])),
                call_id=rng.choice(talking or [call]),
                mode=rng.choice(["listen", "whisper", "barge"]),
            )
        else:
            live = [m["session_id"] for m in acd.monitor_sessions()]
            if live:
                sid = rng.choice(live)
                pick = rng.randrange(4)
                if pick == 0:
                    acd.switch_monitor(ADMIN, sid, rng.choice(["listen", "barge", "intercept"]))
                elif pick == 1:
                    acd.stop_monitor(ADMIN, sid)
                elif pick == 2:
                    acd.report_monitor(sid, "active", call_id=rng.choice(["", call]))
                else:
                    acd.report_monitor(sid, "ended", reason="supervisor_hangup")
        assert acd.check_invariants() == [], (step, op)
        if step % 50 == 0:
            restored = Acd.from_dict(json.loads(json.dumps(acd.to_dict())), config, clock)
            assert restored.to_dict() == acd.to_dict()
