"""rtpengine's ng framing as the mixer serves it: `<cookie> <bencoded dict>` over UDP.

The reply carries the request's cookie. A client that hears nothing retransmits with
the same cookie; like rtpengine, the mixer answers a repeat from a cache rather than
running the command twice (a second `join` must not take a second port).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import fastbencode


class NgRequestError(ValueError):
    """A datagram that is no ng request; the message says why."""


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


def _wire(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value)
    if isinstance(value, Mapping):
        return {str(k).encode(): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def split_cookie(datagram: bytes) -> tuple[bytes, bytes]:
    """The cookie and the body; `NgRequestError` without a cookie."""
    cookie, space, body = datagram.partition(b" ")
    if not space or not cookie or len(cookie) > 64:
        raise NgRequestError("not `<cookie> <bencoded dict>`")
    return cookie, body


def decode_request(body: bytes) -> dict[str, Any]:
    """The request's dictionary, byte strings as text; it must have a `command`."""
    try:
        value = fastbencode.bdecode(body)
    except Exception as exc:  # fastbencode raises ValueError or its own errors
        raise NgRequestError(f"bad bencode: {exc}") from None
    if not isinstance(value, dict):
        raise NgRequestError("the request is not a dictionary")
    request: dict[str, Any] = _text(value)
    if not isinstance(request.get("command"), str):
        raise NgRequestError("no command")
    return request


def encode_reply(cookie: bytes, reply: Mapping[str, Any]) -> bytes:
    body: bytes = fastbencode.bencode(_wire(reply))
    return cookie + b" " + body


def error_reply(reason: str) -> dict[str, Any]:
    return {"result": "error", "error-reason": reason}


class ReplyCache:
    """Recent replies by (client address, cookie), for retransmitted requests.

    A request whose reply is not ready yet (`stop record` waits for the file) is
    `pending`: a repeat of it is dropped, the reply will come. Entries live `ttl_s`,
    at most `size` of them.
    """

    def __init__(
        self,
        ttl_s: float = 30.0,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[tuple[Any, bytes], tuple[float, bytes | None]] = OrderedDict()

    def _expire(self) -> None:
        horizon = self._clock() - self._ttl_s
        while self._entries:
            key, (at, _) = next(iter(self._entries.items()))
            if at >= horizon and len(self._entries) <= self._size:
                break
            del self._entries[key]

    def lookup(self, address: Any, cookie: bytes) -> tuple[bool, bytes | None]:
        """(seen, reply): seen with reply None means pending."""
        self._expire()
        entry = self._entries.get((address, cookie))
        if entry is None:
            return False, None
        return True, entry[1]

    def pending(self, address: Any, cookie: bytes) -> None:
        self._entries[(address, cookie)] = (self._clock(), None)

    def store(self, address: Any, cookie: bytes, reply: bytes) -> None:
        self._entries.pop((address, cookie), None)
        self._entries[(address, cookie)] = (self._clock(), reply)
        self._expire()
