"""Free loopback ports for the services a test, benchmark or demo starts.

Asking the kernel for port 0 and closing the socket hands back a port from the
ephemeral range, which any outgoing connection (a Redis client, a gRPC channel)
may take before our service binds it: CI saw a controller fail with EADDRINUSE
that way. So ports come from a band below the ephemeral range instead, free for
both UDP and TCP (several services bind both), and never handed out twice by one
process. rtpengine media ranges in tests use 20000-31999, so this band stops
below them.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_BAND = range(10000, 20000)
_handed_out: set[int] = set()
_lock = threading.Lock()


def _ephemeral_range() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def _bindable(host: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that is free for UDP and TCP and outside the ephemeral range."""
    ephemeral = _ephemeral_range()
    candidates = [p for p in _BAND if p not in ephemeral]
    with _lock:
        for port in random.sample(candidates, len(candidates)):
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free port on {host} in {_BAND.start}-{_BAND.stop - 1}")
