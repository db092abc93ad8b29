"""The controller's rtpengine circuit breaker, against a hung node (a UDP socket that
reads and never answers) and a live one (the real rtpengine of this module)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from controller import MediaError, RtpengineNg
from testbed import Rtpengine, wait_until


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


def test_a_hung_node_costs_one_timeout_then_fails_fast_until_the_retry(hung: socket.socket) -> None:
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


OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\n"
)


def test_background_deletes_do_not_wait_and_are_all_sent_by_close(
    engine: Rtpengine, hung: socket.socket
) -> None:
    """`delete_in_background` (what the controller uses): `delete` returns without a
    round trip, even to a node that never answers; the sessions do go, in rtpengine's
    own list, and `close` sends what is still queued."""
    ng = RtpengineNg("127.0.0.1", engine.ng_port, timeout=1.0, delete_in_background=True)
    probe = engine.client()
    calls = [f"bg-delete-{n}" for n in range(5)]
    try:
        for cid in calls:
            ng.offer(cid, "L1", None, OFFER)
        assert set(calls) <= set(probe.list_calls())
        ng.delete(calls[0])
        wait_until(
            lambda: calls[0] not in probe.list_calls(),
            timeout=5,
            what="the first session deleted by the background thread",
        )
        for cid in calls[1:]:
            ng.delete(cid)
        ng.close()
        assert not set(calls) & set(probe.list_calls()), "close() sent every delete"
    finally:
        probe.close()

    dead = RtpengineNg(*hung.getsockname(), timeout=0.3, delete_in_background=True)
    started = time.monotonic()
    dead.delete("c1")
    dead.delete("c2")
    assert time.monotonic() - started < 0.1, "the caller never waits for a delete"
    wait_until(lambda: received(hung) >= 1, timeout=5, what="the delete sent")
    dead.close(timeout_s=2.0)  # both time out (0.3 s each) on the thread, within 2 s
