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
"""

from __future__ import annotations

import errno
import socket
from _thread import get_ident
from typing import Any

from sippy.Core.EventDispatcher import ED2
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


class FixedSipTransactionManager(SipTransactionManager):  # type: ignore[misc]
    model_udp_server = (Udp_server, SingleSenderUdpOpts)


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


def apply() -> None:
    """Install the module-level patches (idempotent)."""
    SipURL.setParams = _set_params_lowercase_transport


def claim_event_loop() -> None:
    """Make the calling thread the owner of Sippy's event loop (call before ED2.loop())."""
    ED2.my_ident = get_ident()
