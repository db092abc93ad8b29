"""The interface the IVR's lookup nodes call (R-INT-1): a key in, a flat record out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["DataSource"]


@runtime_checkable
class DataSource(Protocol):
    """Where lookups go: our store, an operator's SQL database or HTTP API.

    `lookup(key)` returns the record (field name -> value: str, int, Decimal, date,
    None...) or None when there is none; it raises DataSourceError when the source
    fails or does not answer within its deadline. It blocks for at most about the
    deadline, so call it off any event loop; it is safe to call from several threads.
    """

    def lookup(self, key: str) -> Mapping[str, object] | None: ...
