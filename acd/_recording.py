"""A call's recording as the ACD sees it, and the rules of the agent's recording and
"play a message" commands (docs/recording.md).

The ACD does not record: the call controller that owns the call drives rtpengine. The
ACD keeps the state the desktop shows (`off`, `on`, `paused`, with the recording's
ref) on the call record, changes it when an agent asks (ControlRecording, which also
tells the controller) and when the controller reports a change of its own
(ReportRecording: always-on recording, a sensitive IVR node, a stop at hang-up), so an
agent's request is checked against the truth.
"""

from __future__ import annotations

import uuid
from typing import Final

__all__ = [
    "LANGUAGES",
    "MAX_MESSAGE_TEXT",
    "MAX_RECORDING_NAME",
    "MESSAGE_REPEATS",
    "OPS",
    "RECORDING_OFF",
    "RECORDING_ON",
    "RECORDING_PAUSED",
    "RECORDING_STATES",
    "message_problem",
    "new_recording_ref",
    "recording_name_problem",
    "recording_next",
]

RECORDING_OFF: Final = "off"
RECORDING_ON: Final = "on"
RECORDING_PAUSED: Final = "paused"
RECORDING_STATES: Final = frozenset({RECORDING_OFF, RECORDING_ON, RECORDING_PAUSED})

# op -> (the states it applies to, the state it leads to)
_OPS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "start": (frozenset({RECORDING_OFF}), RECORDING_ON),
    "pause": (frozenset({RECORDING_ON}), RECORDING_PAUSED),
    "resume": (frozenset({RECORDING_PAUSED}), RECORDING_ON),
    "stop": (frozenset({RECORDING_ON, RECORDING_PAUSED}), RECORDING_OFF),
}
OPS: Final = frozenset(_OPS)

MAX_RECORDING_NAME: Final = 64
MAX_MESSAGE_TEXT: Final = 500
LANGUAGES: Final = frozenset({"zh", "en"})
# R-AG-8: the caller hears the message twice.
MESSAGE_REPEATS: Final = 2


def new_recording_ref() -> str:
    """A recording's ref: 32 lowercase hex characters (docs/recording.md)."""
    return uuid.uuid4().hex


def recording_next(op: str, state: str) -> str | None:
    """The state `op` leads to from `state`, or None when it does not apply there."""
    applies, to = _OPS[op]
    return to if state in applies else None


def recording_name_problem(name: str) -> str | None:
    """Why an on-demand recording's name is unusable, or None."""
    if not 1 <= len(name) <= MAX_RECORDING_NAME:
        return f"a recording's name is 1..{MAX_RECORDING_NAME} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "a recording's name has no control characters"
    return None


def message_problem(text: str, language: str) -> str | None:
    """Why a message to play to the caller is unusable, or None."""
    if not 1 <= len(text) <= MAX_MESSAGE_TEXT or not text.strip():
        return f"a message is 1..{MAX_MESSAGE_TEXT} characters of text"
    if language and language not in LANGUAGES:
        return f"a message's language is zh or en, not {language!r}"
    return None
