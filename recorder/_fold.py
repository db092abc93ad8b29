"""Folding recording events into the recorder's memory of each recording: pure.

The event log delivers at least once, so every step here is idempotent: a second
`recording.paused` at the same instant, a `resumed` while not paused, a second `stopped`
change nothing and say so (`apply` returns None), and the service then touches neither
the index nor the spool.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from eventlog import (
    RECORDING_PAUSED,
    RECORDING_RESUMED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    Event,
)

VOICEMAIL: Final = "voicemail"
# A monitoring session's recording: the mixer writes its WAV (docs/monitoring.md).
MONITOR: Final = "monitor"
# A pcap whose last packet is further than this before the end of its recording's last
# segment was cut (docs/recording.md, "Missing or failed").
SHORT_BY_S: Final = 1.0
RECORDING_KINDS: Final = frozenset(
    {RECORDING_STARTED, RECORDING_PAUSED, RECORDING_RESUMED, RECORDING_STOPPED}
)


@dataclass
class Pause:
    start_ts: float
    end_ts: float | None
    reason: str


@dataclass
class Recording:
    """What the recorder knows of one recording, from its events."""

    ref: str
    call_id: str
    name: str
    reason: str  # always | on_demand | voicemail | monitor
    media_node: str
    caller: str
    agent: str
    queue: str
    number: str
    caller_port: int
    started_ts: float
    pauses: list[Pause] = field(default_factory=list)
    stopped_ts: float | None = None
    segments: int | None = None

    @property
    def voicemail(self) -> bool:
        return self.reason == VOICEMAIL

    @property
    def monitor(self) -> bool:
        """Written by a mixer as a WAV: nothing in the spool to wait for or convert."""
        return self.reason == MONITOR

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end_ts is None

    def pause_spans(self) -> list[tuple[float, float]]:
        """The paused stretches as (start ts, end ts); one still open ends at the stop."""
        end = self.stopped_ts if self.stopped_ts is not None else float("inf")
        return [(p.start_ts, p.end_ts if p.end_ts is not None else end) for p in self.pauses]

    def duration_ms(self) -> int:
        if self.stopped_ts is None:
            return 0
        return max(0, round((self.stopped_ts - self.started_ts) * 1000))


def recording_from_started(event: Event) -> Recording:
    """A recording from its `recording.started` event (ValueError: a bad caller_port)."""
    data = event.data
    port_text = data["caller_port"]
    try:
        caller_port = int(port_text) if port_text else 0
    except ValueError:
        raise ValueError(
            f"recording.started {data['ref']}: caller_port {port_text!r} is not a port"
        ) from None
    return Recording(
        ref=data["ref"],
        call_id=event.correlation_id,
        name=data["name"],
        reason=data["reason"],
        media_node=data["media_node"],
        caller=data["caller"],
        agent=data["agent"],
        queue=data["queue"],
        number=data["number"],
        caller_port=caller_port,
        started_ts=event.ts,
    )


def parse_segments(event: Event) -> int:
    text = event.data["segments"]
    try:
        segments = int(text)
    except ValueError:
        raise ValueError(
            f"recording.stopped {event.data['ref']}: segments {text!r} is not a number"
        ) from None
    if segments < 0:
        raise ValueError(f"recording.stopped {event.data['ref']}: segments {segments} < 0")
    return segments


def apply(recording: Recording, event: Event) -> bool:
    """Fold a paused, resumed or stopped event into `recording`; False: it changed
    nothing (a re-delivery, or an event that no longer applies)."""
    if recording.stopped_ts is not None:
        return False  # nothing changes a stopped recording; a second stop included
    if event.kind == RECORDING_PAUSED:
        if recording.paused or any(p.start_ts == event.ts for p in recording.pauses):
            return False
        recording.pauses.append(Pause(event.ts, None, event.data["reason"]))
        return True
    if event.kind == RECORDING_RESUMED:
        if not recording.paused:
            return False
        recording.pauses[-1].end_ts = event.ts
        return True
    if event.kind == RECORDING_STOPPED:
        if recording.paused:
            recording.pauses[-1].end_ts = event.ts
        recording.stopped_ts = event.ts
        recording.segments = parse_segments(event)
        return True
    raise ValueError(f"not a recording event: {event.kind}")


def shortfall(rec: Recording, *, truncated: bool, last_packet_ts: float | None) -> str | None:
    """Why the WAV of the stopped `rec` is not the whole recording, or None when it is:
    a segment cut short, or the last packet more than SHORT_BY_S before the end."""
    assert rec.stopped_ts is not None
    # The last segment ends at the stop, or where the last pause began if the recording
    # was stopped while paused.
    end = rec.stopped_ts
    if rec.pauses and rec.pauses[-1].end_ts in (None, rec.stopped_ts):
        end = rec.pauses[-1].start_ts
    if truncated:
        return "a pcap segment is cut short (rtpengine could not finish writing it)"
    if last_packet_ts is None:
        if end - rec.started_ts > SHORT_BY_S:
            return "no RTP packet in the segments"
        return None
    if end - last_packet_ts > SHORT_BY_S:
        return f"the last packet is {end - last_packet_ts:.1f} s before the end of the recording"
    return None


class SeenEvents:
    """The last `size` event ids handled: a re-delivered batch is skipped outright."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
