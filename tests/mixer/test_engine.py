"""The engine's control path in process: replies, their cache, their size."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import fastbencode
import pytest

from mixer._engine import Engine
from mixer._settings import MixerSettings
from testbed import mixer_config


@pytest.fixture
def engine() -> Iterator[Engine]:
    node = mixer_config({}, ports=9)
    settings = MixerSettings(
        "test", "127.0.0.1", 0, "127.0.0.1", node["port_min"], node["port_max"], 2, 30.0
    )
    engine = Engine(settings)
    yield engine
    engine.close()


def ask(engine: Engine, client: socket.socket, cookie: bytes, request: dict[bytes, object]) -> dict:
    engine._request(cookie + b" " + fastbencode.bencode(request), client.getsockname())
    got_cookie, _, body = client.recv(65535).partition(b" ")
    assert got_cookie == cookie
    reply: dict = fastbencode.bdecode(body)
    return reply


def test_a_reply_too_large_for_a_datagram_is_an_error(engine: Engine) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(2)
        assert ask(engine, client, b"1", {b"command": b"ping"})[b"result"] == b"pong"
        engine._answer(client.getsockname(), b"2", {"result": "ok", "x": "y" * 70_000})
        _, _, body = client.recv(65535).partition(b" ")
        reply = fastbencode.bdecode(body)
        assert reply[b"result"] == b"error" and b"ask per conference" in reply[b"error-reason"]


def test_statistics_without_a_conference_carries_the_engine_totals(engine: Engine) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(2)
        reply = ask(engine, client, b"s", {b"command": b"statistics"})
        assert set(reply[b"mixer"]) >= {b"ticks", b"skipped_ticks", b"max_lag_us", b"cpu_ms"}
        assert reply[b"conferences"] == {}


def test_skipped_ticks_are_silence_in_a_recording(engine: Engine, tmp_path: Path) -> None:
    sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\n"
    engine.bridge.handle({"command": "join", "conference": "c", "slot": "caller", "sdp": sdp})
    engine.bridge.handle(
        {
            "command": "record",
            "conference": "c",
            "file": str(tmp_path / "r.wav"),
            "channels": [["caller"], []],
        }
    )
    engine._tick(0)
    engine._pad_recordings(3)
    writer = engine.bridge.conferences["c"].recording.writer  # type: ignore[union-attr]
    assert writer.frames == 4 * 160 and writer.duration_ms == 80
