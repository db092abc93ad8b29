"""Senders whose packets a recording leaves out: the monitoring mixers.

A monitored call's media runs through a mixer (docs/monitoring.md): rtpengine receives
from the mixer what each party is to hear, which repeats what the parties said (and, in
whisper and barge, carries the supervisor). Those packets are in the call's pcap, so the
converter drops every packet sent from a mixer's RTP address and port range.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recording._pcap import Ints


@dataclass(frozen=True)
class SourceRange:
    """An RTP sender to ignore: its address and a port range (both ends included)."""

    host: str
    port_min: int
    port_max: int

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise ValueError(f"ignored source {self.host!r} is not an IP address") from None
        if not 0 <= self.port_min <= self.port_max <= 65535:
            raise ValueError(
                f"ignored source {self.host}: ports {self.port_min}..{self.port_max} "
                "are not a range of UDP ports"
            )


def folded_address(host: str) -> int:
    """The address as `Capture.source` holds it above its 16 port bits: IPv4 as is, IPv6
    as the xor of its four 32-bit words."""
    packed = ipaddress.ip_address(host).packed
    words = [int.from_bytes(packed[i : i + 4], "big") for i in range(0, len(packed), 4)]
    folded = 0
    for word in words:
        folded ^= word
    return folded


def from_ignored(source: Ints, ignored: Sequence[SourceRange]) -> npt.NDArray[np.bool_]:
    """Which packets (by `Capture.source`) came from one of the `ignored` senders."""
    hit = np.zeros(len(source), dtype=np.bool_)
    if not ignored or not len(source):
        return hit
    address = source >> 16
    port = source & 0xFFFF
    for sender in ignored:
        hit |= (
            (address == folded_address(sender.host))
            & (port >= sender.port_min)
            & (port <= sender.port_max)
        )
    return hit
