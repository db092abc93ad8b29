"""A party's audio: RTP sent every 20 ms, like a phone, until the test stops it.

A party that stops sending while its SIP stack stays up is a "dead leg" (a phone
that lost power or network after answering): the liveness tests' subject.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

import numpy as np

from simulators import RtpEndpoint, RtpSender, encode_ulaw


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


class TonePlayer:
    """Sends a sine at `freq_hz` as PCMU from `endpoint`, one 20 ms packet at a time in
    real time, to wherever `dest()` says, until stopped: a caller whose audio a test
    checks by content at the far end (a browser's ToneMeter, another endpoint)."""

    def __init__(
        self,
        endpoint: RtpEndpoint,
        dest: Callable[[], tuple[str, int]],
        freq_hz: float,
        *,
        level: float = 0.4,
    ) -> None:
        self.endpoint, self.dest = endpoint, dest
        rate, frame = 8000, 160
        # One second of audio, a whole number of cycles for the integer frequencies
        # tests use, sent round and round without a click.
        t = np.arange(rate) / rate
        pcm = (level * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
        audio = encode_ulaw(pcm)
        self._frames = [audio[i : i + frame] for i in range(0, rate, frame)]
        self._sender = RtpSender(ssrc=0x70000000 | secrets.randbelow(0x1000000))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        index = 0
        while not self._stop.is_set():
            self.endpoint.send_packet(self.dest(), self._sender.audio(self._frames[index]))
            index = (index + 1) % len(self._frames)
            next_at += 0.020
            # Paced against the clock (not sleep(0.02) per packet), so the stream
            # keeps real time on a loaded machine; the wait is the pacing itself.
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
