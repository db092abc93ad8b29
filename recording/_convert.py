"""One recording's pcap segments laid out on its timeline (docs/recording.md, "Convert").

The timeline starts at `start_ts` (recording.started) and is `round((end_ts - start_ts) *
8000)` frames long. Each RTP stream (an SSRC within a segment) is anchored by its first
packet: that packet goes at its pcap time, every later one at the anchor plus its RTP
timestamp's distance from the anchor's (modulo 2**32, so a wrap is no jump). A stream
whose timestamp jumps (the sender restarted its clock under the same SSRC) would be
carried off the timeline by that rule, so a packet whose RTP place is more than
`REANCHOR_S` from its arrival time starts a new anchor there (up to `_MAX_ANCHORS`;
then each packet still off goes at its arrival).

The caller's packets (UDP destination port = rtpengine's port facing the caller) go left,
everything else right; streams on one channel that overlap (a three-way consult) are
summed, a packet received twice counts once. Paused stretches are zeroed last. Packets
sent from an ignored sender (a monitoring mixer, `SourceRange`) are left out first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from recording._g711 import DECODE
from recording._pcap import Capture, Ints, read_pcaps
from recording._sources import SourceRange, from_ignored

RATE: Final = 8000
# A packet placed by its RTP timestamp this far from where its arrival time puts it is
# taken for a timestamp jump and anchors its stream afresh. Jitter and clock drift stay
# far below it (drift of 100 ppm is 0.36 s an hour).
REANCHOR_S: Final = 2.0
# Packets decoded at once, and frames summed at once where streams overlap: memory stays
# a few MB whatever the call's length (an hour is 360,000 packets).
_CHUNK: Final = 4096
_WINDOW_FRAMES: Final = 60 * RATE
# Anchors per stream at most; beyond, packets still off are placed by arrival alone.
_MAX_ANCHORS: Final = 32
_WRAP: Final = 1 << 32
_HALF: Final = 1 << 31


@dataclass(frozen=True)
class Conversion:
    """A recording's audio: `pcm` is int16, (frames, 2) caller left / agent right, or
    (frames, 1) for mono.

    `packets`: G.711 packets placed; `skipped`: records that are not G.711 RTP (RTCP,
    telephone events, comfort noise, anything else); `dropped`: G.711 packets wholly
    outside the timeline (or, in mono, not the caller's); `ignored`: G.711 packets from an
    ignored sender (a monitoring mixer); `last_packet_ts`: the pcap time
    of the last record of any segment (None: no record), so a caller can tell a pcap that
    stops short of the end; `truncated`: a segment's last record was cut short.
    """

    pcm: npt.NDArray[np.int16]
    frames: int
    packets: int
    skipped: int
    last_packet_ts: float | None
    duration_ms: int
    truncated: bool = False
    dropped: int = 0
    ignored: int = 0


def timeline_frames(start_ts: float, end_ts: float) -> int:
    return max(0, round((end_ts - start_ts) * RATE))


def convert(
    segments: Sequence[Path],
    *,
    start_ts: float,
    end_ts: float,
    caller_port: int,
    pauses: Sequence[tuple[float, float]] = (),
    mono: bool = False,
    ignore_sources: Sequence[SourceRange] = (),
) -> Conversion:
    """The WAV samples of a recording made of these pcap segments (in any order).
    Packets sent from `ignore_sources` (the monitoring mixers) are left out.

    Raises RecordingFormatError for a file that is not a pcap this reads (its name and
    the byte offset in the message), OSError for one that cannot be read."""
    frames = timeline_frames(start_ts, end_ts)
    channels = 1 if mono else 2
    data, captures = read_pcaps([Path(segment) for segment in segments])
    skipped = sum(c.skipped for c in captures)
    truncated = any(c.truncated for c in captures)
    last = [c.last_ts for c in captures if c.last_ts is not None]
    captures, ignored = _without(captures, ignore_sources)
    pcm, placed, dropped = _place(data, captures, start_ts, frames, caller_port, channels)
    for paused_from, paused_to in pauses:
        first = min(frames, max(0, round((paused_from - start_ts) * RATE)))
        stop = min(frames, max(0, round((paused_to - start_ts) * RATE)))
        pcm[first:stop] = 0
    return Conversion(
        pcm=pcm,
        frames=frames,
        packets=placed,
        skipped=skipped,
        last_packet_ts=max(last) if last else None,
        duration_ms=round(frames * 1000 / RATE),
        truncated=truncated,
        dropped=dropped,
        ignored=ignored,
    )


def _without(captures: list[Capture], ignored: Sequence[SourceRange]) -> tuple[list[Capture], int]:
    """The captures without the packets of the ignored senders, and how many those were.
    Before anything else: a mixer's packet must neither be placed nor make its sender
    the caller."""
    if not ignored:
        return captures, 0
    kept: list[Capture] = []
    count = 0
    for capture in captures:
        hit = from_ignored(capture.source, ignored)
        if not hit.any():
            kept.append(capture)
            continue
        count += int(hit.sum())
        keep = ~hit
        kept.append(
            replace(
                capture,
                time=capture.time[keep],
                dst_port=capture.dst_port[keep],
                source=capture.source[keep],
                ssrc=capture.ssrc[keep],
                rtp_ts=capture.rtp_ts[keep],
                alaw=capture.alaw[keep],
                payload_start=capture.payload_start[keep],
                payload_len=capture.payload_len[keep],
            )
        )
    return kept, count


def _place(  # noqa: PLR0917
    data: npt.NDArray[np.uint8],
    captures: list[Capture],
    start_ts: float,
    frames: int,
    caller_port: int,
    channels: int,
) -> tuple[npt.NDArray[np.int16], int, int]:
    """The mixed channels, how many packets were placed and how many dropped."""
    pcm = np.zeros((frames, channels), dtype=np.int16)
    present = [c for c in captures if len(c.time)]
    if not present:
        return pcm, 0, 0
    # All segments' packets in one set of arrays.
    segment = np.concatenate([np.full(len(c.time), i) for i, c in enumerate(present)])
    time = np.concatenate([c.time for c in present])
    ssrc = np.concatenate([c.ssrc for c in present])
    rtp_ts = np.concatenate([c.rtp_ts for c in present])
    payload_start = np.concatenate([c.payload_start for c in present])
    payload_len = np.concatenate([c.payload_len for c in present])
    alaw = np.concatenate([c.alaw for c in present])
    # The caller is whoever sends to caller_port, and every packet from the same sender:
    # rtpengine gives the caller's side a new local port each time the caller's peer
    # changes (parked -> agent, a transfer, an intercept), but the caller's phone or
    # trunk keeps its one address for the whole call, and each agent has its own.
    to_caller_port = np.concatenate([c.dst_port == caller_port for c in present])
    source = np.concatenate([c.source for c in present])
    caller = to_caller_port | np.isin(source, np.unique(source[to_caller_port]))

    position = _positions(segment, ssrc, rtp_ts, np.rint((time - start_ts) * RATE))
    # A packet of one SSRC at the same place in a segment again (a duplicated datagram)
    # is kept once, the first.
    first, _ = _groups(segment, ssrc, position)
    unique = np.zeros(len(position), dtype=np.bool_)
    unique[first] = True
    on_timeline = unique & (position < frames) & (position + payload_len > 0)
    if channels == 1:
        on_timeline &= caller
    keep = np.flatnonzero(on_timeline)
    # Channel c of frame f is element f * channels + c of the flat samples.
    channel = np.where(caller[keep], 0, 1) if channels == 2 else np.zeros(len(keep), np.int64)
    packets = _Packets(
        start=payload_start[keep],
        length=payload_len[keep],
        alaw=alaw[keep],
        slot=position[keep] * channels + channel,
    )
    flat = pcm.reshape(-1)
    if _overlap(position[keep], payload_len[keep], channel):
        _place_summed(flat, data, packets, channels)
    else:
        _place_once(flat, data, packets, channels)
    return pcm, len(keep), len(position) - len(keep)


@dataclass(frozen=True)
class _Packets:
    """The packets to place: payload offset and length in the bytes, A-law or mu-law,
    and `slot`, the flat index of the first sample (frame * channels + channel)."""

    start: Ints
    length: Ints
    alaw: npt.NDArray[np.bool_]
    slot: Ints

    def take(self, which: Ints) -> _Packets:
        return _Packets(self.start[which], self.length[which], self.alaw[which], self.slot[which])


def _overlap(position: Ints, length: Ints, channel: Ints) -> bool:
    """Whether two packets of one channel cover the same frame."""
    order = np.lexsort((position, channel))
    position, length, channel = position[order], length[order], channel[order]
    same_channel = channel[1:] == channel[:-1]
    return bool(np.any(same_channel & (position[1:] < position[:-1] + length[:-1])))


def _samples(
    data: npt.NDArray[np.uint8], packets: _Packets, channels: int, low: int, high: int
) -> Iterator[tuple[Ints, npt.NDArray[np.int16]]]:
    """The packets' decoded samples with their flat places in [low, high), packets of one
    payload length at a time (a packet's samples are a row: no per-sample index
    arithmetic), at most `_CHUNK` packets at a time (bounded memory on a long call)."""
    for size in np.unique(packets.length).tolist():
        of_size = np.flatnonzero(packets.length == size)
        offsets = np.arange(size, dtype=np.int64)
        for begin in range(0, len(of_size), _CHUNK):
            these = of_size[begin : begin + _CHUNK]
            code = data[packets.start[these, None] + offsets].astype(np.intp)
            code |= packets.alaw[these, None].astype(np.intp) << 8
            decoded = DECODE[code]
            target = packets.slot[these, None] + offsets * channels
            if target[:, 0].min() < low or target[:, -1].max() >= high:
                inside = (target >= low) & (target < high)
                yield target[inside], decoded[inside]
            else:
                yield target.reshape(-1), decoded.reshape(-1)


def _place_once(
    flat: npt.NDArray[np.int16], data: npt.NDArray[np.uint8], packets: _Packets, channels: int
) -> None:
    """Packets that do not overlap: each sample written where it goes."""
    for target, decoded in _samples(data, packets, channels, 0, len(flat)):
        flat[target] = decoded


def _place_summed(
    flat: npt.NDArray[np.int16], data: npt.NDArray[np.uint8], packets: _Packets, channels: int
) -> None:
    """Packets that overlap (two streams on one channel): samples summed, then clipped,
    a window of the timeline at a time (the sums are float64: not a whole call's)."""
    order = np.argsort(packets.slot, kind="stable")
    packets = packets.take(order)
    reach = int(packets.length.max()) * channels  # a packet starting this far back
    window = _WINDOW_FRAMES * channels
    for low in range(0, len(flat), window):
        high = min(low + window, len(flat))
        first, last = np.searchsorted(packets.slot, [low - reach, high])
        summed = np.zeros(high - low, dtype=np.float64)
        for target, decoded in _samples(
            data, packets.take(np.arange(first, last)), channels, low, high
        ):
            summed += np.bincount(target - low, weights=decoded, minlength=high - low)
        flat[low:high] = np.clip(summed, -32768, 32767).astype(np.int16)


def _positions(segment: Ints, ssrc: Ints, rtp_ts: Ints, arrival: npt.NDArray[np.float64]) -> Ints:
    """Each packet's first frame on the timeline (see the module's note on anchors)."""
    arrival_frame = arrival.astype(np.int64)
    epoch = np.zeros(len(ssrc), dtype=np.int64)
    limit = round(REANCHOR_S * RATE)
    for _ in range(_MAX_ANCHORS):
        # A stream: one SSRC in one segment, between two timestamp jumps.
        first, stream = _groups(segment, ssrc, epoch)
        anchor = first[stream]
        delta = (rtp_ts - rtp_ts[anchor]) % _WRAP
        delta = np.where(delta >= _HALF, delta - _WRAP, delta)
        position = arrival_frame[anchor] + delta
        off = np.abs(position - arrival_frame) > limit
        if not off.any():
            return position
        # From each stream's first packet that is off, a new epoch of that stream.
        order = np.arange(len(ssrc))
        first_off = np.full(len(first), len(ssrc), dtype=np.int64)
        np.minimum.at(first_off, stream[off], order[off])
        jumped = order >= first_off[stream]
        epoch = epoch + jumped
    # Timestamps that jump all the time (a broken sender): each packet still off goes
    # at its own arrival, rather than this loop running once per packet.
    return np.where(off, arrival_frame, position)


def _groups(*keys: Ints) -> tuple[Ints, Ints]:
    """Packets grouped by equal keys: each group's first packet (in file order) and each
    packet's group number."""
    order = np.lexsort(keys[::-1])  # stable: within a group, file order
    boundary = np.ones(len(order), dtype=np.bool_)
    for key in keys:
        ordered = key[order]
        boundary[1:] &= ordered[1:] == ordered[:-1]
    boundary = ~boundary
    boundary[0] = True
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.cumsum(boundary) - 1
    return order[boundary], group
