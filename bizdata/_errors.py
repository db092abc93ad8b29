"""What goes wrong in the store and in lookups, as one exception family."""

from __future__ import annotations

__all__ = ["DataSourceError", "StoreError"]


class StoreError(Exception):
    """The store cannot be used: a bad URL, a missing password variable, a database
    that cannot be reached or migrated. The message names the database (password
    masked) and what went wrong."""


class DataSourceError(StoreError):
    """A lookup failed or missed its deadline; the message names the source, never the
    key (it may be digits a caller typed in a sensitive node)."""
