"""A party's audio: RTP sent every 20 ms, like a phone, until the test stops it.

A party that stops sending while its SIP stack stays up is a "dead leg" (a phone
that lost power or network after answering): the liveness tests' subject.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections.abc import Callable

import numpy as np

from simulators import DEFAULT_EVENT_PT, RtpEndpoint, RtpSender, encode_ulaw, event_code


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
    checks by content at the far end (a browser's ToneMeter, another endpoint).

    `press(digits)` keys them in as RFC 4733 events in the same RTP stream, as a phone
    does: each digit's event packets take the place of the tone for 100 ms, then 100 ms
    of silence, then the tone again."""

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
        self._keys: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._keyed: list[bytes] = []  # the packets of digits being keyed in, in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        index = 0
        while not self._stop.is_set():
            if not self._keyed and not self._keys.empty():
                digits, payload_type = self._keys.get()
                # Built here, on the sending thread: the sender's sequence and
                # timestamp run on through the digits and back into the tone.
                self._keyed = self._sender.dtmf(digits, payload_type=payload_type)
            if self._keyed:
                self.endpoint.send_packet(self.dest(), self._keyed.pop(0))
            else:
                self.endpoint.send_packet(self.dest(), self._sender.audio(self._frames[index]))
                index = (index + 1) % len(self._frames)
            next_at += 0.020
            # Paced against the clock (not sleep(0.02) per packet), so the stream
            # keeps real time on a loaded machine; the wait is the pacing itself.
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def press(self, digits: str, payload_type: int = DEFAULT_EVENT_PT) -> None:
        """Key in `digits` (RFC 4733, `payload_type` as the SDP named telephone-event)
        after any keyed before; returns at once, the digits go out in real time."""
        for digit in digits:
            event_code(digit)  # a bad digit is refused here, not on the sending thread
        self._keys.put((digits, payload_type))

    @property
    def keying(self) -> bool:
        """Digits are still going out."""
        return bool(self._keyed) or not self._keys.empty()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
