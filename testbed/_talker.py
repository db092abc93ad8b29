"""A party's audio: RTP sent every 20 ms, like a phone, until the test stops it.

A party that stops sending while its SIP stack stays up is a "dead leg" (a phone
that lost power or network after answering): the liveness tests' subject.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from simulators import RtpEndpoint


class Talker:
    """Sends audio from `endpoint` every 20 ms to wherever `dest()` says, until stopped."""

    def __init__(
        self, endpoint: RtpEndpoint, dest: Callable[[], tuple[str, int]], marker: int
    ) -> None:
        self.endpoint, self.dest, self.marker = endpoint, dest, marker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            # Five packets at the 20 ms ptime of a phone, then look at stop again.
            self.endpoint.send(self.dest(), marker=self.marker, count=5, interval_s=0.020)

    def stop(self) -> float:
        """Stop sending; the monotonic time of the last packet (to within 20 ms)."""
        self._stop.set()
        self._thread.join(timeout=2)
        return time.monotonic()
