"""The IVR: call flows declared in YAML, and a pure interpreter that runs one call
through a flow. The call controller hosts it (`controller/_ivr_host.py`): it feeds
the interpreter digits, prompt ends, timer firings and lookup results, and carries
out the actions it returns (`ivr/_actions.py`)."""

from ._actions import (
    TERMINAL,
    Action,
    CancelTimer,
    Enqueue,
    Hangup,
    Lookup,
    Play,
    PromptItem,
    SetCallData,
    StartTimer,
    Step,
    StopPlay,
    Transfer,
    Tts,
    Voicemail,
    Wav,
)

__all__ = [
    "TERMINAL",
    "Action",
    "CancelTimer",
    "Enqueue",
    "Hangup",
    "Lookup",
    "Play",
    "PromptItem",
    "SetCallData",
    "StartTimer",
    "Step",
    "StopPlay",
    "Transfer",
    "Tts",
    "Voicemail",
    "Wav",
]
