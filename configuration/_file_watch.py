"""Noticing that a config file was rewritten, for services that take some of it live.

`callcenter account add` swaps a running stack's runtime.json by rename; Kamailio's
workers, the ACD and the dashboards each take the accounts again from it. They share
this one rule for "has it changed": the file's inode (a file replaced by rename gets
a new one), its mtime and its size, looked at no more than once per period.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FileWatch"]

_FileVersion = tuple[int, int, int]  # (inode, mtime in ns, size)


def _version(path: str | Path) -> _FileVersion | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class FileWatch:
    """A file's version as last taken, and whether the file now differs from it.

    `changed()` looks at the file (at most once per `every_s`); when it says so, the
    caller reads the file and calls `taken()` only if that worked, so a file that
    failed to load (or vanished) is tried again at the next look rather than skipped
    until it changes once more.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._every_s = every_s
        self._clock = clock
        self._looked_at = clock()
        self._taken = self._seen = _version(path)  # the caller read it at start

    def changed(self) -> bool:
        now = self._clock()
        if now - self._looked_at < self._every_s:
            return False
        self._looked_at = now
        self._seen = _version(self.path)
        return self._seen != self._taken

    def taken(self) -> None:
        """The version `changed()` last saw is the one now in use."""
        self._taken = self._seen
