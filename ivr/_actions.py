"""The contract between the IVR interpreter and its host (the call controller).

The interpreter (`ivr/_session.py`) is pure: the host feeds it what happened on the
call (`Session.start`, `digit`, `play_done`, `timer_fired`, `lookup_done`) and gets
back a list of these actions, which it carries out in order. Nothing here touches
SIP, rtpengine, a clock or a database: that is the host's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# --------------------------------------------------------------- what to play


@dataclass(frozen=True)
class Tts:
    """Text for the prompt renderer (`prompts.render`); already speakable words:
    data values were formatted for `language` by the interpreter."""

    text: str
    language: str  # "zh" or "en"


@dataclass(frozen=True)
class Wav:
    """A recorded prompt: an absolute path to an 8 kHz mono 16-bit WAV."""

    path: str


PromptItem = Tts | Wav


# --------------------------------------------------------------- actions


@dataclass(frozen=True)
class Play:
    """Play `items` one after another as one prompt. The host reports the end with
    `Session.play_done()`. `interruptible`: a digit stops it (the host is told so
    with a `StopPlay` first)."""

    items: tuple[PromptItem, ...]
    interruptible: bool = True


@dataclass(frozen=True)
class StopPlay:
    """Stop what is playing now (barge-in). No `play_done` follows a stopped play."""


@dataclass(frozen=True)
class StartTimer:
    """(Re)start the timer `name`; when it fires the host calls
    `Session.timer_fired(name)`. Starting a running timer restarts it."""

    name: str
    ms: int


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class Lookup:
    """Ask data source `source` for the record under `key`; the host answers with
    `Session.lookup_done(request_id, record, error)`: a record (a flat mapping of
    field -> value), None for "not found", or an error text."""

    source: str
    key: str
    request_id: int
    sensitive: bool = False  # the key came from a sensitive node: never log it


@dataclass(frozen=True)
class SetCallData:
    """Call data the host keeps for what follows the IVR (queue announcements,
    voicemail, the agent's screen): language, category, priority, skill..."""

    values: Mapping[str, str]


@dataclass(frozen=True)
class Step:
    """The caller reached `node` (and left the previous one with `input`): the host
    publishes `call.ivr_step`. `input` is already masked for a sensitive node."""

    node: str
    input: str


# Terminal actions: after one of these the session is finished (`Session.finished`).


@dataclass(frozen=True)
class Enqueue:
    queue: str
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level
    language: str = "zh"


@dataclass(frozen=True)
class Transfer:
    number: str


@dataclass(frozen=True)
class Voicemail:
    """Until the recording issue lands the host plays the box's greeting and hangs up."""

    box: str
    language: str = "zh"


@dataclass(frozen=True)
class Hangup:
    """`reason` is the call.ivr_done result: self_served (the flow served the caller),
    closed, max_time, retries_exhausted or error."""

    reason: str


Action = (
    Play
    | StopPlay
    | StartTimer
    | CancelTimer
    | Lookup
    | SetCallData
    | Step
    | Enqueue
    | Transfer
    | Voicemail
    | Hangup
)
TERMINAL = (Enqueue, Transfer, Voicemail, Hangup)
