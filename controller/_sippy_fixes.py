"""Small, tested fixes to Sippy 2.5.0, applied in our process (see docs/call-control.md).

1. **UDP sender worker count.** `Udp_server_opts.nworkers` defaults to 3 sender
   threads sharing one queue, so a 1xx and the 200 behind it can leave in the wrong
   order. We use one worker.
2. **SO_REUSEPORT double bind.** Sippy sets SO_REUSEADDR|SO_REUSEPORT and tries a
   dry-run bind without them first, but `Network_server.__init__` copies its options
   with `getCopy()`, which drops per-instance `flags` and `nworkers`: the dry run
   binds *with* the flags and a second instance starts silently on a taken port.
   Our options class sets both as class attributes (they survive `getCopy()`), and
   `probe_bind()` refuses to start when the port is taken.
3. **Uppercase transport.** `SipURL` keeps `transport=UDP` as written, and
   `SipTransactionManager.newTransaction` compares it with `'udp'`: a request to a
   Contact with `;transport=UDP` (sipp writes one) raises, so BYE never leaves.
   We lower-case the parameter on parse (RFC 3261 19.1.4: it is case-insensitive).
4. **Event loop thread.** `ED2` is a singleton created at import time that remembers
   the importing thread; timers armed from another thread print "Timer.go() from
   wrong thread". `claim_event_loop()` hands it to the thread that runs `ED2.loop()`.
5. **Clock reads through ctypes.** `MonoTime` (made for every timer and SIP message)
   reads the clocks with `clock_gettime` called through ctypes, 0.7 us a read against
   0.05 us for `time.clock_gettime`: about 8 % of the SIP loop's samples at 40 calls/s
   (py-spy, BENCHMARKS.md). We read the same clocks (sippy's clock ids, e.g. its
   `CLOCK_MONOTONIC` is Linux's 4, MONOTONIC_RAW) with `time.clock_gettime`.
6. **A thread hop per datagram sent.** `Udp_server.send_to` queues every message for
   its sender thread: a lock, a wake-up and a GIL hand-over each, 8 or so per call,
   and the sender resolves the address again each time. A UDP send to an IPv4 address
   does not wait, so `LoopSendUdpServer` sends it at once from the calling thread (the
   SIP loop), which also keeps the order of the messages by construction. Names (which
   may need DNS), IPv6, Sippy's loss/delay simulation and a full socket buffer
   (`MSG_DONTWAIT`: EAGAIN) still go through the sender thread.
7. **The ACK of a re-INVITE's 2xx ignores the dialog's route set.** The transaction
   manager builds that ACK's Route headers and next hop from the *response's*
   Record-Route, which a 2xx to an in-dialog request does not carry (RFC 3261 12.2.1.2:
   the route set is fixed when the dialog is made): the ACK goes straight to the
   Contact. A phone reachable there gets it; a browser behind the edge's WebSocket
   (a Contact like `sip:x@y.invalid;transport=ws;alias=...`) never does, so JsSIP
   stays waiting for it and refuses the next re-INVITE (403 Wrong Status): a
   consult's cancel could not bring the caller back to a page's softphone. For an
   in-dialog INVITE (its To has a tag) that sent Route headers, a 2xx without
   Record-Route gets them back as its Record-Route before Sippy builds the ACK.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import time
from _thread import get_ident
from functools import lru_cache
from typing import Any

import sippy.Time.clock_dtime
import sippy.Time.MonoTime
from sippy.Core.EventDispatcher import ED2
from sippy.SipHeader import SipHeader
from sippy.SipTransactionManager import SipTransactionManager
from sippy.SipURL import SipURL
from sippy.Udp_server import Udp_server, Udp_server_opts


class PortInUseError(RuntimeError):
    """Another process (or another controller) already holds the SIP port."""


class SingleSenderUdpOpts(Udp_server_opts):  # type: ignore[misc]
    """One sender thread (keeps 1xx before 200) and no SO_REUSE* flags.

    Class attributes, not instance ones: Network_server copies options with
    `getCopy()`, which keeps only the class defaults for these two.
    """

    nworkers = 1
    flags = 0


log = logging.getLogger("controller.sip")


@lru_cache(maxsize=4096)
def _ipv4_literal(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


class LoopSendUdpServer(Udp_server):  # type: ignore[misc]
    """Sends IPv4 datagrams from the calling thread instead of the sender thread's queue."""

    def send_to(self, data: bytes | str, address: Any, delayed: bool = False) -> None:
        opts = self.uopts
        if (
            opts.family != socket.AF_INET
            or opts.ploss_out_rate > 0
            or opts.pdelay_out_max > 0
            or not isinstance(address, tuple)
            or len(address) != 2
            or not isinstance(address[0], str)
            or not _ipv4_literal(address[0])
        ):
            super().send_to(data, address, delayed)
            return
        try:
            port = int(address[1])  # an int, or Sippy's MyPort
        except (TypeError, ValueError):
            super().send_to(data, address, delayed)
            return
        payload = data if isinstance(data, bytes) else data.encode("utf-8")
        try:
            self.skt.sendto(payload, socket.MSG_DONTWAIT, (address[0], port))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS):
                super().send_to(payload, address, delayed)  # the sender thread retries
                return
            # What Sippy's sender does with any other error: drop the datagram (SIP
            # retransmits requests and 2xx; a closed socket at shutdown lands here).
            log.debug("sending to %s:%s failed: %s", address[0], address[1], exc)


class FixedSipTransactionManager(SipTransactionManager):  # type: ignore[misc]
    model_udp_server = (LoopSendUdpServer, SingleSenderUdpOpts)

    def newTransaction(self, msg: Any, *args: Any, **kwargs: Any) -> Any:
        t = super().newTransaction(msg, *args, **kwargs)
        # Fix 7: an in-dialog INVITE's route set, for the ACK of its 2xx.
        t.dialog_routes = None
        if t.method == "INVITE" and msg.getHFBody("to").getTag() is not None:
            routes = [r.getCopy() for r in msg.getHFBodys("route")]
            t.dialog_routes = routes or None
        return t

    def incomingResponse(self, msg: Any, t: Any, checksum: Any) -> None:
        routes = getattr(t, "dialog_routes", None)
        if routes and t.needack and msg.countHFs("record-route") == 0:
            code = msg.getSCode()[0]
            if 200 <= code < 300:
                # Sippy reverses the Record-Route list into the route set.
                msg.appendHeaders(
                    [SipHeader(name="record-route", body=r.getCopy()) for r in reversed(routes)]
                )
        super().incomingResponse(msg, t, checksum)


def probe_bind(host: str, port: int) -> None:
    """Bind the UDP port without SO_REUSE* and release it; raise if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"SIP port {host}:{port} is already bound") from exc
            raise


_original_set_params = SipURL.setParams


def _set_params_lowercase_transport(self: Any, params: Any) -> None:
    _original_set_params(self, params)
    if isinstance(self.transport, str):
        self.transport = self.transport.lower()


def _clock_getdtime(clock: int) -> float:
    """sippy's `clock_getdtime` (seconds as a float, for a clock id) without ctypes."""
    return time.clock_gettime(clock)


def apply() -> None:
    """Install the module-level patches (idempotent)."""
    SipURL.setParams = _set_params_lowercase_transport
    # MonoTime imported the function by name: both references are replaced.
    sippy.Time.clock_dtime.clock_getdtime = _clock_getdtime
    sippy.Time.MonoTime.clock_getdtime = _clock_getdtime


def claim_event_loop() -> None:
    """Make the calling thread the owner of Sippy's event loop (call before ED2.loop())."""
    ED2.my_ident = get_ident()
