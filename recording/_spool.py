"""rtpengine's recording spool: which pcap segments belong to which recording.

rtpengine writes `SPOOL/metadata/rtpengine-meta-<call-id>-<16 hex>.txt` when it closes a
segment (stop recording, or the call's delete). Its first line is the segment's pcap path;
the metadata string we gave `start recording`, `huaan-ref=<ref>;segment=<n>`, is in the
body. A metadata file without `huaan-ref=` is not ours (another user of the rtpengine).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from recording._errors import RecordingFormatError
from recording._names import METADATA_MARK

log = logging.getLogger("recording.spool")

_MARK: Final = METADATA_MARK
# Our metadata string as `recording_metadata` (recording/_names.py) writes it.
_METADATA: Final = re.compile(r"huaan-ref=([^;\s]*)(?:;segment=(\S*))?")
_REF: Final = re.compile(r"[0-9A-Za-z_-]+")


@dataclass(frozen=True)
class SegmentFile:
    """One finished segment of a recording: its pcap, the metadata file that named it."""

    pcap: Path
    metadata: Path
    ref: str
    segment: int


def read_metadata(path: Path) -> SegmentFile | None:
    """The segment a metadata file describes; None when it carries no `huaan-ref=`.

    Raises RecordingFormatError when it is ours but broken (no pcap path, a ref or a
    segment number that cannot be read), OSError when it cannot be read at all."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if _MARK not in text:
        return None
    lines = text.splitlines()
    number, found = next(
        (n, m) for n, line in enumerate(lines, 1) if (m := _METADATA.search(line)) is not None
    )
    ref, segment = found.group(1), found.group(2)
    if not _REF.fullmatch(ref):
        raise RecordingFormatError(f"{path}:{number}: huaan-ref {ref!r} is not a recording ref")
    if segment is None or not segment.isdigit():
        raise RecordingFormatError(
            f"{path}:{number}: no segment number after huaan-ref={ref} (want ';segment=<n>')"
        )
    first = lines[0].strip() if lines else ""
    if not first or _MARK in first:
        raise RecordingFormatError(f"{path}:1: the first line is not the pcap's path")
    return SegmentFile(
        pcap=_pcap_path(path, Path(first)), metadata=path, ref=ref, segment=int(segment)
    )


def _pcap_path(metadata: Path, written: Path) -> Path:
    """The pcap as this process sees it. rtpengine wrote its own path; where the spool is
    mounted elsewhere here (a container sharing the volume), the file is in the spool's
    pcaps/ under the same name."""
    here = metadata.parent.parent / "pcaps" / written.name
    if not written.is_absolute() or (not written.exists() and here.exists()):
        return here
    return written


def scan_spool(spool: Path) -> dict[str, list[SegmentFile]]:
    """Every finished segment in `spool`/metadata that is ours, by ref, sorted by segment.

    A broken metadata file is logged and left out (its recording then misses a segment
    and fails as `missing`), so one bad file does not stop every other recording; a file
    that disappears while being read (the recorder deleting a converted one) is skipped.
    """
    found: dict[str, list[SegmentFile]] = {}
    for path in sorted((spool / "metadata").glob("rtpengine-meta-*.txt")):
        try:
            segment = read_metadata(path)
        except FileNotFoundError:
            continue
        except (RecordingFormatError, OSError) as error:
            log.error("recording metadata file left out: %s", error)
            continue
        if segment is not None:
            found.setdefault(segment.ref, []).append(segment)
    for segments in found.values():
        segments.sort(key=lambda s: (s.segment, s.pcap.name))
    return found
