"""Appending events to the log: one XADD per event on one stream key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import redis

from ._event import Event, encode

DEFAULT_STREAM: Final = "cc:events"


class EventLog:
    """Writes events to a Redis stream.

    One stream key for every kind keeps one total order per log, which is what a
    replay needs to rebuild CDRs deterministically. Retention is off by default
    (the log is durable until an operator trims it); `maxlen` turns on Redis's
    approximate trimming, which is cheap because it only drops whole macro nodes.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int | None = None,
    ) -> None:
        if maxlen is not None and maxlen <= 0:
            raise ValueError("maxlen must be positive or None")
        self._client = client
        self.stream = stream
        self.maxlen = maxlen

    def append(self, event: Event) -> str:
        """Append one event; return its stream id."""
        entry_id = self._client.xadd(
            self.stream,
            encode(event),  # type: ignore[arg-type]  # redis-py's stub wants a wider dict type
            maxlen=self.maxlen,
            approximate=True,
        )
        return _text(entry_id)

    def append_many(self, events: Iterable[Event]) -> list[str]:
        """Append several events in one round trip (a non-transactional pipeline).

        Order in the stream follows the iteration order.
        """
        pipe = self._client.pipeline(transaction=False)
        for event in events:
            pipe.xadd(
                self.stream,
                encode(event),  # type: ignore[arg-type]
                maxlen=self.maxlen,
                approximate=True,
            )
        return [_text(entry_id) for entry_id in pipe.execute()]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
