"""A loaded flow's parts: its prompts and its nodes, one class per node type.

`ivr/_load.py` builds them from YAML (docs/ivr.md is the reference of the keys);
`ivr/_session.py` runs them. They hold no state of a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from ._actions import Wav
from ._checks import Check
from ._conditions import Condition
from ._template import Template

# ---------------------------------------------------------------- prompts


@dataclass(frozen=True)
class Prompt:
    """One prompt in every language of its flow: text to render (a template, its slots
    filled from call data) or a recorded WAV."""

    name: str  # its name under `prompts:`, or "<node>.<key>" for one written in a node
    by_language: Mapping[str, Template | Wav]
    # Played in every language of the flow, one after another, whatever the call's
    # language: a language menu ("普通话服务请按1。For English, press 2.").
    all_languages: bool = False


Prompts = tuple[Prompt, ...]

# ---------------------------------------------------------------- nodes

Result = Literal["self_served", "closed", "max_time", "retries_exhausted", "error"]
HANGUP_RESULTS: Final[tuple[Result, ...]] = (
    "self_served",
    "closed",
    "max_time",
    "retries_exhausted",
    "error",
)


@dataclass(frozen=True, kw_only=True)
class Node:
    name: str
    line: int  # where the node starts in its file
    allow_agent: bool = True  # the flow's agent key works here
    # The call's recording pauses while the caller is in this node (docs/recording.md):
    # `sensitive:` on collect, menu, play and say nodes; derived for lookups.
    sensitive: bool = False

    def targets(self) -> tuple[str, ...]:
        """The nodes this one can lead to (the flow's agent and max-time nodes aside)."""
        return ()


# The keys of a phone's keypad (RFC 4733 events 0-15): a menu's choices, the agent key
# and what `Session.digit` takes.
DTMF_KEYS: Final = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, kw_only=True)
class MenuNode(Node):
    prompt: Prompts
    choices: Mapping[str, str]  # digit -> node
    timeout_ms: int = 5000
    retries: int = 2  # tries after the first, shared by invalid input and timeouts
    invalid_prompt: Prompts = ()
    timeout_prompt: Prompts = ()
    on_failure: str | None = None  # None: Hangup("retries_exhausted")
    on_timeout: str | None = None  # a timeout goes here at once instead of retrying
    interruptible: bool = True

    def targets(self) -> tuple[str, ...]:
        return _present(*self.choices.values(), self.on_failure, self.on_timeout)


@dataclass(frozen=True, kw_only=True)
class PlayNode(Node):
    prompt: Prompts
    next: str
    interruptible: bool = True

    def targets(self) -> tuple[str, ...]:
        return (self.next,)


@dataclass(frozen=True, kw_only=True)
class CollectNode(Node):
    prompt: Prompts
    next: str
    store_as: str | None = None
    min_digits: int = 1
    max_digits: int = 20
    terminator: str | None = "#"
    first_digit_timeout_ms: int = 5000
    inter_digit_timeout_ms: int = 3000
    checks: tuple[Check, ...] = ()
    retries: int = 2
    invalid_prompt: Prompts = ()
    timeout_prompt: Prompts = ()
    on_failure: str | None = None
    on_timeout: str | None = None
    sensitive: bool = False
    interruptible: bool = True

    def targets(self) -> tuple[str, ...]:
        return _present(self.next, self.on_failure, self.on_timeout)


@dataclass(frozen=True, kw_only=True)
class LookupNode(Node):
    source: str
    key: Template
    store_as: str
    next: str
    on_not_found: str | None = None  # None: on_error's way, else Hangup("error")
    on_error: str | None = None  # None: Hangup("error")
    sensitive: bool = False  # the key reads a sensitive value: so does the record

    def targets(self) -> tuple[str, ...]:
        return _present(self.next, self.on_not_found, self.on_error)


@dataclass(frozen=True, kw_only=True)
class BranchNode(Node):
    conditions: tuple[Condition, ...]
    default: str

    def targets(self) -> tuple[str, ...]:
        return (*(c.next for c in self.conditions), self.default)


CALL_DATA_KEYS: Final = ("language", "category", "priority", "skill")


@dataclass(frozen=True, kw_only=True)
class SetNode(Node):
    values: Mapping[str, Template]  # a key of CALL_DATA_KEYS -> its value
    next: str

    def targets(self) -> tuple[str, ...]:
        return (self.next,)


@dataclass(frozen=True, kw_only=True)
class QueueNode(Node):
    queue: str
    priority: int | None = None  # None: the call data's priority (a set node), else 0
    skills: Mapping[str, int] | None = None
    hours: str | None = None  # a schedule; closed: go to `closed`
    closed: str | None = None  # None: Hangup("closed")
    prompt: Prompts = ()  # played before the call is queued

    def targets(self) -> tuple[str, ...]:
        return _present(self.closed)


@dataclass(frozen=True, kw_only=True)
class VoicemailNode(Node):
    box: str
    language: str | None = None  # None: the call's language
    prompt: Prompts = ()


@dataclass(frozen=True, kw_only=True)
class TransferNode(Node):
    number: str
    prompt: Prompts = ()


@dataclass(frozen=True, kw_only=True)
class HangupNode(Node):
    prompt: Prompts = ()
    result: Result | None = None  # None: why the flow came here, else self_served


# Nodes that end the session (after their prompt, if any).
TERMINAL_NODES: Final = (QueueNode, VoicemailNode, TransferNode, HangupNode)
# Nodes that wait for the caller's digits.
INPUT_NODES: Final = (MenuNode, CollectNode)


def _present(*names: str | None) -> tuple[str, ...]:
    return tuple(n for n in names if n is not None)
