"""The node's RTP ports: one UDP socket per slot, bound on the node's interface."""

from __future__ import annotations

import errno
import logging
import socket
from collections import deque

log = logging.getLogger("mixer")


class PortsExhausted(RuntimeError):
    """No port of the range is free."""


class PortPool:
    """Ports of `port_min`..`port_max` handed out round-robin: a freed port goes to the
    back of the line, so a late packet for a party that left does not land in the
    next party's slot at once."""

    def __init__(self, interface: str, port_min: int, port_max: int) -> None:
        self.interface = interface
        self.port_min = port_min
        self.port_max = port_max
        self._free: deque[int] = deque(range(port_min, port_max + 1))
        self._family = socket.AF_INET6 if ":" in interface else socket.AF_INET

    @property
    def free(self) -> int:
        return len(self._free)

    def open(self) -> socket.socket:
        """A non-blocking socket bound to a free port of the range. A port some other
        program holds is skipped (and put back at the end); `PortsExhausted` when none
        binds."""
        for _ in range(len(self._free)):
            port = self._free.popleft()
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.bind((self.interface, port))
            except OSError as exc:
                sock.close()
                self._free.append(port)
                if exc.errno != errno.EADDRINUSE:
                    raise
                log.warning("port %s:%d is in use by another program", self.interface, port)
                continue
            sock.setblocking(False)
            return sock
        raise PortsExhausted(f"no free port in {self.interface}:{self.port_min}-{self.port_max}")

    def release(self, sock: socket.socket) -> None:
        port = sock.getsockname()[1]
        sock.close()
        self._free.append(port)

    def bindable(self) -> int:
        """How many ports of the range bind now (a start-up check: another program
        that holds the whole range is a clear error, not a mixer that refuses every
        join)."""
        count = 0
        for port in self._free:
            with socket.socket(self._family, socket.SOCK_DGRAM) as sock:
                try:
                    sock.bind((self.interface, port))
                except OSError:
                    continue
                count += 1
        return count
