"""`callcenter up` with `recording:`: rtpengine writes pcaps into the spool, the recorder
starts after Redis and before the controllers, and check-config refuses a recording
config without the sections the recorder needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter._recording_check import check_recording
from callcenter._stack import layout_for, plan, write_runtime_config
from configuration import ConfigError, load_config
from recorder import settings_from_config

CONFIG = """\
version: 1
node: {{run_dir: run}}
rtpengine:
  nodes: [{{ng: "127.0.0.1:22222"}}]
redis: {{listen: "127.0.0.1:6390"}}
controllers:
  - {{sip: "127.0.0.1:5070", control: "127.0.0.1:5071"}}
{acd}
{bizdata}
recording:
  spool_dir: spool
  retention_days: 0
"""


def write(tmp_path: Path, *, acd: str = "acd: {}", bizdata: str = "bizdata: {}") -> Path:
    path = tmp_path / "callcenter.yaml"
    path.write_text(CONFIG.format(acd=acd, bizdata=bizdata))
    return path


def test_the_recorder_starts_after_redis_and_before_the_controllers(tmp_path: Path) -> None:
    path = write(tmp_path)
    config = load_config(path)
    daemons = plan(config, layout_for(config, tmp_path))
    names = [d.spec.name for d in daemons]
    assert names.index("redis") < names.index("recorder") < names.index("controller0")
    recorder = daemons[names.index("recorder")]
    assert recorder.spec.argv[1:3] == ["-m", "recorder"]
    assert "--run-dir" in recorder.spec.argv
    rtpengine = daemons[names.index("rtpengine0")]
    spool = (tmp_path / "run" / "spool").resolve()
    assert rtpengine.spec.argv[-3:] == [
        "--recording-method=pcap",
        "--recording-format=raw",
        f"--recording-dir={spool}",
    ]


def test_no_recording_section_no_recorder_and_no_pcaps(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    path.write_text(write(tmp_path).read_text().split("recording:")[0])
    config = load_config(path)
    daemons = plan(config, layout_for(config, tmp_path))
    assert "recorder" not in [d.spec.name for d in daemons]
    assert not any("--recording" in arg for d in daemons for arg in d.spec.argv)
    assert check_recording(config, path) == []


def test_an_unmanaged_recorder_is_not_started(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text() + "  managed: false\n")
    config = load_config(path)
    assert "recorder" not in [d.spec.name for d in plan(config, layout_for(config, tmp_path))]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"bizdata": ""}, "recording: needs the `bizdata:` section"),
        ({"acd": ""}, "recording: needs the `acd:` section"),
    ],
)
def test_check_config_names_the_section_recording_needs(
    tmp_path: Path, missing: dict[str, str], message: str
) -> None:
    path = write(tmp_path, **missing)
    with pytest.raises(ConfigError, match=message) as error:
        check_recording(load_config(path), path)
    assert str(error.value).startswith(f"{path}:")


def test_check_config_describes_a_complete_recording_setup(tmp_path: Path) -> None:
    path = write(tmp_path)
    (line,) = check_recording(load_config(path), path)
    assert "spool spool" in line and "kept forever" in line


def test_the_recorder_reads_its_settings_from_the_runtime_config(tmp_path: Path) -> None:
    """`up` runs the recorder on runtime.json with --run-dir: the same paths as the YAML."""

    path = write(tmp_path)
    config = load_config(path)
    layout = layout_for(config, tmp_path)
    layout.create()
    write_runtime_config(config, layout)
    settings = settings_from_config(layout.runtime_config, run_dir=layout.root)
    assert settings.spool_dir == (tmp_path / "run" / "spool").resolve()
    assert settings.wav_dir == (tmp_path / "run" / "recordings" / "wav").resolve()
    assert settings.media_nodes == ("127.0.0.1:22222",)
    assert settings.retention_days == 0
