"""`RedisPublisher` against a real redis-server: events that come close together go in
one round trip, and closing sends what is queued at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from controller import RedisPublisher
from eventlog import CALL_ARRIVED, Event, replay
from tests.support.redis_server import redis_server
from tests.support.waiting import wait_until


@pytest.fixture
def client(tmp_path: Path) -> Iterator[redis.Redis]:
    with redis_server(tmp_path / "redis") as port:
        r = redis.Redis(port=port)
        yield r
        r.close()


def arrived(n: int) -> Event:
    return Event.new(CALL_ARRIVED, correlation_id=f"{n:032x}", node="ctl", ts=float(n),
                     trunk="", caller="1390000", dialled="95598", category="")


def test_events_close_together_share_one_round_trip(client: redis.Redis) -> None:
    publisher = RedisPublisher(client, stream="events", linger_s=1.0)
    try:
        for n in range(10):  # microseconds apart: all within the sender's linger
            publisher.publish(arrived(n))
        wait_until(lambda: publisher.stats()["published"] == 10, timeout=10,
                   what="the ten events written")
        assert publisher.stats()["batches"] == 1
        written = [d.event.correlation_id for d in replay(client, stream="events")]
        assert written == [f"{n:032x}" for n in range(10)], "in the order published"
    finally:
        publisher.close()


def test_close_sends_what_is_queued_without_waiting_for_the_linger(
        client: redis.Redis) -> None:
    publisher = RedisPublisher(redis.Redis(port=client.connection_pool.connection_kwargs["port"]),
                               stream="events", linger_s=60.0)
    publisher.publish(arrived(1))
    started = time.monotonic()
    publisher.close(timeout_s=5.0)
    assert time.monotonic() - started < 5.0
    assert publisher.stats()["published"] == 1
    assert [d.event.correlation_id for d in replay(client, stream="events")] == [f"{1:032x}"]
