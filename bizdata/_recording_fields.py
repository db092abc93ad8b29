"""Checks of what the recorder, the ACD and the dashboards hand the recording and
voicemail index: each returns the clean value or raises InvalidField naming the field.
Most values are copied from events, so empty text is allowed where an event may carry
it (an always-on recording has no name, a voicemail no agent)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from ._desk_records import utc
from ._errors import InvalidField

__all__ = [
    "MAX_LIMIT",
    "count",
    "hex_id",
    "instant",
    "limit_of",
    "one_of",
    "plain",
    "relative_file",
]

# A ref, a voicemail message id: uuid4().hex.
_HEX_ID = re.compile(r"[0-9a-f]{32}")
# The most rows a search or the access log returns, whatever limit is asked for.
MAX_LIMIT = 1000


def hex_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _HEX_ID.fullmatch(value):
        raise InvalidField(name, f"{value!r} is not 32 lowercase hex characters (uuid4().hex)")
    return value


def plain(name: str, value: Any, *, max_len: int) -> str:
    """Text of at most `max_len` characters, possibly empty; None is taken as empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidField(name, "must be text")
    if len(value) > max_len:
        raise InvalidField(name, f"is {len(value)} characters long; at most {max_len}")
    return value


def instant(name: str, value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidField(name, f"must be a datetime, not {value!r}")
    if value.tzinfo is None:
        raise InvalidField(name, "must carry a time zone")
    return utc(value)


def one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidField(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31 - 1:
        raise InvalidField(name, f"must be a whole number from 0 to {2**31 - 1}, not {value!r}")
    return value


def relative_file(value: Any) -> str:
    """A WAV's path relative to recording.dir or voicemail.dir: never absolute, never
    climbing out with `..` (the dashboards and the ACD join it to their mount)."""
    text = plain("file", value, max_len=255)
    path = PurePosixPath(text)
    if not text or path.is_absolute() or ".." in path.parts or "\\" in text:
        raise InvalidField("file", f"{text!r} is not a path relative to the recordings' directory")
    return text


def limit_of(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidField("limit", f"must be a whole number from 1, not {value!r}")
    return min(value, MAX_LIMIT)
