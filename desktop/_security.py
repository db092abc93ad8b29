"""Response headers for every reply: a strict Content-Security-Policy (no inline script,
no framing; WebSockets only to the desktop and Kamailio's WSS; media from the
softphone's streams), and caching rules (the API: never; the page's files: revalidate
each time, cheap with their ETag, so an upgrade is never half-loaded)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "content_security_policy"]


def _ws_origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def content_security_policy(public_url: str, wss_url: str) -> str:
    connect = ["'self'", _ws_origin(public_url)]
    if wss_url:
        connect.append(_ws_origin(wss_url))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {' '.join(dict.fromkeys(connect))}",
            "media-src 'self' blob: mediastream:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
            (b"strict-transport-security", b"max-age=31536000"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"microphone=(self), camera=(), geolocation=()"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cache = b"no-store" if scope["path"].startswith("/api/") else b"no-cache"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers += self.headers
                headers.append((b"cache-control", cache))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
