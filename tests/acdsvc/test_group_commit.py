"""The engine's group commit: commands applied while a commit is in flight go out
together in the next script, in order; nobody replies before their commit; a failed
commit fails every command applied after it on the same state. A fake store, so the
batches can be held open and failed on purpose."""

from __future__ import annotations

import threading
import types
from collections.abc import Sequence

import pytest
import redis

from acd import Account, AcdConfig, ManualClock, QueueConfig
from acdsvc._engine import Engine, NotLeader, StoreUnavailable
from acdsvc._store import Change, Fenced, LeaderInfo


class GatedStore:
    """Commits block until released; each batch is recorded; failures on demand."""

    def __init__(self) -> None:
        self.batches: list[list[Change]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail: BaseException | None = None
        self.n = 0

    def load(self) -> None:
        return None

    def commit_many(self, epoch: int, changes: Sequence[Change]) -> tuple[str, list[str]]:
        self.entered.set()
        self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        self.batches.append(list(changes))
        prev = f"{self.n}-0"
        ids = []
        for _ in changes:
            self.n += 1
            ids.append(f"{self.n}-0")
        return prev, ids


def _engine(store: GatedStore) -> Engine:
    config = AcdConfig(
        queues=[QueueConfig("billing", skills={"billing": 1})], employee_id_range=(1, 9999)
    )
    settings = types.SimpleNamespace(
        acd=config, node="n1", section=types.SimpleNamespace(call_events="acd")
    )
    engine = Engine(settings, store, clock=ManualClock(1000.0))  # type: ignore[arg-type]
    engine.take_over(LeaderInfo("n1", "x", 1, "v"))
    for eid in range(1, 6):
        engine.execute(
            lambda a, e=eid: a.login(
                Account(f"u{e}", e, frozenset({"agent"}), {"billing": 1}),
                seat=e,
                employee_id=e,
                role="agent",
            )
        )
    return engine


def _start(engine: Engine, n: int, out: dict[int, object]) -> list[threading.Thread]:
    def run(k: int) -> None:
        try:
            out[k] = engine.execute(lambda a: a.enqueue(f"c{k}", "billing"))
        except Exception as exc:
            out[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    return threads


def _hold_first_commit(
    engine: Engine, store: GatedStore, out: dict[int, object]
) -> threading.Thread:
    store.gate.clear()
    store.entered.clear()
    first = threading.Thread(
        target=lambda: out.__setitem__(-1, engine.execute(lambda a: a.enqueue("first", "billing")))
    )
    first.start()
    assert store.entered.wait(5)
    return first


def test_commands_queued_behind_a_commit_go_out_in_one_batch_in_order() -> None:
    store = GatedStore()
    engine = _engine(store)
    before = len(store.batches)
    out: dict[int, object] = {}
    first = _hold_first_commit(engine, store, out)
    threads = _start(engine, 4, out)
    while len(engine._queue) < 4:  # all four applied, none may reply yet
        threading.Event().wait(0.01)
    assert len(out) == 0
    store.gate.set()
    for t in [first, *threads]:
        t.join(5)
    assert len(store.batches) == before + 2  # the held one, then the other four at once
    batch = store.batches[-1]
    assert len(batch) == 4
    commit_ids = [out[k].commit_id for k in range(4)]  # type: ignore[attr-defined]
    assert sorted(commit_ids) == sorted(f"{store.n - 3 + i}-0" for i in range(4))
    # the batch holds the commands in the order they were applied (commit id order)
    by_id = sorted(range(4), key=lambda k: int(commit_ids[k].split("-")[0]))
    for change, k in zip(batch, by_id, strict=True):
        assert f"c{k}" in change.calls
    assert engine.read(lambda a: a.check_invariants()) == []


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (Fenced("epoch 1 is no longer current"), NotLeader),
        (redis.ConnectionError("gone"), StoreUnavailable),
    ],
)
def test_a_failed_commit_fails_everything_applied_after_it(
    error: BaseException, raised: type[Exception]
) -> None:
    store = GatedStore()
    engine = _engine(store)
    out: dict[int, object] = {}
    store.gate.clear()
    store.entered.clear()
    threads = _start(engine, 1, out)
    assert store.entered.wait(5)
    later: dict[int, object] = {}  # applied on the state the failing commit rests on
    more = []
    for k in range(1, 4):
        t = threading.Thread(target=lambda k=k: later.__setitem__(k, _try(engine, k)))
        t.start()
        more.append(t)
    while len(engine._queue) < 3:
        threading.Event().wait(0.01)
    store.fail = error
    store.gate.set()
    for t in threads + more:
        t.join(5)
    assert isinstance(out[0], raised)
    assert all(isinstance(later[k], NotLeader) for k in range(1, 4)), later
    assert not engine.is_leader
    with pytest.raises(NotLeader):
        engine.execute(lambda a: a.tick())


def _try(engine: Engine, k: int) -> object:
    try:
        return engine.execute(lambda a: a.enqueue(f"c{k}", "billing"))
    except Exception as exc:
        return exc


def test_a_command_that_changes_nothing_waits_for_earlier_commits() -> None:
    store = GatedStore()
    engine = _engine(store)
    out: dict[int, object] = {}
    first = _hold_first_commit(engine, store, out)
    seen: list[object] = []
    # A refusal that rests on the held command (the call exists only in memory so far).
    reader = threading.Thread(
        target=lambda: seen.append(engine.execute(lambda a: a.enqueue("first", "billing")))
    )
    reader.start()
    reader.join(0.2)
    assert reader.is_alive() and not seen  # not before "first" is committed
    store.gate.set()
    first.join(5)
    reader.join(5)
    assert seen[0].result.error is not None and seen[0].commit_id == ""  # type: ignore[attr-defined]


def test_step_down_fails_commands_not_yet_committed() -> None:
    store = GatedStore()
    engine = _engine(store)
    out: dict[int, object] = {}
    first = _hold_first_commit(engine, store, out)
    later: dict[int, object] = {}
    t = threading.Thread(target=lambda: later.__setitem__(1, _try(engine, 1)))
    t.start()
    while len(engine._queue) < 1:
        threading.Event().wait(0.01)
    engine.step_down()
    store.gate.set()
    first.join(5)
    t.join(5)
    assert out[-1].commit_id  # type: ignore[attr-defined]  # in flight: it committed
    assert isinstance(later[1], NotLeader)  # applied to the dropped state: did not happen


def test_the_leaders_fanout_fills_a_gap_from_redis_and_never_repeats(r: redis.Redis) -> None:
    """publish() delivers the leader's own commits without reading them back; when
    commits it has not seen precede them (another leader's), it reads those first."""
    from acdsvc._fanout import Fanout
    from acdsvc._store import StateStore

    store = StateStore(r)
    r.set("acd:epoch", "1")

    def change(call: str) -> Change:
        return Change(actions=[{"kind": "undelivered", "call_id": call, "reason": "X"}])

    fanout = Fanout(store, local=lambda: True)  # reader not started: publish() only
    fanout.last_commit = store.last_commit_id()
    sub, _ = fanout.subscribe()
    first, ids = store.commit_many(1, [change("a"), change("b")])  # "another leader's"
    assert first == fanout.last_commit
    prev2, ids2 = store.commit_many(1, [change("c")])
    assert prev2 == ids[-1]
    fanout.publish(prev2, [(ids2[0], [change("c").actions[0]])])  # gap: a, b unseen
    prev3, ids3 = store.commit_many(1, [change("d")])
    fanout.publish(prev3, [(ids3[0], [change("d").actions[0]])])  # contiguous
    fanout.publish(prev3, [(ids3[0], [change("d").actions[0]])])  # again: ignored
    got = []
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        assert item is not None
        got.append((item.undelivered.call_id, item.commit_id))
    assert got == [("a", ids[0]), ("b", ids[1]), ("c", ids2[0]), ("d", ids3[0])]
    assert fanout.last_commit == ids3[0] and fanout.version == 4
    store.close()
