"""The API's refusals: one exception that carries the contract's status, stable code
and English message (docs/desktop.md, "The API"), turned into JSON by the app."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "error_body"]


class ApiError(Exception):
    """A refusal the page shows: `code` is stable (the page translates it), `message` is
    English for logs, `field` names the offending input, `extra` adds keys beside them
    (a version conflict's `current` record)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}


def error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    body.update(error.extra)
    return {"error": body}
