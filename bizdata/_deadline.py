"""Every lookup answers within its deadline, whatever the backend does: the work runs
in a thread of its own, and the caller stops waiting at the deadline.

The backends get the same deadline where they can keep one (a socket timeout, a
statement timeout), so the abandoned work ends soon after too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from ._errors import DataSourceError

__all__ = ["call_with_deadline"]

T = TypeVar("T")


def call_with_deadline(work: Callable[[], T], deadline_ms: int, what: str) -> T:
    """`work()`'s result, or DataSourceError("<what>: no answer within N ms").

    An exception from `work` reaches the caller as it was raised.
    """
    done = threading.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the caller's thread as it is
            failure.append(exc)
        finally:
            done.set()

    # A daemon: a backend that hangs past its own timeout must not hold up the exit.
    threading.Thread(target=run, name=f"lookup {what}", daemon=True).start()
    if not done.wait(deadline_ms / 1000):
        raise DataSourceError(f"{what}: no answer within {deadline_ms} ms")
    if failure:
        raise failure[0]
    return outcome[0]
