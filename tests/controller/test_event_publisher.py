"""`RedisPublisher` against a real redis-server: events that come close together go in
one round trip, closing sends what is queued at once, and a Redis restart loses no
event (they wait in a bounded buffer and are retried in order)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from controller import RedisPublisher
from eventlog import CALL_ARRIVED, Event, replay
from simulators import free_port
from testbed import redis_server, wait_until


@pytest.fixture
def client(tmp_path: Path) -> Iterator[redis.Redis]:
    with redis_server(tmp_path / "redis") as port:
        r = redis.Redis(port=port)
        yield r
        r.close()


def arrived(n: int) -> Event:
    return Event.new(
        CALL_ARRIVED,
        correlation_id=f"{n:032x}",
        node="ctl",
        ts=float(n),
        trunk="",
        caller="1390000",
        dialled="95598",
        category="",
    )


def test_events_close_together_share_one_round_trip(client: redis.Redis) -> None:
    publisher = RedisPublisher(client, stream="events", linger_s=1.0)
    try:
        for n in range(10):  # microseconds apart: all within the sender's linger
            publisher.publish(arrived(n))
        wait_until(
            lambda: publisher.stats()["published"] == 10, timeout=10, what="the ten events written"
        )
        assert publisher.stats()["batches"] == 1
        written = [d.event.correlation_id for d in replay(client, stream="events")]
        assert written == [f"{n:032x}" for n in range(10)], "in the order published"
    finally:
        publisher.close()


def test_close_sends_what_is_queued_without_waiting_for_the_linger(client: redis.Redis) -> None:
    publisher = RedisPublisher(
        redis.Redis(port=client.connection_pool.connection_kwargs["port"]),
        stream="events",
        linger_s=60.0,
    )
    publisher.publish(arrived(1))
    started = time.monotonic()
    publisher.close(timeout_s=5.0)
    assert time.monotonic() - started < 5.0
    assert publisher.stats()["published"] == 1
    assert [d.event.correlation_id for d in replay(client, stream="events")] == [f"{1:032x}"]


def written(client: redis.Redis, stream: str = "events") -> list[str]:
    return [d.event.correlation_id for d in replay(client, stream=stream)]


def test_a_redis_restart_loses_no_event_and_keeps_their_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Events published while Redis is down wait in the buffer and are written, once
    each and in order, with their own timestamps, when it is back on the same port."""
    port = free_port()
    publisher = RedisPublisher.connect("127.0.0.1", port, stream="events")
    caplog.set_level(logging.INFO, logger="controller.events")
    try:
        with redis_server(tmp_path / "first", port=port):
            publisher.publish(arrived(1))  # the sender's connection is open when Redis dies
            wait_until(
                lambda: publisher.stats()["published"] == 1,
                timeout=10,
                what="the first event written",
            )
        for n in (2, 3, 4):
            publisher.publish(arrived(n))
        wait_until(
            lambda: publisher.stats()["retried"] > 0,
            timeout=10,
            what="a retry against the stopped Redis",
        )
        down = publisher.stats()
        assert (down["backlog"], down["dropped"], down["published"]) == (3, 0, 1), down
        with redis_server(tmp_path / "second", port=port) as same_port:
            client = redis.Redis(port=same_port)
            try:
                wait_until(
                    lambda: publisher.stats()["backlog"] == 0,
                    timeout=10,
                    what="the backlog delivered",
                )
                publisher.publish(arrived(5))
                wait_until(
                    lambda: publisher.stats()["published"] == 5,
                    timeout=10,
                    what="the event after the outage written",
                )
                # The restarted Redis has no persistence here: the first event went with
                # it. Every event published after the connection broke is there, once.
                events = [d.event for d in replay(client, stream="events")]
            finally:
                client.close()
    finally:
        publisher.close()
    assert [e.correlation_id for e in events] == [f"{n:032x}" for n in (2, 3, 4, 5)]
    assert [e.ts for e in events] == [2.0, 3.0, 4.0, 5.0], "the original timestamps"
    stats = publisher.stats()
    assert (stats["buffered"], stats["dropped"], stats["backlog"]) == (3, 0, 0), stats
    assert stats["retried"] >= 3, stats  # the held batch was sent again at least once
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1, "one WARNING for the outage, not one per event or retry"
    assert "buffering events" in warnings[0].getMessage()
    assert sum("redis is back" in message for message in infos) == 1, infos


def test_a_full_buffer_drops_the_newest_events_and_counts_them(tmp_path: Path) -> None:
    """With Redis down, the buffer holds `capacity` queued events and the batch the
    sender retries; past that, publishing drops the new event. The rest arrive."""
    port = free_port()
    publisher = RedisPublisher.connect("127.0.0.1", port, stream="events", capacity=3)
    try:
        publisher.publish(arrived(1))
        wait_until(
            lambda: publisher.stats()["buffered"] == 1,
            timeout=10,
            what="the sender holding the first event for a retry",
        )
        for n in range(2, 8):  # 2, 3, 4 fill the queue; 5, 6, 7 find it full
            publisher.publish(arrived(n))
        full = publisher.stats()
        assert (full["backlog"], full["dropped"], full["dropped_buffer_full"]) == (4, 3, 3), full
        with redis_server(tmp_path / "redis", port=port):
            client = redis.Redis(port=port)
            try:
                wait_until(
                    lambda: publisher.stats()["published"] == 4,
                    timeout=10,
                    what="the buffered events written",
                )
                assert written(client) == [f"{n:032x}" for n in (1, 2, 3, 4)]
            finally:
                client.close()
    finally:
        publisher.close()
    assert publisher.stats()["dropped"] == 3


def test_close_gives_up_on_a_dead_redis_within_its_deadline(tmp_path: Path) -> None:
    publisher = RedisPublisher.connect("127.0.0.1", free_port(), stream="events")
    publisher.publish(arrived(1))
    publisher.publish(arrived(2))
    started = time.monotonic()
    publisher.close(timeout_s=1.0)
    assert time.monotonic() - started < 3.0
    stats = publisher.stats()
    assert (stats["published"], stats["dropped_unsent_at_close"], stats["backlog"]) == (0, 2, 0), (
        stats
    )
