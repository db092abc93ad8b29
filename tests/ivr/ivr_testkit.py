"""Helpers for the IVR's unit tests: a hand-moved clock, flows written to files, and
ways to read a list of actions."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr import Action, Flow, Play, Step, Tts, Wav, load_flow

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Wednesday in office hours.
WEDNESDAY_10 = datetime(2026, 12, 9, 10, 0, tzinfo=SHANGHAI)


class Clock:
    """The session's clock, moved by the test."""

    def __init__(self, now: datetime = WEDNESDAY_10) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += timedelta(milliseconds=ms)


def write_flow(folder: Path, text: str, name: str = "flow.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def make_flow(folder: Path, text: str, schedules: Sequence[str] | None = None) -> Flow:
    return load_flow(write_flow(folder, text), schedules=schedules)


def steps(actions: Sequence[Action]) -> list[tuple[str, str]]:
    return [(a.node, a.input) for a in actions if isinstance(a, Step)]


def kinds(actions: Sequence[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def texts(actions: Sequence[Action]) -> list[str]:
    """What the Play actions say: Tts text, or wav:<path>."""
    return [
        item.text if isinstance(item, Tts) else f"wav:{item.path}"
        for a in actions
        if isinstance(a, Play)
        for item in a.items
        if isinstance(item, Tts | Wav)
    ]


def only(actions: Sequence[Action], kind: type) -> list[Action]:
    return [a for a in actions if isinstance(a, kind)]
