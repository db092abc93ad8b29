"""Checks of what agents type into the desk API: each returns the clean value or raises
InvalidField naming the field and saying, in words an agent reads, what is wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ._errors import InvalidField
from ._models import CUSTOMER_TYPES, LANGUAGES

__all__ = [
    "CUSTOMER_FIELDS",
    "NOTE_MAX",
    "call_id",
    "code",
    "customer_fields",
    "instant",
    "note",
    "positive_int",
    "text",
    "username",
]

NOTE_MAX = 2000
_PHONE = re.compile(r"\+?[0-9]{3,20}")
# Spaces and dashes agents type between groups of digits (139 1234 5678).
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
# configuration.Code: what the config names wrap-up codes, units and categories by.
_CODE = re.compile(r"[a-z][a-z0-9_\-]{0,31}")
# The fields an agent may set on a customer, and their maximum lengths (None: not text).
CUSTOMER_FIELDS: dict[str, int | None] = {
    "name": 100,
    "phone": None,
    "language": None,
    "customer_type": None,
    "address": 200,
    "email": 254,
    "notes": NOTE_MAX,
}
# What a record sent back whole carries besides: the store sets these, never the agent.
_READ_ONLY = frozenset(
    {"id", "version", "accounts", "created_at", "updated_at", "updated_by", "matched_by"}
)


def customer_fields(fields: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The fields to write, checked and cleaned (empty optional text becomes None).
    Creating: name and phone are required; language defaults to zh, customer_type to
    resident. Read-only fields (id, version, accounts, timestamps) are ignored."""
    unknown = sorted(set(fields) - set(CUSTOMER_FIELDS) - _READ_ONLY)
    if unknown:
        raise InvalidField(
            unknown[0], f"not a customer field (they are: {', '.join(CUSTOMER_FIELDS)})"
        )
    clean: dict[str, Any] = {}
    for name in CUSTOMER_FIELDS:
        if name in fields:
            clean[name] = _customer_field(name, fields[name])
    if creating:
        for required in ("name", "phone"):
            if required not in clean:
                raise InvalidField(required, "is required")
        clean.setdefault("language", LANGUAGES[0])
        clean.setdefault("customer_type", CUSTOMER_TYPES[0])
    return clean


def _customer_field(name: str, value: Any) -> Any:
    if name == "name":
        return text(name, value, max_len=100)
    if name == "phone":
        return phone(value)
    if name == "language":
        return _one_of(name, value, LANGUAGES)
    if name == "customer_type":
        return _one_of(name, value, CUSTOMER_TYPES)
    if name == "email":
        email = text(name, value, max_len=254, required=False)
        if email is not None and not _EMAIL.fullmatch(email):
            raise InvalidField(name, f"{email!r} is not an email address")
        return email
    max_len = CUSTOMER_FIELDS[name]
    assert max_len is not None
    return text(name, value, max_len=max_len, required=False)


def phone(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidField("phone", "must be text")
    digits = _PHONE_SEPARATORS.sub("", value)
    if not _PHONE.fullmatch(digits):
        raise InvalidField("phone", "must be 3 to 20 digits, optionally after a +")
    return digits


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidField(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def text(name: str, value: Any, *, max_len: int, required: bool = True) -> Any:
    """Stripped text of at most `max_len` characters; not required: empty is None."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidField(name, "must be text")
    value = value.strip()
    if not value:
        if required:
            raise InvalidField(name, "must not be empty")
        return None
    if len(value) > max_len:
        raise InvalidField(name, f"is {len(value)} characters long; at most {max_len}")
    return value


def note(value: Any, name: str = "note") -> str | None:
    result: str | None = text(name, value, max_len=NOTE_MAX, required=False)
    return result


def code(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise InvalidField(
            name, f"{value!r} is not a code (a-z first, then a-z, 0-9, _ or -; at most 32)"
        )
    return value


def username(value: Any, name: str = "by") -> str:
    result: str = text(name, value, max_len=64)
    return result


def call_id(value: Any, *, required: bool = False) -> str | None:
    result: str | None = text("call_id", value, max_len=64, required=required)
    return result


def positive_int(name: str, value: Any, *, maximum: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidField(name, f"must be a whole number from 1 to {maximum}, not {value!r}")
    return value


def instant(value: datetime | None) -> datetime:
    """`value` (now when None) in UTC. A naive datetime is refused: it could be any zone."""
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        raise InvalidField("now", "must carry a time zone")
    return value.astimezone(UTC)
