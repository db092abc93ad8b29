"""A small pcap writer for the recording tests: RTP streams as rtpengine records them
(raw IPv4 + UDP, linktype 101), and the variants a reader must also take."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulators import encode_alaw, encode_ulaw

RATE = 8000
PCMU = 0
PCMA = 8
TELEPHONE_EVENT = 101
CALLER_PORT = 30000  # rtpengine's port facing the caller: the caller's packets go to it
AGENT_PORT = 30002  # rtpengine's port facing the agent

Record = tuple[float, bytes]  # (pcap time, the IP packet)


def tone(freq: float, seconds: float, level: float = 0.3) -> np.ndarray:
    """A cosine: its first sample is not 0, so where it starts can be seen."""
    t = np.arange(round(seconds * RATE)) / RATE
    return np.asarray(np.cos(2 * np.pi * freq * t) * level * 32767, dtype=np.int16)


def rtp(
    *, ssrc: int, seq: int, ts: int, payload: bytes, pt: int = PCMU, marker: bool = False
) -> bytes:
    return (
        struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


def ipv4_udp(payload: bytes, *, dport: int, sport: int = 40000, src: str = "127.0.0.2") -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
        socket.inet_aton(src), socket.inet_aton("127.0.0.1"),
    )  # fmt: skip
    return header + udp


def ipv6_udp(payload: bytes, *, dport: int, sport: int = 40000) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    src = socket.inet_pton(socket.AF_INET6, "::2")
    dst = socket.inet_pton(socket.AF_INET6, "::1")
    return struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src + dst + udp


@dataclass
class Stream:
    """One sender's G.711 RTP: `audio` from pcap time `start`, 20 ms a packet."""

    audio: np.ndarray
    start: float
    dport: int
    ssrc: int = 0x1234
    ts0: int = 1000
    seq0: int = 1
    pt: int = PCMU
    jitter_s: float = 0.0  # each packet's arrival late by up to this (seeded)
    # The sender's port: by default one per rtpengine port it sends to (one party each).
    sport: int | None = None
    src: str = "127.0.0.2"  # the sender's address

    @property
    def sender_port(self) -> int:
        return self.sport if self.sport is not None else 1024 + self.dport % 60000

    def records(self) -> list[Record]:
        encode = encode_alaw if self.pt == PCMA else encode_ulaw
        rng = np.random.default_rng(self.ssrc)
        out = []
        for n, first in enumerate(range(0, len(self.audio), 160)):
            payload = encode(self.audio[first : first + 160])
            packet = rtp(
                ssrc=self.ssrc, seq=self.seq0 + n, ts=self.ts0 + first, payload=payload, pt=self.pt
            )
            late = float(rng.uniform(0, self.jitter_s)) if self.jitter_s else 0.0
            out.append(
                (
                    self.start + first / RATE + late,
                    ipv4_udp(packet, dport=self.dport, sport=self.sender_port, src=self.src),
                )
            )
        return out


def write_pcap(
    path: Path,
    records: Iterable[Record],
    *,
    linktype: int = 101,
    big_endian: bool = False,
    nanoseconds: bool = False,
) -> Path:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    chunks = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for when, packet in sorted(records, key=lambda r: r[0]):
        frame = packet
        if linktype == 1:
            ethertype = 0x86DD if packet[0] >> 4 == 6 else 0x0800
            frame = bytes(12) + struct.pack("!H", ethertype) + packet
        seconds = int(when)
        fraction = round((when - seconds) * (1e9 if nanoseconds else 1e6))
        chunks.append(struct.pack(order + "IIII", seconds, fraction, len(frame), len(frame)))
        chunks.append(frame)
    path.write_bytes(b"".join(chunks))
    return path
