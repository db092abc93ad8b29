"""One input's playout: which frame plays on which 20 ms tick (a small adaptive jitter
buffer), pure logic with ticks as numbers.

A frame plays at `anchor + (timestamp - anchor timestamp) / 160`: the anchor is the
tick the stream's first frame arrived for, plus a cushion. Placing frames by their
timestamp (not by arrival order) is what a FIFO could not do: a stream whose packets
land on both sides of a tick boundary still plays one frame a tick, reordered packets
find their place, and a pause (silence suppression, DTMF) keeps its length.

The cushion adapts. A frame that arrives after its tick has run grows the cushion by
the ticks it would have needed (up to `max_cushion`) and plays on the next tick (a gap,
but no frame lost; counted in `grown`); only one the cushion cannot grow for is `late`
(dropped). When every
frame of the last `SHRINK_AFTER_TICKS` (2 s) arrived a tick or more ahead of its tick,
it shrinks by one (a period that doubles each time a late frame soon proves a shrink
wrong). A stream that arrives just before each tick therefore plays with no cushion,
and one whose packets straddle a tick boundary settles at one frame.

Ticks given to `push`: `arrival_tick` is the tick the frame arrived in time for by the
clock (its slack is measured against it); `open_tick` is the first tick not run yet,
smaller when the loop is behind schedule: a frame is late only when its tick is before
`open_tick`, so catch-up ticks still play what arrived while the loop was held up.
"""

from __future__ import annotations

from typing import Final

FRAME: Final = 160  # G.711 bytes (samples) a tick
# The cushion shrinks after this many ticks (2 s) in which every frame had a tick of slack.
SHRINK_AFTER_TICKS: Final = 100
# A shrink that a late frame proves wrong within its own calm period doubles the period
# (up to 32 s): jitter that comes back every few seconds would otherwise cost a frame
# for each grow and each shrink.
MAX_SHRINK_AFTER_TICKS: Final = 1600
# A newest frame this far (1 s) beyond the cushion's reach, ahead or behind, means the
# sender's timeline moved (a restart, a timestamp jump): the stream is anchored again.
REANCHOR_TICKS: Final = 50
# So many newest frames late in a row, beyond what the cushion may grow to: anchored again.
REANCHOR_AFTER_LATE: Final = 3
_SEEN_WINDOW: Final = 1024  # sequence numbers remembered to drop duplicates


def _signed32(value: int) -> int:
    return ((value + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


class Playout:
    """Frames keyed by the tick they play at. Counters: `late` (arrived after their
    tick beyond what the cushion may grow to, or left by skipped ticks), `grown` (arrived
    after their tick and moved the timeline instead), `trimmed` (dropped by a shrink or a
    re-anchor), `duplicates`."""

    def __init__(self, max_cushion: int) -> None:
        self.max_cushion = max_cushion
        self.cushion = 0  # ticks of delay added to the anchor frame's arrival
        self.late = 0
        self.grown = 0  # frames that came after their tick and moved the timeline instead
        self.trimmed = 0
        self.duplicates = 0
        self.anchors = 0  # how often the stream was anchored (first frame, SSRC, jumps)
        self._frames: dict[int, bytes] = {}
        self._ssrc: int | None = None
        self._anchor_tick = 0
        self._anchor_ts = 0
        self._highest_seq = 0  # extended (counts 16-bit wraps)
        self._seen: set[int] = set()
        self._calm_since: int | None = None  # arrival tick since which all had slack
        self._late_in_row = 0
        self._next_pop = 0
        self.shrink_after = SHRINK_AFTER_TICKS  # calm ticks before a shrink, adapts
        self._last_shrink: int | None = None  # the arrival tick of the last shrink

    @property
    def queued(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        """Drop what is queued (the law changed); the timeline is kept."""
        self._frames.clear()

    def push(
        self,
        ssrc: int,
        seq: int,
        timestamp: int,
        payload: bytes,
        *,
        arrival_tick: int,
        open_tick: int,
    ) -> None:
        """Place a packet's audio (a multiple of `FRAME` bytes, one frame a tick)."""
        if not payload:
            return
        if ssrc != self._ssrc:
            self._ssrc = ssrc
            self._seen.clear()
            self._highest_seq = seq
            self._anchor(timestamp, arrival_tick)
        extended = self._extend(seq)
        if extended in self._seen:
            self.duplicates += 1
            return
        self._seen.add(extended)
        newest = extended >= self._highest_seq
        if newest:
            self._highest_seq = extended
            if len(self._seen) > 2 * _SEEN_WINDOW:
                floor = extended - _SEEN_WINDOW
                self._seen = {s for s in self._seen if s > floor}
        tick = self._tick_of(timestamp)
        if newest and (
            tick > arrival_tick + self.max_cushion + REANCHOR_TICKS
            or tick < open_tick - REANCHOR_TICKS
        ):
            self._anchor(timestamp, arrival_tick)
            tick = self._tick_of(timestamp)
        if tick < open_tick:
            need = open_tick - tick
            if newest and need > self.max_cushion - self.cushion:
                self._late_in_row += 1  # more than the cushion may grow to
                if self._late_in_row >= REANCHOR_AFTER_LATE:
                    self._anchor(timestamp, arrival_tick)
                    tick = self._tick_of(timestamp)
            if tick < open_tick:
                # Its tick has run without it. Growing the cushion by what it needed moves
                # the timeline so that it plays on the next tick: a gap of one tick, but
                # no frame lost. Only a frame the cushion cannot grow for is dropped.
                self._grow_for_late(need, arrival_tick)
                tick = self._tick_of(timestamp)
                if tick < open_tick:
                    self.late += len(payload) // FRAME
                    return
        self._late_in_row = 0
        frames = self._frames
        for start in range(0, len(payload), FRAME):
            frames.setdefault(tick, payload[start : start + FRAME])
            tick += 1
        self._note_slack(tick - len(payload) // FRAME - arrival_tick, arrival_tick, open_tick)

    def pop(self, tick: int) -> bytes | None:
        """The frame due on `tick`, if any; frames for ticks before it (ticks that were
        skipped) are dropped as late."""
        frames = self._frames
        if tick != self._next_pop and frames:
            stale = [k for k in frames if k < tick]
            for k in stale:
                del frames[k]
            self.late += len(stale)
        self._next_pop = tick + 1
        return frames.pop(tick, None) if frames else None

    # -- the timeline ------------------------------------------------------------------
    def _anchor(self, timestamp: int, arrival_tick: int) -> None:
        """Play the frame of `timestamp` at `arrival_tick` plus the cushion (kept across
        a new SSRC: the path's jitter is the same). Frames still queued from before at or
        after that tick are dropped: the new timeline owns them."""
        self.cushion = min(max(self.cushion, 0), self.max_cushion)
        self._anchor_tick = arrival_tick + self.cushion
        self._anchor_ts = timestamp
        self._calm_since = None
        self._late_in_row = 0
        self.anchors += 1
        stale = [k for k in self._frames if k >= self._anchor_tick]
        for k in stale:
            del self._frames[k]
        self.trimmed += len(stale)

    def _tick_of(self, timestamp: int) -> int:
        offset = _signed32(timestamp - self._anchor_ts)
        return self._anchor_tick + (offset + FRAME // 2) // FRAME

    def _extend(self, seq: int) -> int:
        """`seq` as a count that goes on across 16-bit wraps (near the highest seen)."""
        step = (seq - self._highest_seq) & 0xFFFF
        return self._highest_seq + step if step < 0x8000 else self._highest_seq + step - 0x10000

    def _shift(self, ticks: int, open_tick: int | None = None) -> None:
        self._anchor_tick += ticks
        self.cushion += ticks
        self._calm_since = None
        frames = {k + ticks: v for k, v in self._frames.items()}
        if open_tick is not None:
            stale = [k for k in frames if k < open_tick]
            for k in stale:
                del frames[k]
            self.trimmed += len(stale)
        self._frames = frames

    def _grow_for_late(self, need: int, arrival_tick: int) -> None:
        self.grown += 1
        last_shrink = self._last_shrink
        if last_shrink is not None and arrival_tick - last_shrink < self.shrink_after:
            self.shrink_after = min(2 * self.shrink_after, MAX_SHRINK_AFTER_TICKS)
            self._last_shrink = None
        grow = min(need, self.max_cushion - self.cushion)
        if grow > 0:
            self._shift(grow)
        self._calm_since = None

    def _note_slack(self, slack: int, arrival_tick: int, open_tick: int) -> None:
        if slack < 1:
            self._calm_since = None
        elif self._calm_since is None:
            self._calm_since = arrival_tick
        elif arrival_tick - self._calm_since >= self.shrink_after:
            self._shift(-1, open_tick)
            self._last_shrink = arrival_tick
