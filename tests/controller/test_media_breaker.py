"""The controller's rtpengine circuit breaker, against a hung node (a UDP socket that
reads and never answers) and a live one (the real rtpengine of this module)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from controller import MediaError, RtpengineNg
from tests.controller.harness import Rtpengine


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hung() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    yield sock
    sock.close()


def received(sock: socket.socket) -> int:
    """Datagrams waiting on the hung node (drained)."""
    count = 0
    sock.setblocking(False)
    try:
        while True:
            sock.recv(65535)
            count += 1
    except BlockingIOError:
        return count
    finally:
        sock.settimeout(0.5)


def test_a_hung_node_costs_one_timeout_then_fails_fast_until_the_retry(
        hung: socket.socket) -> None:
    clock = Clock()
    ng = RtpengineNg(*hung.getsockname(), timeout=0.2, down_for_s=5.0, clock=clock)
    started = time.monotonic()
    with pytest.raises(MediaError, match=r"did not answer|timed out"):
        ng.delete("c1")
    assert time.monotonic() - started >= 0.2
    assert received(hung) == 1

    started = time.monotonic()
    with pytest.raises(MediaError, match="marked down"):
        ng.delete("c2")
    assert time.monotonic() - started < 0.05
    assert received(hung) == 0  # not even sent

    clock.now += 5.0  # the period is over: one probe goes out again
    with pytest.raises(MediaError, match=r"did not answer|timed out"):
        ng.delete("c3")
    assert received(hung) == 1
    ng.close()


def test_an_error_reply_does_not_mark_the_node_down(engine: Rtpengine) -> None:
    ng = RtpengineNg("127.0.0.1", engine.ng_port, timeout=1.0)
    with pytest.raises(MediaError, match="Unknown call-id"):
        ng.answer("no-such-call", "a", "b", "v=0\r\n")  # rtpengine answers result=error
    assert ng.request("ping")["result"] == "pong"
    ng.close()
