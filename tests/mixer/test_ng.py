"""rtpengine's ng framing and the reply cache for retransmissions."""

from __future__ import annotations

import fastbencode
import pytest

from mixer._ng import (
    NgRequestError,
    ReplyCache,
    decode_request,
    encode_reply,
    error_reply,
    split_cookie,
)


def test_request_and_reply() -> None:
    body = fastbencode.bencode({b"command": b"hear", b"hears": {b"agent": [b"caller"]}})
    cookie, rest = split_cookie(b"5e1f " + body)
    assert cookie == b"5e1f"
    assert decode_request(rest) == {"command": "hear", "hears": {"agent": ["caller"]}}
    reply = encode_reply(cookie, {"result": "ok", "sdp": "v=0", "duration_ms": 20, "x": [1]})
    assert reply.startswith(b"5e1f d")
    assert fastbencode.bdecode(reply[5:]) == {
        b"result": b"ok",
        b"sdp": b"v=0",
        b"duration_ms": 20,
        b"x": [1],
    }
    assert error_reply("why") == {"result": "error", "error-reason": "why"}


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [(b"nocookie", "cookie"), (b" d1:a1:be", "cookie")],
)
def test_no_cookie(datagram: bytes, reason: str) -> None:
    with pytest.raises(NgRequestError, match=reason):
        split_cookie(datagram)


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"xyz", "bad bencode"), (b"li1ee", "not a dictionary"), (b"d1:ai1ee", "no command")],
)
def test_bad_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(NgRequestError, match=reason):
        decode_request(body)


def test_cache_answers_a_repeat_and_forgets_after_its_ttl() -> None:
    now = [100.0]
    cache = ReplyCache(ttl_s=30, size=3, clock=lambda: now[0])
    client = ("127.0.0.1", 5000)
    assert cache.lookup(client, b"c1") == (False, None)
    cache.pending(client, b"c1")
    assert cache.lookup(client, b"c1") == (True, None)  # pending: drop the repeat
    cache.store(client, b"c1", b"c1 reply")
    assert cache.lookup(client, b"c1") == (True, b"c1 reply")
    assert cache.lookup(("127.0.0.1", 5001), b"c1") == (False, None)  # another client
    now[0] += 31
    assert cache.lookup(client, b"c1") == (False, None)


def test_cache_is_bounded() -> None:
    cache = ReplyCache(ttl_s=30, size=2, clock=lambda: 0.0)
    for cookie in (b"a", b"b", b"c"):
        cache.store("x", cookie, cookie)
    assert cache.lookup("x", b"a") == (False, None)
    assert cache.lookup("x", b"c") == (True, b"c")
