"""End to end: Redis stream -> Consumer -> CdrCollector -> chDB, across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import eventlog as ev
from analytics import CdrCollector, ChdbStore, Statistics
from eventlog import Consumer, Event, EventLog

T0 = 1_700_006_400.0


def call(cid: str, base: float, kind: str, dt: float, **data: str) -> Event:
    return Event(kind=kind, ts=base + dt, correlation_id=cid, node="t", data=data)


def script_a() -> list[Event]:
    return [
        call("A", T0, ev.CALL_ARRIVED, 0, trunk="t", caller="1", dialled="2", category="c"),
        call("A", T0, ev.CALL_QUEUED, 1, queue="billing", priority="0"),
        call("A", T0, ev.CALL_ANSWERED, 6, agent="a1", seat="s1", leg_id="L1"),
        call("A", T0, ev.CALL_ENDED, 66, cause="200", side="caller"),
    ]


def script_b() -> list[Event]:
    return [
        call("B", T0, ev.CALL_QUEUED, 2, queue="billing", priority="0"),
        call("B", T0, ev.CALL_ENDED, 12, cause="487", side="caller"),
    ]


@pytest.fixture
def chdb_store(tmp_path: Path) -> Iterator[ChdbStore]:
    store = ChdbStore(tmp_path / "chdb")
    yield store
    store.close()


def test_collector_restart_rebuilds_open_calls_without_doubles(
    r: redis.Redis, chdb_store: ChdbStore
) -> None:
    log = EventLog(r)
    a, b = script_a(), script_b()
    log.append_many([a[0], a[1], b[0], a[2], b[1]])  # A still open, B complete

    first = CdrCollector(chdb_store, r)
    consumer = Consumer(r, group="cdr", name="collector-0", block_ms=10)
    while consumer.poll(first.handle):
        pass
    assert first.builder.open_calls == 1
    del first  # the process dies; its in-memory fold of A is gone

    log.append(a[3])  # A ends while the collector is down
    second = CdrCollector(chdb_store, r)
    assert second.recover() >= 4  # replayed from A's first entry
    consumer = Consumer(r, group="cdr", name="collector-0", block_ms=10)
    while consumer.poll(second.handle):
        pass

    df = chdb_store.query_df(
        "SELECT correlation_id, disposition, wait_s, talk_s "
        "FROM callcenter.cdr FINAL ORDER BY correlation_id"
    )
    assert df.to_dict("records") == [
        {"correlation_id": "A", "disposition": "answered", "wait_s": 5.0, "talk_s": 60.0},
        {"correlation_id": "B", "disposition": "abandoned_queue", "wait_s": 10.0, "talk_s": 0.0},
    ]
    summary = Statistics(chdb_store).queue_summary()
    assert list(summary["offered"]) == [2]
