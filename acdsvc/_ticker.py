"""Timers fire on an idle system too: the leader ticks the core at its next deadline."""

from __future__ import annotations

import logging
import math
import threading
import time

from ._engine import Engine, NotLeader, StoreUnavailable

__all__ = ["Ticker"]

log = logging.getLogger(__name__)


class Ticker:
    """Ticks the core when `next_deadline()` is due, checking at least every `max_sleep` s.

    Commands apply due timers themselves, so under load the ticker rarely has
    anything to do; new deadlines are always >= 100 ms away (config minimum), so
    polling every 0.1 s keeps every timer within 0.1 s of its deadline.
    """

    def __init__(self, engine: Engine, *, max_sleep: float = 0.1) -> None:
        self._engine = engine
        self._max_sleep = max_sleep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acd-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            sleep = self._max_sleep
            try:
                deadline = self._engine.read(lambda acd: acd.next_deadline())
                now = time.time()
                if deadline is not None and deadline <= now:
                    self._engine.execute(lambda acd: acd.tick())
                    sleep = 0.001  # re-check at once: a timer can uncover another
                elif deadline is not None and math.isfinite(deadline):
                    sleep = min(sleep, deadline - now)
            except (NotLeader, StoreUnavailable):
                pass
            except Exception:  # a timer bug must not stop every later timer
                log.exception("tick failed")
            self._stop.wait(max(sleep, 0.001))
