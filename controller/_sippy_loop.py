"""Timers on Sippy's loop and jobs off it, as the ports (`controller/_ports.py`) want them.

The ACD driver, the queue media and the IVR host are built on Sippy by a factory each
(`sippy_driver`, `sippy_queue_media`, `sippy_ivr`); these are the pieces they share.
Sippy is imported when a timer is made, not with this module, so the pure parts of the
controller are tested without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from controller._ports import Cancellable

__all__ = ["logged_jobs", "sippy_later"]


def sippy_later(delay_s: float, callback: Callable[[], None]) -> Cancellable:
    """`Later` on Sippy's loop: run `callback` there after `delay_s`, unless cancelled."""
    from sippy.Time.Timeout import Timeout  # noqa: PLC0415

    timeout: Cancellable = Timeout(callback, delay_s)
    return timeout


def logged_jobs(
    pool: ThreadPoolExecutor, log: logging.Logger, what: str
) -> Callable[[Callable[[], None]], None]:
    """Submit jobs to `pool`; a job that raises is logged with its traceback as
    "<what> job failed", because an exception in a pool's job is otherwise lost
    silently with its Future."""

    def submit(job: Callable[[], None]) -> None:
        def logged() -> None:
            try:
                job()
            except Exception:
                log.exception("%s job failed", what)

        pool.submit(logged)

    return submit
