"""How `callcenter up` runs the recorder and the rtpengines it reads."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from configuration import CallCenterConfig, RunLayout

RECORDER_DAEMON = "recorder"


def recorder_wanted(config: CallCenterConfig) -> bool:
    """`callcenter up` starts a recorder: the config records and says it is managed."""
    return config.recording is not None and config.recording.managed


def _in_run_dir(layout: RunLayout, path: str) -> Path:
    p = Path(path)
    return (p if p.is_absolute() else layout.root / p).resolve()


def spool_dir(config: CallCenterConfig, layout: RunLayout) -> Path:
    """rtpengine's --recording-dir on this host (recording.spool_dir under the run dir)."""
    assert config.recording is not None
    return _in_run_dir(layout, config.recording.spool_dir)


def wav_dir(config: CallCenterConfig, layout: RunLayout) -> Path:
    """Where the recorder writes WAVs (recording.dir under the run dir)."""
    assert config.recording is not None
    return _in_run_dir(layout, config.recording.dir)


def rtpengine_recording_args(config: CallCenterConfig, layout: RunLayout) -> list[str]:
    """What rtpengine needs to write the pcaps the recorder reads; [] without recording."""
    if config.recording is None:
        return []
    return [
        "--recording-method=pcap",
        "--recording-format=raw",
        f"--recording-dir={spool_dir(config, layout)}",
    ]


def recorder_argv(config_file: Path, *, run_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "recorder",
        "--config",
        str(config_file),
        "--run-dir",
        str(run_dir),
    ]


def recorder_describe(config: CallCenterConfig) -> str:
    assert config.recording is not None
    return f"recorder http://{config.recording.listen}"


def recorder_healthy(config: CallCenterConfig, timeout: float = 0.5) -> bool:
    """GET /healthz answers ok (the consumer group is joined)."""
    if config.recording is None:
        return False
    url = f"http://{config.recording.listen}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200 and json.loads(response.read()).get("ok"))
    except (OSError, ValueError):
        return False
