"""CSRF: every state-changing request but the login carries the session's token in
`X-CSRF-Token`. The cookie is SameSite=Strict already; the token is the second,
independent check (a page on another origin can neither read it nor set the header
without a CORS preflight the desktop never allows)."""

from __future__ import annotations

import hmac

__all__ = ["CSRF_HEADER", "SAFE_METHODS", "csrf_ok"]

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_ok(method: str, sent: str | None, expected: str) -> bool:
    if method in SAFE_METHODS:
        return True
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())
