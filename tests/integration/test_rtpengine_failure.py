"""A dead media node must not take the edge down (DESIGN.md: "a dead rtpengine that
blocks all Kamailio workers" is a complaint we must not repeat).

Each test runs its own stack whose rtpengine nodes are unmanaged addresses we
control: a closed port (dead host that answers with ICMP), a bound socket that
never answers (hung rtpengine), or a fake node that answers the start-up ping
and then dies, so that the hash picks it for a call.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from simulators import RtpEndpoint, free_port, start_sipp
from testbed import (
    RawSip,
    Stack,
    artifact_dir,
    base_config,
    media_of,
    no_rtpengine_session,
    options_rtt,
    register_agent,
    running_stack,
    start_phone,
)

FAST_503_S = 0.8
PROMPT_OPTIONS_S = 0.25
CALLS_IN_FLIGHT = 10

pytestmark = pytest.mark.integration


@contextmanager
def _stack_with_nodes(
    request: pytest.FixtureRequest, workdir: Path, nodes: list[dict[str, Any]]
) -> Iterator[Stack]:
    config, passwords = base_config(workdir)
    config["rtpengine"]["nodes"] = nodes
    failed_before = request.session.testsfailed
    with running_stack(workdir, config, passwords) as stack:
        yield stack
        if request.session.testsfailed > failed_before:
            shutil.copytree(
                stack.layout.logs, artifact_dir(f"{request.node.nodeid}-stack"), dirs_exist_ok=True
            )


def _unmanaged(port: int) -> dict[str, Any]:
    base = 20000 + secrets.randbelow(60) * 200
    return {"ng": f"127.0.0.1:{port}", "managed": False, "port_min": base, "port_max": base + 99}


def _storm(
    stack: Stack, calls: int
) -> tuple[list[tuple[int, float] | None], list[tuple[int | None, float]]]:
    """Send `calls` INVITEs at once; ping OPTIONS for as long as any is unanswered."""
    results: list[tuple[int, float] | None] = [None] * calls

    def call(i: int) -> None:
        with RawSip(stack.sip) as raw:
            dialog = raw.invite("95598")
            reply = dialog.final(timeout=5)
            if reply is not None:
                dialog.ack(reply)
                results[i] = (reply.code, reply.elapsed)

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(calls)]
    for thread in threads:
        thread.start()
    pings: list[tuple[int | None, float]] = []
    while any(t.is_alive() for t in threads) or len(pings) < 3:
        pings.append(options_rtt(stack.sip, timeout=3.0))
    for thread in threads:
        thread.join(timeout=10)
    return results, pings


def _agent_sink(stack: Stack, workdir: Path) -> RtpEndpoint:
    """Register 1001 at a socket that counts whatever reaches it (no call may)."""
    sink = RtpEndpoint()
    run = register_agent(stack, "1001", sink.port, workdir=workdir)
    assert "REGISTERED 1001" in run.log_lines(), run.errors()
    return sink


def _assert_fast_503_and_prompt_options(stack: Stack, workdir: Path) -> None:
    sink = _agent_sink(stack, workdir)
    try:
        with RawSip(stack.sip) as raw:
            dialog = raw.invite("95598")
            reply = dialog.final(timeout=5)
            assert reply is not None, "no reply at all with a dead media node"
            dialog.ack(reply)
        assert reply.code == 503, reply.text
        assert reply.elapsed < FAST_503_S, f"503 after {reply.elapsed:.3f}s"

        results, pings = _storm(stack, CALLS_IN_FLIGHT)
        assert all(r is not None and r[0] == 503 for r in results), results
        slowest = max(r[1] for r in results if r is not None)
        assert slowest < FAST_503_S, f"slowest 503 after {slowest:.3f}s: {results}"
        assert all(code == 200 for code, _ in pings), pings
        worst = max(rtt for _, rtt in pings)
        assert worst < PROMPT_OPTIONS_S, f"OPTIONS took {worst:.3f}s with calls in flight"
        assert sink.received == [], "no call may reach an agent without media"
        assert "rtpengine offer failed: no media node answered" in stack.kamailio_log()
    finally:
        sink.close()


def test_closed_rtpengine_port_gives_a_fast_503_and_workers_keep_serving(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    dead = free_port()  # bound then closed: nothing listens, the kernel sends ICMP
    with _stack_with_nodes(request, tmp_path / "stack", [_unmanaged(dead)]) as stack:
        _assert_fast_503_and_prompt_options(stack, tmp_path)


def test_hung_rtpengine_gives_a_fast_503_and_workers_keep_serving(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A bound socket that never answers: a hung rtpengine (no ICMP to fail fast on).
    hung = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hung.bind(("127.0.0.1", 0))
    try:
        nodes = [_unmanaged(hung.getsockname()[1])]
        with _stack_with_nodes(request, tmp_path / "stack", nodes) as stack:
            _assert_fast_503_and_prompt_options(stack, tmp_path)
    finally:
        hung.close()


class _FakeNode:
    """Answers rtpengine's start-up ping with pong, until closed (then: a closed port)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.pinged = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            cookie, _, body = data.partition(b" ")
            if b"4:ping" in body:
                self.sock.sendto(cookie + b" d6:result4:ponge", peer)
                self.pinged.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def _call_id_for_first_node(nodes: int = 2) -> str:
    """A Call-ID that the rtpengine module's hash (byte sum & 0xff, mod weights) puts
    on the first node, so the dead node is really picked."""
    while True:
        call_id = f"pick-{secrets.token_hex(6)}@127.0.0.1"
        if (sum(call_id.encode()) & 0xFF) % nodes == 0:
            return call_id


def test_calls_succeed_through_the_live_node_when_the_other_is_dead(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fake = _FakeNode()
    live_ng = f"127.0.0.1:{free_port()}"
    base = 20000 + secrets.randbelow(60) * 200
    nodes = [
        {"ng": f"127.0.0.1:{fake.port}", "managed": False, "port_min": base, "port_max": base + 99},
        {"ng": live_ng, "port_min": base + 100, "port_max": base + 199},
    ]
    calls = 4
    agent_rtp = RtpEndpoint()
    try:
        with _stack_with_nodes(request, tmp_path / "stack", nodes) as stack:
            # The first node was alive when Kamailio started, and dies now.
            assert fake.pinged.is_set(), "Kamailio never pinged the first node"
            fake.close()
            phone = start_phone(
                stack, "1001", workdir=tmp_path, calls=calls, rtp_port=agent_rtp.port
            )
            try:
                for i in range(calls):
                    carrier_rtp = RtpEndpoint()
                    try:
                        # The first call is hashed onto the dead node; the others
                        # land where the hash puts them.
                        extra = ["-cid_str", _call_id_for_first_node()] if i == 0 else []
                        carrier = start_sipp(
                            f"carrier{i}",
                            "trunk_call",
                            stack.sip,
                            workdir=tmp_path,
                            service="95598",
                            pause_ms=1500,
                            timeout_s=20,
                            extra=extra,
                            keys={"caller": "+8613912345678", "rtp_port": carrier_rtp.port},
                        )
                        (answered,) = carrier.wait_for_log("ANSWERED ")
                        assert stack.rtpengine_calls(1), "the live node anchors the call"
                        marker = 0xC0 + i
                        had = len(agent_rtp.received)
                        carrier_rtp.send(media_of(answered), marker=marker, count=20)
                        agent_rtp.wait_received(had + 20)
                        assert agent_rtp.received_from(marker) >= 19, f"call {i}: no media"
                        assert carrier.wait(timeout=15) == 0, carrier.errors()
                    finally:
                        carrier_rtp.close()
                    no_rtpengine_session(stack, index=1)
                assert len(phone.run.wait_for_log("CALL ", count=calls)) == calls
                assert phone.run.wait(timeout=15) == 0, phone.run.errors()
            finally:
                phone.run.stop()
            log = stack.kamailio_log()
            # The hash did pick the dead node for the first call; the module moved on.
            assert f'"offer" from RTPEngine <udp:127.0.0.1:{fake.port}>' in log, (
                "the dead node was never tried"
            )
            assert "rtpengine offer failed" not in log
    finally:
        fake.close()
        agent_rtp.close()
