"""Free space of the spool and the WAV directories, and the moments it runs low."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

FreeBytes = Callable[[Path], int]


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on `path`'s filesystem."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


@dataclass(frozen=True)
class DiskState:
    free_mb: dict[Path, float]  # every watched path
    low: frozenset[Path]  # below min_free_mb now
    newly_low: tuple[Path, ...]  # low now, not at the previous check
    recovered: tuple[Path, ...]  # low at the previous check, not now


class DiskWatch:
    """Compares each path's free space with `min_free_mb` and remembers the last result,
    so that a change into low space is reported once, not every second."""

    def __init__(
        self, paths: Sequence[Path], min_free_mb: int, free: FreeBytes = free_bytes
    ) -> None:
        self.paths = tuple(dict.fromkeys(paths))
        self.min_free_mb = min_free_mb
        self._free = free
        self._low: frozenset[Path] = frozenset()

    @property
    def low(self) -> frozenset[Path]:
        return self._low

    def check(self) -> DiskState:
        free_mb: dict[Path, float] = {}
        for path in self.paths:
            try:
                free_mb[path] = self._free(path) / (1024 * 1024)
            except OSError:
                free_mb[path] = 0.0  # a directory that cannot be read cannot be written either
        low = frozenset(p for p, mb in free_mb.items() if mb < self.min_free_mb)
        state = DiskState(
            free_mb=free_mb,
            low=low,
            newly_low=tuple(p for p in self.paths if p in low and p not in self._low),
            recovered=tuple(p for p in self.paths if p in self._low and p not in low),
        )
        self._low = low
        return state
