"""Customer records, complaints, tickets and wrap-ups: the API's calls into the business
data store (bizdata's desk functions), their refusals turned into the contract's codes.

One engine per process; every call is a short transaction in bizdata. The functions
take the engine first and keyword arguments after, and return JSON-ready dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bizdata

from ._errors import ApiError

__all__ = ["Records", "recording_ref"]


def recording_ref(call_id: str | None) -> str | None:
    """The recording reference a complaint keeps for its call: the ACD call id, which
    names the call's recording (issue 13 files recordings under it). No call, none."""
    return call_id or None


def _refusal(exc: Exception) -> ApiError | None:
    """The contract's refusal for one of bizdata's desk errors; None for anything else."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, bizdata.NotFound):
        return ApiError(404, "not_found", message)
    if isinstance(exc, bizdata.VersionConflict):
        return ApiError(409, "version_conflict", message, extra={"current": exc.current})
    if isinstance(exc, bizdata.InvalidField):
        return ApiError(422, "invalid", message, field=exc.field)
    if isinstance(exc, bizdata.InvalidTransition):
        return ApiError(409, "invalid_transition", message)
    if isinstance(exc, bizdata.InUse):
        return ApiError(409, "in_use", message)
    return None


class Records:
    def __init__(self, store_url: str, *, password_env: str | None = None) -> None:
        self.engine = bizdata.open_engine(store_url, password_env=password_env)

    def close(self) -> None:
        self.engine.dispose()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        function: Callable[..., Any] = getattr(bizdata, name)
        try:
            return function(self.engine, *args, **kwargs)
        except Exception as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise
            raise refusal from None

    def customer_for_call(self, *, account: str | None, caller: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.call(
            "find_customer_for_call", account=account or None, phone=caller or None
        )
        return result
