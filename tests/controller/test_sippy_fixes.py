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
from sippy.SipRequest import SipRequest
from sippy.SipResponse import SipResponse
from sippy.SipTransactionManager import SipTransactionManager
from sippy.SipURL import SipURL
from sippy.Time import MonoTime as monotime_module
from sippy.Time import clock_dtime
from sippy.Udp_server import Udp_server, Udp_server_opts

from controller import _sippy_fixes
from testbed import ROOT


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
        [
            sys.executable,
            "-m",
            "controller",
            "--sip",
            f"127.0.0.1:{held_port}",
            "--rtpengine",
            "127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert "already bound" in result.stderr
    assert "READY" not in result.stdout


def test_one_udp_sender_so_1xx_and_200_keep_their_order() -> None:
    stock = _server(Udp_server_opts(("127.0.0.1", 0), None))
    ours = _server(_sippy_fixes.SingleSenderUdpOpts(("127.0.0.1", 0), None))
    try:
        assert len(stock.asenders) == 3
        assert len(ours.asenders) == 1
        assert (
            _sippy_fixes.FixedSipTransactionManager.model_udp_server[1]
            is _sippy_fixes.SingleSenderUdpOpts
        )
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
    for fix in (
        "nworkers",
        "SO_REUSEPORT",
        "transport=UDP",
        "claim_event_loop",
        "with_dialog_route_set",
    ):
        assert fix in doc


def test_monotime_reads_the_same_clocks_without_ctypes() -> None:
    """Fix 5: MonoTime's clock reads go through time.clock_gettime, on the clock ids
    Sippy chose (its CLOCK_MONOTONIC is Linux's MONOTONIC_RAW), and agree with the
    ctypes reads they replace."""
    ctypes_read = clock_dtime.clock_getdtime
    _sippy_fixes.apply()
    assert monotime_module.clock_getdtime is _sippy_fixes._clock_getdtime
    assert clock_dtime.clock_getdtime is _sippy_fixes._clock_getdtime
    for clock in (clock_dtime.CLOCK_MONOTONIC, clock_dtime.CLOCK_REALTIME):
        before = clock_dtime.clock_getitime(clock)  # the ctypes read, kept
        ours = monotime_module.clock_getdtime(clock)
        after = clock_dtime.clock_getitime(clock)
        assert before[0] + before[1] * 1e-9 <= ours <= after[0] + after[1] * 1e-9 + 1e-6
    if ctypes_read is not _sippy_fixes._clock_getdtime:  # first apply() in this process
        assert (
            abs(
                ctypes_read(clock_dtime.CLOCK_MONOTONIC)
                - monotime_module.clock_getdtime(clock_dtime.CLOCK_MONOTONIC)
            )
            < 0.1
        )
    first, second = monotime_module.MonoTime(), monotime_module.MonoTime()
    assert first.monot <= second.monot and abs(first.realt - second.realt) < 1.0


def test_ipv4_datagrams_leave_from_the_calling_thread_in_order() -> None:
    """Fix 6: a name still goes through Sippy's sender thread, which resolves it; to an
    IPv4 address the calling thread sends, in order, even with that thread gone."""
    server = _sippy_fixes.LoopSendUdpServer(
        {}, _sippy_fixes.SingleSenderUdpOpts(("127.0.0.1", 0), None)
    )
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    try:
        assert (
            _sippy_fixes.FixedSipTransactionManager.model_udp_server[0]
            is _sippy_fixes.LoopSendUdpServer
        )
        server.send_to(b"by name", ("localhost", port))
        assert receiver.recv(100) == b"by name"
        server.sendqueue.put(None)  # Sippy's stop request: its sender thread exits
        (sender,) = server.asenders
        sender.join(timeout=5)
        assert not sender.is_alive()
        for n in range(50):
            server.send_to(f"message {n}", ("127.0.0.1", port))
        assert [receiver.recv(100) for _ in range(50)] == [
            f"message {n}".encode() for n in range(50)
        ]
    finally:
        receiver.close()
        server.shutdown()


class _SentMessages:
    """A `_sip_logger` that keeps what the transaction manager sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def write(self, *args: object, **kwargs: object) -> None:
        text = "".join(str(a) for a in args)
        if text.startswith("SENDING"):
            self.sent.append(text)


def _reinvite_and_its_2xx(edge_port: int) -> tuple[SipRequest, SipResponse]:
    """The controller's bridge re-INVITE to a page through the edge (two Route entries:
    Kamailio's double record-route, UDP then WebSocket), and the page's 200: no
    Record-Route (none is in the request to copy), a new Contact (target refresh)."""
    dialog = (
        "From: <sip:1002@huaan.test>;tag=ctl\r\nTo: <sip:1001@huaan.test>;tag=page\r\n"
        "Call-ID: reinvite-ack\r\nCSeq: 2 INVITE\r\n"
    )
    reinvite = SipRequest(
        buf="INVITE sip:1001@huaan.test;alias=127.0.0.1~38900~6 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5099;rport;branch=z9hG4bKreinvite\r\n"
        f"Route: <sip:127.0.0.1:{edge_port};r2=on;ws=1;lr>\r\n"
        "Route: <sip:127.0.0.1:17580;transport=ws;r2=on;ws=1;lr>\r\n"
        f"Max-Forwards: 70\r\n{dialog}Contact: <sip:127.0.0.1:5099>\r\nContent-Length: 0\r\n\r\n"
    )
    reinvite.setTarget((("127.0.0.1", edge_port), "udp"))
    ok = SipResponse(
        buf="SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5099;rport=5099;branch=z9hG4bKreinvite\r\n"
        f"{dialog}Contact: <sip:1001@192.0.2.1;gr=urn:uuid:d0;alias=127.0.0.1~38900~6>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return reinvite, ok


@pytest.mark.parametrize("fixed", [False, True])
def test_the_ack_of_a_reinvites_2xx_follows_the_dialogs_route_set(fixed: bool) -> None:
    """Fix 7: stock Sippy takes the ACK's route set from the 2xx's Record-Route, which a
    re-INVITE's 2xx lacks: the ACK goes to the Contact, past the edge. Ours keeps the
    dialog's route set: to the edge, with both Route entries, to the new Contact."""
    _sippy_fixes.claim_event_loop()  # Sippy's timers are armed from this thread
    edge = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    edge.bind(("127.0.0.1", 0))
    log = _SentMessages()
    manager = _sippy_fixes.FixedSipTransactionManager if fixed else SipTransactionManager
    config = {"_sip_address": "127.0.0.1", "_sip_port": 0, "_sip_logger": log}
    with warnings.catch_warnings():
        # Upstream's constructor leaks the socket it probes IPv6 with; collect it quietly.
        warnings.simplefilter("ignore", ResourceWarning)
        tm = manager(config, lambda *_: None)
        gc.collect()
    try:
        reinvite, ok = _reinvite_and_its_2xx(edge.getsockname()[1])
        transaction = tm.newTransaction(reinvite)
        tm.incomingResponse(ok, transaction, "reinvite-ack-2xx")
        (ack,) = [m for m in log.sent if "\nACK " in m]
        head, _, rest = ack.partition("\n")
        if not fixed:
            assert head.endswith("udp:192.0.2.1:5060:"), "the upstream bug: straight to the Contact"
            assert "Route:" not in rest
            return
        assert head.endswith(f"udp:127.0.0.1:{edge.getsockname()[1]}:"), head
        assert rest.startswith("ACK sip:1001@192.0.2.1;gr=urn:uuid:d0;alias=127.0.0.1~38900~6 ")
        routes = [line for line in rest.splitlines() if line.startswith("Route:")]
        assert routes == [
            f"Route: <sip:127.0.0.1:{edge.getsockname()[1]};r2=on;ws=1;lr>",
            "Route: <sip:127.0.0.1:17580;transport=ws;r2=on;ws=1;lr>",
        ]
    finally:
        tm.l4r.shutdown()
        edge.close()
