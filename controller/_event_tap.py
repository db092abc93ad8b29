"""The ACD driver's view of the call events: `EventTap` stands in for the service's
`EventPublisher`, forwards every event to the configured one, then lets the driver
(and the queue media it holds) react to it."""

from __future__ import annotations

import logging
from typing import Protocol

from controller._ports import EventPublisher
from eventlog import Event

__all__ = ["EventObserver", "EventTap", "TappedDriver"]

log = logging.getLogger("controller.acd")


class EventObserver(Protocol):
    def observe(self, event: Event) -> None: ...


class TappedDriver(Protocol):
    """What the tap needs of `AcdDriver`."""

    def rewrite(self, event: Event) -> Event: ...
    def observe(self, event: Event) -> None: ...
    @property
    def hold(self) -> EventObserver | None: ...


class EventTap:
    """The service's `EventPublisher`: forwards every event to the configured one
    (the event log), then lets the driver react. Runs on the SIP loop; never raises."""

    def __init__(self, inner: EventPublisher, driver: TappedDriver) -> None:
        self._inner = inner
        self._driver = driver

    def publish(self, event: Event) -> None:
        try:
            event = self._driver.rewrite(event)
        except Exception:
            log.exception("cid=%s rewriting %s failed", event.correlation_id, event.kind)
        self._inner.publish(event)
        try:
            self._driver.observe(event)
        except Exception:  # a bug here must not reach call handling
            log.exception("cid=%s reacting to %s failed", event.correlation_id, event.kind)
        hold = self._driver.hold
        if hold is not None:  # synchronously: an answer stops the queue media before
            try:  # anything else on the loop can start an announcement
                hold.observe(event)
            except Exception:
                log.exception("cid=%s queue media on %s failed", event.correlation_id, event.kind)
