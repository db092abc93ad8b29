"""The ACD driver's RPC executor: jobs run in order per key (a call) on a small pool."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["RpcChains", "Submit"]

log = logging.getLogger("controller.acd")

Submit = Callable[[str, Callable[[], None]], None]  # a job for a key's (a call's) chain


class RpcChains:
    """Jobs in order per key (a call) on a small thread pool: one call's RPCs never
    overtake each other, and one call's slow retry does not hold up the others."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acd-rpc")
        self._lock = threading.Lock()
        self._chains: dict[str, deque[Callable[[], None]]] = {}
        self._idle = threading.Condition(self._lock)

    def submit(self, key: str, job: Callable[[], None]) -> None:
        with self._lock:
            chain = self._chains.get(key)
            if chain is not None:
                chain.append(job)
                return
            self._chains[key] = deque([job])
        self._pool.submit(self._drain, key)

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                chain = self._chains[key]
                if not chain:
                    del self._chains[key]
                    self._idle.notify_all()
                    return
                job = chain.popleft()
            try:
                job()
            except Exception:  # one failed request must not stop the call's next ones
                log.exception("ACD request failed")

    def close(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the queued jobs; True if they all ran."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._chains:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
            done = not self._chains
        self._pool.shutdown(wait=False, cancel_futures=True)
        return done
