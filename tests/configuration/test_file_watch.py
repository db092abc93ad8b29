"""FileWatch: when a rewritten runtime.json is noticed, and that a failed read is retried."""

from __future__ import annotations

import os
from pathlib import Path

from configuration import FileWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def replace(path: Path, text: str) -> None:
    """As `callcenter account add` does: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_a_rewrite_is_seen_only_once_the_period_has_passed(tmp_path: Path) -> None:
    path, clock = tmp_path / "runtime.json", Clock()
    path.write_text("a")
    watch = FileWatch(path, every_s=1.0, clock=clock)
    replace(path, "b")
    clock.now += 0.5
    assert not watch.changed()
    clock.now += 0.5
    assert watch.changed()


def test_a_file_renamed_over_with_the_same_size_and_mtime_is_a_change(tmp_path: Path) -> None:
    path, clock = tmp_path / "runtime.json", Clock()
    path.write_text("a")
    before = path.stat()
    watch = FileWatch(path, every_s=1.0, clock=clock)
    replace(path, "b")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    clock.now += 1
    assert watch.changed()  # the inode tells them apart


def test_a_version_taken_is_not_a_change_again_but_one_not_taken_is(tmp_path: Path) -> None:
    path, clock = tmp_path / "runtime.json", Clock()
    path.write_text("a")
    watch = FileWatch(path, every_s=1.0, clock=clock)
    replace(path, "b")
    clock.now += 1
    assert watch.changed()  # the caller's read fails: it does not call taken()
    clock.now += 1
    assert watch.changed()  # so the next look tries again
    watch.taken()
    clock.now += 1
    assert not watch.changed()


def test_a_vanished_file_is_a_change(tmp_path: Path) -> None:
    path, clock = tmp_path / "runtime.json", Clock()
    path.write_text("a")
    watch = FileWatch(path, every_s=1.0, clock=clock)
    path.unlink()
    clock.now += 1
    assert watch.changed()
