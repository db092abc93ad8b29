"""benchmarks/monitor_mixing.py end to end, tiny: a real rtpengine and a real mixer,
four monitored calls (whisper and barge) and two plain ones for three seconds. It checks
that the benchmark measures (every party, tone and delay path), not the targets."""

from __future__ import annotations

from pathlib import Path

from benchmarks.monitor_mixing import PATHS, parse_args, report, run_once


def test_a_short_run_measures_every_party_and_path(tmp_path: Path) -> None:
    args = parse_args(["--calls", "4", "--plain", "2", "--seconds", "3"])
    result = run_once(args, tmp_path, 0)
    report(result)
    assert result.setup_errors == []
    assert result.calls_up == 4
    assert result.parties == 4 * 3 + 2 * 2
    assert result.teardown_failures == 0
    # Who hears whom: every tone meant is there each second, none that is not.
    assert result.missing_windows == 0, result.missing_where
    assert result.leaked_windows == 0, result.leaked_where
    # 3 s x (listener, tone): whisper 1 + 2 + 2, barge 2 + 2 + 2, plain 1 + 1
    assert result.windows == 3 * (2 * 5 + 2 * 6 + 2 * 2)
    assert result.markers_matched >= 0.9 * result.markers_sent > 0
    assert set(result.delays) == set(PATHS.values())
    assert 0 < result.added_p50 < 200
    assert result.max_loss < 0.05 and result.max_frame_loss < 0.05
    assert result.mixer_stats["packets_in"] > 0
