"""A call's data for the agent who takes it (`EnqueueRequest.call_data`): the rule on
its size and shape, shared by the ACD (which refuses a bad one) and the call
controller (which checks before it sends). The ACD keeps it with the call and puts it
on every Offer; it never reads the values."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["MAX_CALL_DATA_KEYS", "MAX_CALL_DATA_VALUE", "call_data_problem"]

MAX_CALL_DATA_KEYS = 16
MAX_CALL_DATA_VALUE = 256  # characters
# Plain identifiers (ivr_path, account...): nothing a log line or a header could trip on.
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def call_data_problem(data: Mapping[str, str]) -> str | None:
    """Why `data` cannot travel with a call, or None."""
    if len(data) > MAX_CALL_DATA_KEYS:
        return f"call_data has at most {MAX_CALL_DATA_KEYS} keys, not {len(data)}"
    for key, value in data.items():
        if not isinstance(key, str) or _KEY.fullmatch(key) is None:
            return (
                f"call_data key {key!r} is not 1..64 characters of [A-Za-z0-9_.-] "
                "starting with a letter"
            )
        if not isinstance(value, str):
            return f"call_data[{key!r}] is a string, not {type(value).__name__}"
        if len(value) > MAX_CALL_DATA_VALUE:
            return (
                f"call_data[{key!r}] is {len(value)} characters; "
                f"at most {MAX_CALL_DATA_VALUE} are allowed"
            )
    return None
