"""An agent's call history, from the CDR service's HTTP API (analytics.listen)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from ._errors import ApiError

__all__ = ["HISTORY_PATH", "agent_history"]

# The CDR service's endpoint for one agent's calls, newest first (`agent` is the
# account, `limit` 1..500; docs/analytics.md).
HISTORY_PATH = "/v1/calls"


def agent_history(
    base_url: str | None, username: str, limit: int, *, timeout: float = 3.0
) -> list[Any]:
    if not base_url:
        raise ApiError(503, "history_unavailable", "no CDR service configured (analytics:)")
    url = f"{base_url}{HISTORY_PATH}?{urlencode({'agent': username, 'limit': limit})}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - config's URL
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ApiError(503, "history_unavailable", f"CDR service: {exc}") from None
    calls = body.get("calls") if isinstance(body, dict) else body
    return list(calls or [])
