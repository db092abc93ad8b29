"""What goes wrong in the store and in lookups, as one exception family.

The desk API's refusals (NotFound, VersionConflict, InvalidField, InvalidTransition,
InUse) carry messages an agent can read, and what a caller needs to answer them: the
field, or the record as it is now."""

from __future__ import annotations

from typing import Any

__all__ = [
    "DataSourceError",
    "InUse",
    "InvalidField",
    "InvalidTransition",
    "NotFound",
    "StoreError",
    "VersionConflict",
]


class StoreError(Exception):
    """The store cannot be used: a bad URL, a missing password variable, a database
    that cannot be reached or migrated. The message names the database (password
    masked) and what went wrong."""


class DataSourceError(StoreError):
    """A lookup failed or missed its deadline; the message names the source, never the
    key (it may be digits a caller typed in a sensitive node)."""


class NotFound(StoreError):
    """No such record (a customer, complaint or ticket id that does not exist)."""


class VersionConflict(StoreError):
    """The record changed since the caller read it: `current` is the record as it is
    now (the same dict the getter returns), to show the agent before they retry."""

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message)
        self.current = current


class InvalidField(StoreError):
    """A field's value is refused: `field` names it, `message` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidTransition(StoreError):
    """A ticket cannot move that way from where it is; the message says where it can."""


class InUse(StoreError):
    """A record others still depend on cannot be deleted (a customer with accounts or
    open tickets); the message says what holds it."""
