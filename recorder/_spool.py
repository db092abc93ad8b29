"""The spool beside rtpengine: which segments of a recording have been closed, and
removing them once their WAV is made. Reading the files is `recording`'s business."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import recording

log = logging.getLogger("recorder.spool")


@dataclass(frozen=True)
class Segments:
    """What the spool holds of one recording: closed segments by number."""

    found: dict[int, recording.SegmentFile]
    wanted: int

    @property
    def complete(self) -> bool:
        return all(n in self.found for n in range(self.wanted))

    def missing(self) -> list[int]:
        return [n for n in range(self.wanted) if n not in self.found]

    def pcaps(self) -> list[Path]:
        return [self.found[n].pcap for n in range(self.wanted)]


def segments_of(spool: Path, ref: str, wanted: int) -> Segments:
    """The closed segments of `ref` in `spool` (a metadata file appears in metadata/
    when rtpengine closes a segment)."""
    found = {s.segment: s for s in recording.scan_spool(spool).get(ref, ())}
    return Segments(found, wanted)


def remove_segments(segments: Segments) -> None:
    """Delete the pcaps and metadata files of a converted recording."""
    for segment in segments.found.values():
        for path in (segment.pcap, segment.metadata):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # the WAV is safe; a left-over file is only space
                log.warning("could not delete %s: %s", path, exc)
