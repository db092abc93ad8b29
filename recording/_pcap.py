"""A classic pcap file as arrays of RTP packets: rtpengine's `--recording-method=pcap`.

The file's records are walked in Python (each record says how long it is, so the walk is
sequential); every header field after that is read for all packets at once with numpy
gathers on the file's bytes. Read: pcap with microsecond or nanosecond times, either byte
order; linktypes raw IP (rtpengine's `--recording-format=raw`), Ethernet (with one VLAN
tag) and Linux cooked capture; IPv4 and IPv6 (no extension headers); UDP; RTP with CSRCs,
a header extension and padding.

A file whose last record is cut short (rtpengine could not finish writing it: disk full)
is read up to its last whole record and marked `truncated`; that is not an error.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from recording._errors import RecordingFormatError
from recording._g711 import PCMA, PCMU

Ints = npt.NDArray[np.int64]

_MAGIC_US: Final = 0xA1B2C3D4
_MAGIC_NS: Final = 0xA1B23C4D
_PCAPNG: Final = 0x0A0D0D0A
_FILE_HEADER: Final = 24
_RECORD_HEADER: Final = 16
# Bytes before the IP header, by linktype.
_LINK_RAW: Final = 101
_LINK_RAW_OLD: Final = 12  # DLT_RAW on some BSDs
_LINK_ETHERNET: Final = 1
_LINK_LINUX_SLL: Final = 113
_LINK_HEADERS: Final = (_LINK_RAW, _LINK_RAW_OLD, _LINK_ETHERNET, _LINK_LINUX_SLL)
_ETHERTYPE_VLAN: Final = 0x8100
_UDP: Final = 17
_RTP_HEADER: Final = 12
# Gathers read a few bytes past a record's end before the lengths say a field is not
# there; padding the buffer makes those reads harmless.
_PAD: Final = 256


@dataclass(frozen=True)
class Capture:
    """The G.711 RTP packets of one pcap, one array entry per packet, in file order.

    `payload_start` indexes into the bytes `read_pcaps` returned. `skipped`: the file's
    other records (RTCP, telephone events, comfort noise, not RTP, not UDP).
    """

    time: npt.NDArray[np.float64]  # pcap time of the record, seconds since the epoch
    dst_port: Ints
    ssrc: Ints
    rtp_ts: Ints
    alaw: npt.NDArray[np.bool_]
    payload_start: Ints
    payload_len: Ints
    records: int
    skipped: int
    truncated: bool
    last_ts: float | None


def read_pcaps(paths: Sequence[Path]) -> tuple[npt.NDArray[np.uint8], list[Capture]]:
    """The files' bytes, read once into one array (each followed by `_PAD` zeros), and
    each file's packets, indexing into that array."""
    sizes = [path.stat().st_size for path in paths]
    data = np.zeros(sum(size + _PAD for size in sizes), dtype=np.uint8)
    view = data.data
    captures = []
    base = 0
    for path, size in zip(paths, sizes, strict=True):
        with open(path, "rb") as file:
            got = file.readinto(view[base : base + size])
        captures.append(_read(path, data, base, got))
        base += size + _PAD
    return data, captures


def _read(path: Path, data: npt.NDArray[np.uint8], base: int, size: int) -> Capture:
    raw = data.data[base : base + size]
    if size < _FILE_HEADER:
        # rtpengine writes the header when it opens the file: a shorter file is one it
        # could not write (disk full), so it holds no packet.
        return _empty(truncated=True)
    order, nanoseconds = _byte_order(path, raw)
    linktype = struct.unpack_from(order + "I", raw, 20)[0] & 0xFFFF
    if linktype not in _LINK_HEADERS:
        raise RecordingFormatError(
            f"{path}: byte 20: linktype {linktype} is not read (raw IP, Ethernet, Linux cooked)"
        )
    offsets, truncated = _walk(raw, order)
    if not offsets:
        return _empty(truncated=truncated)
    header = np.frombuffer(offsets, dtype=np.int64) + base
    field = _u32 if order == ">" else _u32_little
    start = header + _RECORD_HEADER
    length = field(data, header + 8)
    fraction = field(data, header + 4).astype(np.float64) / (1e9 if nanoseconds else 1e6)
    time = field(data, header).astype(np.float64) + fraction
    return _packets(data, linktype, start=start, length=length, time=time, truncated=truncated)


def _empty(*, truncated: bool) -> Capture:
    none = np.zeros(0, dtype=np.int64)
    return Capture(
        time=np.zeros(0, dtype=np.float64),
        dst_port=none,
        ssrc=none,
        rtp_ts=none,
        alaw=np.zeros(0, dtype=np.bool_),
        payload_start=none,
        payload_len=none,
        records=0,
        skipped=0,
        truncated=truncated,
        last_ts=None,
    )


def _byte_order(path: Path, raw: memoryview) -> tuple[str, bool]:
    for order in ("<", ">"):
        magic = struct.unpack_from(order + "I", raw, 0)[0]
        if magic in (_MAGIC_US, _MAGIC_NS):
            return order, magic == _MAGIC_NS
    magic = struct.unpack_from("<I", raw, 0)[0]
    what = "pcapng, not classic pcap" if magic == _PCAPNG else f"magic 0x{magic:08x}"
    raise RecordingFormatError(f"{path}: byte 0: not a pcap file ({what})")


def _walk(raw: memoryview, order: str) -> tuple[array[int], bool]:
    """Where each whole record's header is; whether the file ends inside a record. Only
    the captured length is read here (it says where the next record is); the other
    fields are read for all records at once afterwards."""
    captured_at = struct.Struct(order + "I").unpack_from
    size = len(raw)
    headers = array("q")
    append = headers.append
    offset = _FILE_HEADER
    while offset + _RECORD_HEADER <= size:
        end = offset + _RECORD_HEADER + captured_at(raw, offset + 8)[0]
        if end > size:
            return headers, True
        append(offset)
        offset = end
    return headers, offset != size


def _u16(data: npt.NDArray[np.uint8], at: Ints) -> Ints:
    return (data[at].astype(np.int64) << 8) | data[at + 1]


def _u32(data: npt.NDArray[np.uint8], at: Ints) -> Ints:
    return (_u16(data, at) << 16) | _u16(data, at + 2)


def _u32_little(data: npt.NDArray[np.uint8], at: Ints) -> Ints:
    return (
        data[at].astype(np.int64)
        | (data[at + 1].astype(np.int64) << 8)
        | (data[at + 2].astype(np.int64) << 16)
        | (data[at + 3].astype(np.int64) << 24)
    )


def _network_start(
    data: npt.NDArray[np.uint8], linktype: int, start: Ints
) -> tuple[Ints, npt.NDArray[np.bool_]]:
    """Where each record's IP header starts, and which records carry IP at all."""
    if linktype == _LINK_ETHERNET:
        ethertype = _u16(data, start + 12)
        vlan = ethertype == _ETHERTYPE_VLAN
        ethertype = np.where(vlan, _u16(data, start + 16), ethertype)
        return start + np.where(vlan, 18, 14), (ethertype == 0x0800) | (ethertype == 0x86DD)
    if linktype == _LINK_LINUX_SLL:
        ethertype = _u16(data, start + 14)
        return start + 16, (ethertype == 0x0800) | (ethertype == 0x86DD)
    return start, np.ones(len(start), dtype=np.bool_)  # raw IP


def _packets(
    data: npt.NDArray[np.uint8],
    linktype: int,
    *,
    start: Ints,
    length: Ints,
    time: npt.NDArray[np.float64],
    truncated: bool,
) -> Capture:
    end = start + length
    ip, is_ip = _network_start(data, linktype, start)
    version = data[ip] >> 4
    v4 = is_ip & (version == 4)
    v6 = is_ip & (version == 6)
    udp = np.where(v4, ip + (data[ip].astype(np.int64) & 0x0F) * 4, ip + 40)
    protocol = np.where(v4, data[ip + 9], data[ip + 6])
    is_udp = (v4 | v6) & (protocol == _UDP) & (udp + 8 <= end)
    udp_end = np.minimum(end, udp + _u16(data, udp + 4))
    rtp = udp + 8
    first = data[rtp].astype(np.int64)
    cc = first & 0x0F
    header = _RTP_HEADER + 4 * cc
    extension = (first & 0x10) != 0
    header = np.where(extension, header + 4 + 4 * _u16(data, rtp + header + 2), header)
    padding = np.where((first & 0x20) != 0, data[np.maximum(udp_end - 1, 0)], 0)
    payload_start = rtp + header
    payload_len = udp_end - padding - payload_start
    payload_type = data[rtp + 1] & 0x7F
    audio = (
        is_udp
        & (udp_end - rtp >= _RTP_HEADER)
        & ((first >> 6) == 2)
        & ((payload_type == PCMU) | (payload_type == PCMA))
        & (payload_len > 0)
    )
    keep = np.flatnonzero(audio)
    at = rtp[keep]
    return Capture(
        time=time[keep],
        dst_port=_u16(data, udp[keep] + 2),
        ssrc=_u32(data, at + 8),
        rtp_ts=_u32(data, at + 4),
        alaw=payload_type[keep] == PCMA,
        payload_start=payload_start[keep],
        payload_len=payload_len[keep],
        records=len(start),
        skipped=len(start) - len(keep),
        truncated=truncated,
        last_ts=float(time.max()),
    )
