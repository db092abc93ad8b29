"""EventLog and Consumer against a real redis-server (fixture in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import redis

import eventlog
from eventlog import ENUM_FIELDS, KIND_FIELDS, Consumer, Delivery, Event, EventLog, encode, replay

WaitFor = Callable[..., None]


class Crash(RuntimeError):
    """Stands in for a process dying after the read and before the ack."""


def events(n: int, call: str = "c") -> list[Event]:
    return [
        Event.new(
            eventlog.CALL_IVR_STEP,
            correlation_id=f"{call}{i}",
            ts=1000.0 + i,
            ivr_node="main",
            input=str(i % 10),
        )
        for i in range(n)
    ]


def pending_count(r: redis.Redis, group: str) -> int:
    return int(r.xpending("cc:events", group)["pending"])


def test_every_kind_round_trips_through_redis(r: redis.Redis) -> None:
    log = EventLog(r)
    sent = []
    for kind, fields in sorted(KIND_FIELDS.items()):
        data = {name: f"v-{name}" for name in fields}
        # A field with a closed set of values gets one of them (ENUM_FIELDS).
        data |= {name: min(allowed) for (k, name), allowed in ENUM_FIELDS.items() if k == kind}
        event = Event(kind=kind, ts=1.5, correlation_id="call-1", node="n1", data=data)
        sent.append(event)
        log.append(event)
    assert [d.event for d in replay(r)] == sent


def test_append_returns_increasing_ids_and_append_many_keeps_order(r: redis.Redis) -> None:
    log = EventLog(r, stream="cc:events")
    first = log.append(events(1)[0])
    ids = log.append_many(events(5, call="m"))
    assert [first, *ids] == sorted([first, *ids], key=lambda s: tuple(map(int, s.split("-"))))
    assert [d.event.correlation_id for d in replay(r)][1:] == [f"m{i}" for i in range(5)]


def test_maxlen_trims_approximately(r: redis.Redis) -> None:
    log = EventLog(r, maxlen=100)
    log.append_many(events(2000))
    assert 100 <= r.xlen("cc:events") < 1000
    assert EventLog(r).maxlen is None  # durable by default
    with pytest.raises(ValueError, match="maxlen"):
        EventLog(r, maxlen=0)


def test_replay_pages_and_starts_after_an_id(r: redis.Redis) -> None:
    log = EventLog(r)
    ids = log.append_many(events(2500))
    got = list(replay(r, page=1000))
    assert [d.entry_id for d in got] == ids
    tail = list(replay(r, from_id=ids[2000], page=333))
    assert [d.entry_id for d in tail] == ids[2000:]
    batches = list(eventlog.read_batches(r, page=1000))
    assert [len(b) for b in batches] == [1000, 1000, 500]


def test_consumer_acks_after_handler_and_restart_loses_nothing(r: redis.Redis) -> None:
    log = EventLog(r)
    sent = events(30)
    log.append_many(sent)
    seen: list[str] = []

    def crash(batch: Sequence[Delivery]) -> None:
        raise Crash

    first = Consumer(r, group="cdr", name="collector-0", batch_size=10, block_ms=10)
    with pytest.raises(Crash):
        first.poll(crash)
    assert pending_count(r, "cdr") == 10  # read, not acked

    def keep(batch: Sequence[Delivery]) -> None:
        seen.extend(d.event.event_id for d in batch)

    # The "restarted process": same consumer name, fresh object.
    again = Consumer(r, group="cdr", name="collector-0", batch_size=10, block_ms=10)
    while again.poll(keep):
        pass
    assert seen == [e.event_id for e in sent]  # the crashed batch first, in order, once
    assert pending_count(r, "cdr") == 0


def test_two_consumers_share_the_work(r: redis.Redis, wait_for: WaitFor) -> None:
    EventLog(r).append_many(events(40))
    got: dict[str, list[str]] = {"a": [], "b": []}
    consumers = {name: Consumer(r, group="g", name=name, batch_size=5, block_ms=10) for name in got}

    def drain() -> bool:
        for name, consumer in consumers.items():
            consumer.poll(lambda batch, name=name: got[name].extend(d.entry_id for d in batch))
        return len(got["a"]) + len(got["b"]) >= 40

    wait_for(drain, timeout=5, what="both consumers to drain the stream")
    assert got["a"] and got["b"]
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 40
    assert pending_count(r, "g") == 0


def test_dead_consumers_pending_entries_are_claimed(r: redis.Redis, wait_for: WaitFor) -> None:
    EventLog(r).append_many(events(12))
    dead = Consumer(r, group="g", name="dead-pod", batch_size=100, block_ms=10)
    with pytest.raises(Crash):
        dead.poll(lambda batch: (_ for _ in ()).throw(Crash()))
    assert pending_count(r, "g") == 12

    survivor = Consumer(
        r, group="g", name="live-pod", batch_size=100, block_ms=10, claim_idle_ms=50
    )
    got: list[str] = []
    wait_for(
        lambda: bool(survivor.poll(lambda b: got.extend(d.entry_id for d in b)) or got),
        timeout=5,
        what="XAUTOCLAIM of the dead consumer's entries",
    )
    assert len(got) == 12
    assert pending_count(r, "g") == 0


def test_undecodable_entry_goes_to_dead_letter_and_is_acked(r: redis.Redis) -> None:
    log = EventLog(r)
    good = events(2)
    log.append(good[0])
    bad = encode(good[1]) | {"kind": "call.teleported"}
    bad_id = r.xadd("cc:events", bad).decode()  # type: ignore[arg-type, union-attr]
    consumer = Consumer(r, group="g", name="c", block_ms=10)
    got: list[Event] = []
    assert consumer.poll(lambda b: got.extend(d.event for d in b)) == 2
    assert got == [good[0]]
    assert pending_count(r, "g") == 0
    ((_dead_id, fields),) = r.xrange("cc:events:dead")
    assert fields[b"dead_id"].decode() == bad_id
    assert b"unknown event kind" in fields[b"dead_reason"]


def test_new_group_can_start_at_the_tail(r: redis.Redis, wait_for: WaitFor) -> None:
    log = EventLog(r)
    log.append_many(events(3))
    consumer = Consumer(r, group="live", name="w", start_id="$", block_ms=10)
    consumer.ensure_group()
    consumer.ensure_group()  # idempotent
    log.append_many(events(2, call="new"))
    got: list[str] = []
    wait_for(
        lambda: (
            bool(consumer.poll(lambda b: got.extend(d.event.correlation_id for d in b)))
            or len(got) == 2
        ),
        what="new entries",
    )
    assert got == ["new0", "new1"]
