"""What the IVR host (`_ivr_host.py`) calls, each as a small interface.

The host carries out the actions of the pure interpreter (`ivr.Session`) on the SIP
loop; everything it needs from elsewhere comes through these ports, so that its logic
is tested with fakes (tests/controller/test_ivr_host_unit.py) and the real pieces
(the interpreter, the prompt renderer, the data sources, the ACD driver, Redis) are
plugged in by `_ivr_wiring.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ivr import Action, PromptItem

__all__ = [
    "ArrivedCall",
    "DataSource",
    "FlowEntry",
    "IvrSession",
    "OpenHours",
    "PromptRenderer",
    "QueueEntry",
    "RenderedPrompt",
    "SessionFactory",
    "SnapshotStore",
    "Submit",
]

# Run a job on a worker thread (never on the SIP loop).
Submit = Callable[[Callable[[], None]], None]


class IvrSession(Protocol):
    """One call's run through a flow (`ivr.Session`): events in, actions out."""

    def start(self) -> list[Action]: ...
    def digit(self, digit: str) -> list[Action]: ...
    def play_done(self) -> list[Action]: ...
    def timer_fired(self, name: str) -> list[Action]: ...
    def lookup_done(
        self, request_id: int, record: Mapping[str, Any] | None, error: str | None
    ) -> list[Action]: ...
    def caller_left(self) -> str: ...
    def snapshot(self) -> dict[str, Any]: ...
    @property
    def finished(self) -> bool: ...
    @property
    def result(self) -> str | None: ...
    @property
    def node(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def path(self) -> tuple[str, ...]: ...
    @property
    def entered_account(self) -> str | None: ...


@dataclass(frozen=True)
class ArrivedCall:
    """What the controller knows of a call when it arrives (`call.arrived`)."""

    cid: str
    caller: str
    dialled: str
    category: str


@dataclass(frozen=True)
class FlowEntry:
    """One loaded flow, as the host keeps it: the interpreter's `Flow` (opaque here),
    and what the `ivr` command shows of it."""

    name: str
    flow: object
    version: str
    file: str


# A new session for a call on a flow, started by the host with `start()`.
SessionFactory = Callable[[object, ArrivedCall], IvrSession]


class OpenHours(Protocol):
    """A named schedule (`schedules:`): whether it is open at a given moment."""

    def is_open(self, at: datetime) -> bool: ...


class DataSource(Protocol):
    """`bizdata.DataSource`: a record (field -> value), or None for "not found";
    raises on failure. Runs on a worker thread."""

    def lookup(self, key: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt ready for rtpengine: one 8 kHz WAV (absolute path) and its length."""

    path: Path
    duration_ms: int


class PromptRenderer(Protocol):
    """Renders TTS items and joins them with recorded ones into one WAV. Runs on a
    worker thread (espeak-ng and sox are slow next to a SIP loop); raises on failure."""

    def render(self, items: Sequence[PromptItem]) -> RenderedPrompt: ...


class QueueEntry(Protocol):
    """The ACD driver's entry for a call the IVR has answered (`AcdDriver.enqueue_answered`):
    from then on it drives the call like one it enqueued itself."""

    def enqueue_answered(
        self,
        cid: str,
        *,
        queue: str,
        caller: str,
        category: str,
        priority: int,
        skills: Mapping[str, int],
        language: str,
        call_data: Mapping[str, str],
    ) -> None: ...


class SnapshotStore(Protocol):
    """Where a call's IVR state is kept for a sibling replica (Redis). Called on the SIP
    loop: neither may block."""

    def save(self, cid: str, document: Mapping[str, Any]) -> None: ...
    def delete(self, cid: str) -> None: ...


class RecordingPause(Protocol):
    """The call's recording (`controller/_recording.py`): a sensitive node pauses it
    (reason `sensitive`) while the caller is in it. False: nothing to pause or resume."""

    def pause(self, call: str, reason: str, *, tell_acd: bool = True) -> bool: ...
    def resume(self, call: str, *, tell_acd: bool = True) -> bool: ...
