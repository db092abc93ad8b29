"""A G.711 RTP endpoint for checking media paths: sends known audio, counts what arrives.

sipp does the signalling in tests and the demo; this endpoint stands behind the
port a party advertised in its SDP, so each party can count the packets that
reached it and compare the audio bytes with what the other party sent. With
`record=True` it also keeps every packet's header fields and arrival time per
source (SSRC), so a test can rebuild the audio a caller heard (testbed's audio
analysis); off by default, so load tests pay nothing for it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from simulators._dtmf import DEFAULT_EVENT_PT, RtpSender

PCMU = 0
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz


def payload_for(marker: int, seq: int) -> bytes:
    """160 bytes of audio unique to (marker, seq), so a mixed-up stream is caught."""
    head = struct.pack("!BH", marker & 0xFF, seq & 0xFFFF)
    return (head * (SAMPLES_PER_PACKET // len(head) + 1))[:SAMPLES_PER_PACKET]


@dataclass(frozen=True)
class RtpPacket:
    """One received RTP packet, as `RtpEndpoint(record=True)` keeps it."""

    ssrc: int
    payload_type: int
    seq: int
    timestamp: int
    arrival: float  # time.monotonic() when it was read
    payload: bytes
    marker: bool = False


@dataclass
class RtpEndpoint:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[tuple[int, bytes]] = field(default_factory=list)
    # Whole packets per SSRC, in arrival order; kept only when `record` is set.
    record: bool = False
    recorded: dict[int, list[RtpPacket]] = field(default_factory=dict)
    _sock: socket.socket | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False)
    _dtmf: RtpSender | None = field(default=None, repr=False)  # the stream send_dtmf keeps

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        assert self._sock is not None
        while not self._stopped.is_set():
            try:
                data = self._sock.recv(2048)
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                # An ICMP port-unreachable for an earlier send (a peer's port closed
                # as its media moved): receiving goes on.
                continue
            except OSError:
                return
            if len(data) >= 12:
                seq = struct.unpack("!H", data[2:4])[0]
                self.received.append((seq, data[12:]))
                if self.record:
                    self._keep(data, seq)

    def _keep(self, data: bytes, seq: int) -> None:
        arrival = time.monotonic()
        timestamp, ssrc = struct.unpack("!II", data[4:12])
        # Past the CSRC list and any header extension; padding is not audio.
        start = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= start + 4:
            start += 4 + 4 * struct.unpack("!H", data[start + 2 : start + 4])[0]
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)
        packet = RtpPacket(
            ssrc, data[1] & 0x7F, seq, timestamp, arrival, data[start:end], bool(data[1] & 0x80)
        )
        # setdefault and append are each atomic under the GIL; readers copy the lists.
        self.recorded.setdefault(ssrc, []).append(packet)

    def packets(self, source: int | None = None) -> list[RtpPacket]:
        """What `record=True` kept: from `source` (an SSRC), or from all, in arrival order."""
        if source is not None:
            return list(self.recorded.get(source, ()))
        merged = [p for packets in list(self.recorded.values()) for p in list(packets)]
        return sorted(merged, key=lambda p: p.arrival)

    def send(
        self,
        dest: tuple[str, int],
        *,
        marker: int,
        count: int,
        interval_s: float = 0.005,
        ssrc: int = 0x1234,
    ) -> None:
        assert self._sock is not None
        for seq in range(count):
            header = struct.pack("!BBHII", 0x80, PCMU, seq, seq * SAMPLES_PER_PACKET, ssrc ^ marker)
            self._sock.sendto(header + payload_for(marker, seq), dest)
            time.sleep(interval_s)  # pacing, like a real 20 ms ptime source (scaled down)

    def send_packet(self, dest: tuple[str, int], packet: bytes) -> None:
        """One ready-made RTP packet (e.g. an `RtpSender`'s) from this endpoint's port,
        the port its SDP named: rtpengine learns a party's address from it."""
        assert self._sock is not None
        self._sock.sendto(packet, dest)

    def send_dtmf(
        self,
        dest: tuple[str, int],
        digits: str,
        *,
        inband: bool = False,
        payload_type: int = DEFAULT_EVENT_PT,
        on_ms: int = 100,
        off_ms: int = 100,
        interval_s: float = 0.02,
    ) -> None:
        """Key in `digits` as a phone does: RFC 4733 events (`payload_type`, from the SDP),
        or with `inband` as tones in PCMU audio; silence for `off_ms` after each digit.

        One RTP stream across calls (its own SSRC, sequence and timestamps), paced in
        real time by default: rtpengine's tone detector reads the audio as it comes.
        """
        if self._dtmf is None:
            self._dtmf = RtpSender(ssrc=0xD7F00000 | self.port)
        packets = self._dtmf.dtmf(
            digits, inband=inband, payload_type=payload_type, on_ms=on_ms, off_ms=off_ms
        )
        assert self._sock is not None
        for packet in packets:
            self._sock.sendto(packet, dest)
            time.sleep(interval_s)  # pacing: one packet per packet time

    def wait_received(self, count: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.received)

    def received_from(self, marker: int) -> int:
        """How many received packets carry exactly the audio `marker`'s sender sent."""
        return sum(1 for seq, body in self.received if body == payload_for(marker, seq))

    def close(self) -> None:
        self._stopped.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=1)
