"""The core's derived indexes (idle agents per queue, the timer heap) against brute force.

`BruteForceAcd` is the core with its indexed look-ups replaced by the scans the
core used before it had indexes: every idle agent filtered and sorted per
selection, every agent and call scanned for due timers. Random command
sequences must give identical results, events, actions and states on both.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from acd import Acd, AgentRecord, AgentState, CallState, ManualClock, QueueConfig, Result
from acd._index import IdlePool, TimerEntry, TimerIndex
from acd._records import CallRecord
from tests.acd.acd_testkit import ADMIN, account, default_config, login


class BruteForceAcd(Acd):
    """The reference: scans instead of indexes (the pre-index implementation)."""

    def _staffed(self, queue: QueueConfig) -> bool:
        return any(self._qualifies(a, queue) for a in self._agents.values())

    def _staffed_for(self, call: CallRecord, queue: QueueConfig) -> bool:
        return any(
            self._qualifies(a, queue) and self._meets(a, call.skills) for a in self._agents.values()
        )

    def _can_serve(self, call: CallRecord, queue: QueueConfig) -> bool:
        idle = (self._agents[eid] for eid in self._idle)
        return any(self._qualifies(a, queue) and self._meets(a, call.skills) for a in idle)

    def _offer(self, call: CallRecord, queue: QueueConfig) -> bool:
        idle = (self._agents[eid] for eid in self._idle)
        eligible = [a for a in idle if self._qualifies(a, queue) and self._meets(a, call.skills)]
        if not eligible:
            return False
        pool = [a for a in eligible if a.employee_id not in call.tried] or eligible
        pool.sort(key=lambda a: (a.idle_since, a.employee_id))
        memory = self._memory.setdefault(queue.name, {})
        chosen = self._strategies[queue.strategy](pool, self._needs(call, queue), memory)
        ids = [a.employee_id for a in chosen]
        if not chosen or len(set(ids)) != len(ids) or not {*ids} <= {a.employee_id for a in pool}:
            return False
        self._unqueue(call)
        self._ring(call, list(chosen))
        return True

    def _due_timers(self, horizon: float) -> list[TimerEntry]:
        timers: list[TimerEntry] = []
        for a in self._agents.values():
            if a.after_call != "logout" and a.lease_until <= horizon:
                timers.append((a.lease_until, 0, str(a.employee_id), "lease", a.employee_id))
            wrap_until = a.wrap_until if a.state is AgentState.WRAP_UP else None
            if wrap_until is not None and wrap_until <= horizon:
                timers.append((wrap_until, 2, str(a.employee_id), "wrap", a.employee_id))
        for c in self._calls.values():
            if c.state is CallState.RINGING and c.ring_started is not None:
                deadline = c.ring_started + self._ring_timeout(c)
                if deadline <= horizon:
                    timers.append((deadline, 1, c.call_id, "ring", c.call_id))
            elif c.state is CallState.QUEUED and c.queue is not None:
                max_wait = self._queues[c.queue].max_wait
                if max_wait is not None and c.enqueued + max_wait <= horizon:
                    timers.append((c.enqueued + max_wait, 3, c.call_id, "wait", c.call_id))
        timers.sort(key=lambda t: (t[0], t[1], t[2]))
        return timers

    def _timers_applied(self, due: list[TimerEntry]) -> None:
        pass

    def next_deadline(self) -> float | None:
        due = self._due_timers(float("inf"))
        return min(t[0] for t in due) if due else None


def picky(candidates: Sequence[AgentRecord], queue: QueueConfig, memory: dict) -> list[AgentRecord]:
    """A custom strategy: declines now and then, sometimes names a stranger, else the
    second longest idle; exercises the core's checks of what a strategy returns."""
    n = int(memory.get("n", 0) or 0) + 1
    memory["n"] = n
    if n % 7 == 0:
        return []
    if n % 11 == 0:
        fake = AgentRecord(**{**candidates[0].to_dict(), "employee_id": 1, "state": "idle"})
        return [fake]
    return list(candidates[1:2] or candidates[:1])


QUEUES = (
    QueueConfig(
        "billing",
        skills={"billing": 1},
        strategy="longest_idle",
        wrap_up=4,
        ring_timeout=8,
        max_wait=40,
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
    QueueConfig("vip", skills={"billing": 3}, strategy="skill_level_first", wrap_up=2),
    QueueConfig(
        "sales", skills={"sales": 1}, strategy="fewest_calls", ring_timeout=5, honour_priority=False
    ),
    QueueConfig(
        "tech",
        skills={"sales": 1, "billing": 2},
        strategy="round_robin",
        ring_timeout=7,
        max_wait=30,
        overflow_queue="sales",
    ),
    QueueConfig("odd", skills={"general": 2}, strategy="picky", ring_timeout=4),
)
SKILLS = [
    {"billing": 3, "general": 2},
    {"billing": 1},
    {"general": 1},
    {"billing": 4, "sales": 1},
    {"sales": 2, "billing": 2, "general": 2},
    {"general": 2, "sales": 1},
]

# A call's own requirements (mostly none): some met by a few agents, one by nobody.
CALL_SKILLS = [None, None, None, {"general": 2}, {"sales": 2}, {"billing": 4}, {"french": 1}]


def _outcome(r: Result) -> tuple[object, ...]:
    return (r.error, r.events, r.actions, r.session_id, r.deferred)


@pytest.mark.parametrize("seed", range(8))
def test_indexed_core_matches_brute_force(seed: int) -> None:
    rng = random.Random(1000 + seed)
    clock = ManualClock(0.0)
    config = default_config(*QUEUES, lease_seconds=50)
    from acd import BUILTIN_STRATEGIES

    strategies = {**BUILTIN_STRATEGIES, "picky": picky}
    # The twins must hand out the same session IDs: a fixed secret instead of a random one.
    fast = Acd(config, clock, strategies=strategies, session_secret=lambda: "x")
    slow = BruteForceAcd(config, clock, strategies=strategies, session_secret=lambda: "x")
    agents = list(range(1001, 1031))
    sessions: dict[int, str] = {}
    calls = [f"c{n}" for n in range(60)]
    for step in range(1500):
        clock.advance(rng.choice([0, 0, 0, 0.25, 0.5, 1, 2, 5, 9]))
        agent = rng.choice(agents)
        call = rng.choice(calls)
        op = rng.randrange(17)
        ringing = [c for c in calls if (fast.call(c) or {}).get("ringing")]

        def run(
            acd: Acd,
            *,
            op: int = op,
            agent: int = agent,
            call: str = call,
            ringing: list[str] = ringing,
            step: int = step,
        ) -> Result:
            r = random.Random(step)  # the same choices for both
            if op in (0, 1):
                return acd.login(
                    account(agent, roles=("agent", "supervisor"), skills=SKILLS[agent % 6]),
                    seat=agent - 1000,
                    employee_id=agent,
                    role=r.choice(["agent", "supervisor"]),
                    ready=r.random() < 0.8,
                )
            if op == 2:
                return acd.logout(agent)
            if op == 3:
                return acd.go_busy(agent, "BREAK")
            if op in (4, 5):
                return acd.go_idle(agent)
            if op in (6, 7, 8):
                return acd.enqueue(
                    call,
                    r.choice([q.name for q in QUEUES]),
                    priority=r.choice([0, 0, 1, 5]),
                    skills=r.choice(CALL_SKILLS),
                )
            if op in (9, 10) and ringing:
                c = r.choice(ringing)
                return acd.answered(c, r.choice(acd.call(c)["ringing"]))  # type: ignore[index]
            if op == 11 and ringing:
                c = r.choice(ringing)
                return acd.no_answer(c, r.choice(acd.call(c)["ringing"]))  # type: ignore[index]
            if op == 12:
                return acd.hangup(call)
            if op == 13:
                if r.random() < 0.5:
                    return acd.transfer(
                        call, to_queue=r.choice(["billing", "sales"]), front=r.random() < 0.5
                    )
                return acd.transfer(call, to_agent=agent)
            if op == 14:
                if r.random() < 0.5:
                    return acd.reserve_for_internal_call(agent, f"i{step}")
                return acd.force_busy(ADMIN, agent)
            if op == 15:
                if agent in sessions and r.random() < 0.7:
                    return acd.heartbeat(agent, sessions[agent])
                return acd.phone_presence(agent, reachable=r.random() < 0.7)
            if r.random() < 0.2:
                return acd.reconcile(c for c in calls if r.random() < 0.9)
            return acd.tick()

        a, b = run(fast), run(slow)
        assert _outcome(a) == _outcome(b), (step, op)
        if a.session_id:
            sessions[agent] = a.session_id
        assert fast.to_dict() == slow.to_dict(), (step, op)
        assert fast.next_deadline() == slow.next_deadline(), (step, op)
        assert fast.check_invariants() == [], (step, op)
        if step % 100 == 0:
            fast = Acd.from_dict(
                json.loads(json.dumps(fast.to_dict())),
                config,
                clock,
                strategies=strategies,
                session_secret=lambda: "x",
            )
            assert fast.check_invariants() == []
    assert slow.snapshot() == fast.snapshot()


def test_apply_config_rebuilds_the_indexes(clock: ManualClock) -> None:
    acd = Acd(default_config(QueueConfig("billing", skills={"billing": 1}, ring_timeout=15)), clock)
    login(acd, 1001, skills={"billing": 2})
    login(acd, 1002, skills={"billing": 1})
    acd.reserve_for_internal_call(1002, "i1")
    new = default_config(
        QueueConfig("billing", skills={"billing": 2}, ring_timeout=15),
        QueueConfig(
            "other", skills={"billing": 1}, ring_timeout=3, max_wait=5, overflow_target="voicemail"
        ),
    )
    assert acd.apply_config(new).ok
    assert acd.check_invariants() == []
    acd.enqueue("c1", "billing")
    assert [o.agent for o in acd.enqueue("c2", "other").offers()] == []  # 1001 is ringing
    assert acd.check_invariants() == []


def test_a_stale_index_is_reported(clock: ManualClock) -> None:
    acd = Acd(default_config(), clock)
    login(acd, 1001)
    login(acd, 1002)
    acd._idle_keys["billing"].pop()
    assert "idle index of queue billing out of step" in acd.check_invariants()
    acd = Acd(default_config(), clock)
    login(acd, 1001)
    acd._timer_index.set("lease", 1001, 5.0)
    assert "timer index out of step" in acd.check_invariants()


# ------------------------------------------------------------------ the structures


def _agent(eid: int, idle_since: float) -> AgentRecord:
    return AgentRecord(
        employee_id=eid,
        username=f"u{eid}",
        seat=eid,
        role="agent",
        skills={},
        session="s",
        state=AgentState.IDLE,
        since=0.0,
        lease_until=99.0,
        idle_since=idle_since,
    )


def test_idle_pool_is_a_sequence_in_key_order() -> None:
    agents = {e: _agent(e, t) for e, t in ((5, 1.0), (3, 2.0), (9, 2.0), (7, 0.5))}
    keys = sorted((a.idle_since, a.employee_id) for a in agents.values())
    pool = IdlePool(agents, keys)
    assert len(pool) == 4
    assert [a.employee_id for a in pool] == [7, 5, 3, 9]
    assert pool[0] is agents[7] and pool[-1] is agents[9]
    assert [a.employee_id for a in pool[1:3]] == [5, 3]
    assert agents[3] in pool and _agent(4, 1.0) not in pool and "x" not in pool
    assert pool.has(9) and not pool.has(4)
    assert not IdlePool(agents, [k for k in keys if k[1] != 3]).has(3)
    assert min(pool, key=lambda a: a.employee_id) is agents[3]
    assert next(reversed(pool)) is agents[9] and pool.index(agents[5]) == 1
    with pytest.raises(IndexError):
        pool[4]


def test_timer_index_orders_by_deadline_then_kind_then_id() -> None:
    ix = TimerIndex()
    ix.set("wait", "c1", 10.0)
    ix.set("lease", 1002, 10.0)
    ix.set("ring", "c0", 10.0)
    ix.set("lease", 999, 10.0)  # "1002" < "999" as text, as the core always sorted
    ix.set("wrap", 1001, 3.0)
    ix.set("ring", "c9", 50.0)
    assert ix.next() == 3.0
    due = ix.pop_due(10.0)
    assert [(e[3], e[4]) for e in due] == [
        ("wrap", 1001),
        ("lease", 1002),
        ("lease", 999),
        ("ring", "c0"),
        ("wait", "c1"),
    ]
    assert ix.next() == 50.0  # popped, but still pending until restored or changed
    ix.set("wrap", 1001, None)
    ix.set("lease", 1002, 40.0)
    ix.restore(due)
    assert ix.next() == 10.0
    assert {(e[3], e[4]) for e in ix.pop_due(10.0)} == {
        ("lease", 999),
        ("ring", "c0"),
        ("wait", "c1"),
    }
    assert ix.problems() != []  # popped and not restored: reported
    assert ix.deadlines() == {
        ("lease", 999): 10.0,
        ("ring", "c0"): 10.0,
        ("wait", "c1"): 10.0,
        ("lease", 1002): 40.0,
        ("ring", "c9"): 50.0,
    }


def test_timer_index_skips_stale_entries_and_compacts() -> None:
    ix = TimerIndex()
    for n in range(2000):
        ix.set("ring", "c", float(n + 1))  # every set leaves the previous entry stale
        ix.set("lease", n % 3, float(n + 1))
    assert len(ix) == 4 and ix.problems() == []
    assert len(ix._heap) <= 2 * len(ix) + 256 + 1
    assert ix.pop_due(1997.0) == []
    assert ix.pop_due(1998.0) == [(1998.0, 0, "2", "lease", 2)]
    assert [e[4] for e in ix.pop_due(3000.0)] == [0, 1, "c"]
    ix.set("lease", 1, None)
    ix.set("lease", 1, 5.0)  # same deadline as a stale entry still in the heap
    ix.set("lease", 1, 6.0)
    ix.set("lease", 1, 5.0)
    assert ix.pop_due(10.0) == [(5.0, 0, "1", "lease", 1)]  # once, though pushed twice
