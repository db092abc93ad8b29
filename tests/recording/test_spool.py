"""read_metadata and scan_spool on metadata files as rtpengine 10.5 writes them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from recording import RecordingFormatError, SegmentFile, read_metadata, scan_spool

REF = "0123456789abcdef0123456789abcdef"


def rtpengine_metadata(pcap: Path, metadata: str) -> str:
    """The file rtpengine 10.5 writes when it closes a segment (seen in the
    integration test's spool)."""
    return (
        f"{pcap}\n\n\nTimestamp terminated ms(first monologue): 0.000\n\n"
        "call start time: 2026-12-07T16:49:16\ncall end time: 2026-12-07T16:49:17\n\n\n"
        f"{metadata}\n"
    )


def put(spool: Path, name: str, text: str) -> Path:
    (spool / "metadata").mkdir(parents=True, exist_ok=True)
    (spool / "pcaps").mkdir(exist_ok=True)
    path = spool / "metadata" / f"rtpengine-meta-{name}.txt"
    path.write_text(text)
    return path


def test_a_metadata_file_names_its_pcap_ref_and_segment(tmp_path: Path) -> None:
    pcap = tmp_path / "pcaps" / "call-1-abc.pcap"
    meta = put(tmp_path, "call-1-abc", rtpengine_metadata(pcap, f"huaan-ref={REF};segment=3"))
    pcap.write_bytes(b"")
    assert read_metadata(meta) == SegmentFile(pcap=pcap, metadata=meta, ref=REF, segment=3)


def test_a_spool_mounted_elsewhere_finds_the_pcap_in_its_own_pcaps(tmp_path: Path) -> None:
    """rtpengine wrote its own path; this process sees the volume under another one."""
    written = Path("/var/spool/rtpengine/pcaps/call-1-abc.pcap")
    meta = put(tmp_path, "call-1-abc", rtpengine_metadata(written, f"huaan-ref={REF};segment=0"))
    (tmp_path / "pcaps" / "call-1-abc.pcap").write_bytes(b"")
    segment = read_metadata(meta)
    assert segment is not None and segment.pcap == tmp_path / "pcaps" / "call-1-abc.pcap"


def test_someone_elses_recording_is_not_ours(tmp_path: Path) -> None:
    meta = put(tmp_path, "x", rtpengine_metadata(tmp_path / "x.pcap", "customer=42"))
    assert read_metadata(meta) is None
    assert read_metadata(put(tmp_path, "y", "")) is None


@pytest.mark.parametrize(
    ("metadata", "complaint"),
    [
        ("huaan-ref=;segment=0", r":10: huaan-ref '' is not a recording ref"),
        (f"huaan-ref={REF}", r":10: no segment number after huaan-ref="),
        (f"huaan-ref={REF};segment=x", r":10: no segment number"),
        ("huaan-ref=a/b;segment=0", r":10: huaan-ref 'a/b' is not"),
    ],
)
def test_ours_but_broken_is_a_clear_error(tmp_path: Path, metadata: str, complaint: str) -> None:
    meta = put(tmp_path, "bad", rtpengine_metadata(tmp_path / "x.pcap", metadata))
    with pytest.raises(RecordingFormatError, match=complaint) as raised:
        read_metadata(meta)
    assert str(meta) in str(raised.value)
    no_path = put(tmp_path, "nopath", f"\nhuaan-ref={REF};segment=0\n")
    with pytest.raises(RecordingFormatError, match=r":1: the first line is not the pcap"):
        read_metadata(no_path)


def test_scan_spool_groups_by_ref_in_segment_order_and_leaves_out_the_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = "f" * 32
    for name, metadata in [
        ("c1-02", f"huaan-ref={REF};segment=2"),
        ("c1-00", f"huaan-ref={REF};segment=0"),
        ("c1-01", f"huaan-ref={REF};segment=1"),
        ("c2-00", f"huaan-ref={other};segment=0"),
        ("c3-00", "not ours"),
        ("c4-00", "huaan-ref=;segment=0"),
    ]:
        put(tmp_path, name, rtpengine_metadata(tmp_path / "pcaps" / f"{name}.pcap", metadata))
    (tmp_path / "metadata" / "unrelated.txt").write_text("huaan-ref=x;segment=0")
    with caplog.at_level(logging.ERROR, logger="recording.spool"):
        found = scan_spool(tmp_path)
    assert sorted(found) == sorted([REF, other])
    assert [(s.segment, s.pcap.name) for s in found[REF]] == [
        (0, "c1-00.pcap"),
        (1, "c1-01.pcap"),
        (2, "c1-02.pcap"),
    ]
    assert [s.segment for s in found[other]] == [0]
    assert "rtpengine-meta-c4-00.txt:10: huaan-ref '' is not a recording ref" in caplog.text


def test_an_empty_or_missing_spool_has_no_segments(tmp_path: Path) -> None:
    assert scan_spool(tmp_path / "nowhere") == {}
    (tmp_path / "metadata").mkdir()
    assert scan_spool(tmp_path) == {}
