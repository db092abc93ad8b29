"""One test per Sippy 2.5.0 fix in controller/_sippy_fixes.py: the bug, then the fix."""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sippy.Core.EventDispatcher import ED2
from sippy.SipURL import SipURL
from sippy.Udp_server import Udp_server, Udp_server_opts

from controller import _sippy_fixes
from tests.controller.harness import ROOT


@pytest.fixture
def held_port() -> Iterator[int]:
    """A UDP port held the way Sippy holds its own: SO_REUSEADDR | SO_REUSEPORT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _server(opts: Udp_server_opts) -> Udp_server:
    return Udp_server({}, opts)


def test_stock_options_bind_a_taken_port_silently_and_ours_refuse(held_port: int) -> None:
    stock_opts = Udp_server_opts(("127.0.0.1", held_port), None)
    stock_opts.flags = 0  # what Sippy's own dry run sets; getCopy() drops it
    stock = _server(stock_opts)
    try:
        assert stock.skt.getsockname()[1] == held_port, "the upstream bug: a silent double bind"
    finally:
        stock.shutdown()
    with warnings.catch_warnings():
        # Upstream leaks the socket when bind() fails; collect it here, quietly.
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(OSError, match="in use"):
            _server(_sippy_fixes.SingleSenderUdpOpts(("127.0.0.1", held_port), None))
        gc.collect()


def test_probe_bind_refuses_a_taken_port(held_port: int) -> None:
    with pytest.raises(_sippy_fixes.PortInUseError):
        _sippy_fixes.probe_bind("127.0.0.1", held_port)


def test_controller_process_refuses_to_start_on_a_taken_port(held_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller", "--sip", f"127.0.0.1:{held_port}",
         "--rtpengine", "127.0.0.1:9"], capture_output=True, text=True, timeout=30,
        cwd=ROOT, check=False)
    assert result.returncode == 2
    assert "already bound" in result.stderr
    assert "READY" not in result.stdout


def test_one_udp_sender_so_1xx_and_200_keep_their_order() -> None:
    stock = _server(Udp_server_opts(("127.0.0.1", 0), None))
    ours = _server(_sippy_fixes.SingleSenderUdpOpts(("127.0.0.1", 0), None))
    try:
        assert len(stock.asenders) == 3
        assert len(ours.asenders) == 1
        assert _sippy_fixes.FixedSipTransactionManager.model_udp_server[1] is \
            _sippy_fixes.SingleSenderUdpOpts
    finally:
        stock.shutdown()
        ours.shutdown()


def test_uppercase_transport_in_a_contact_is_read_as_udp() -> None:
    url = "sip:13912345678@127.0.0.1:5070;transport=UDP"
    parsed = SipURL(url)
    _sippy_fixes._original_set_params(parsed, ["transport=UDP"])
    assert parsed.getTAddr()[1] == "UDP", "upstream keeps it; newTransaction() wants 'udp'"
    _sippy_fixes.apply()
    assert SipURL(url).getTAddr() == (("127.0.0.1", 5070), "udp")


def test_claim_event_loop_hands_ed2_to_the_running_thread() -> None:
    seen: list[int] = []

    def claim() -> None:
        _sippy_fixes.claim_event_loop()
        seen.append(ED2.my_ident)

    before = ED2.my_ident
    worker = threading.Thread(target=claim)
    worker.start()
    worker.join()
    try:
        assert seen == [worker.ident]
    finally:
        ED2.my_ident = before


def test_fixes_module_is_documented_in_call_control_doc() -> None:
    doc = (Path(ROOT) / "docs" / "call-control.md").read_text()
    for fix in ("nworkers", "SO_REUSEPORT", "transport=UDP", "claim_event_loop"):
        assert fix in doc
