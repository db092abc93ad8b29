"""The small interfaces the controller's modules share: the SIP loop's timers and
hand-offs, the command entry point, and the call event log.

Each is defined here once; the service (`_service.py`), the ACD driver
(`_acd_driver.py`) and the queue media (`_queue_media.py`) take them as ports, and
the Sippy adapters (`_sip.py`, the `sippy_*` factories) provide them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from eventlog import Event

__all__ = ["Cancellable", "EventPublisher", "Execute", "Later", "OnLoop", "Post", "Timers"]


class Cancellable(Protocol):
    """A timer that has not fired yet can be called off."""

    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable: ...


class EventPublisher(Protocol):
    """The call event log. `publish` runs on the SIP loop: it must not block or raise."""

    def publish(self, event: Event) -> None: ...


# The controller's command entry point (`Commands.execute`), run on the SIP loop.
Execute = Callable[[Mapping[str, Any]], dict[str, Any]]
# Run it on the SIP loop, later (from any thread).
Post = Callable[[Callable[[], None]], None]
# A timer on the SIP loop.
Later = Callable[[float, Callable[[], None]], Cancellable]
# Run it on the SIP loop, wait, return its result (from another thread).
OnLoop = Callable[[Callable[[], Any]], Any]
