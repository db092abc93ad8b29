"""`callcenter up` starts each managed mixer (before the controllers), from runtime.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter._stack import layout_for, plan, write_runtime_config
from configuration import load_config
from mixer._settings import SettingsError, settings_from_config

CONFIG = """\
version: 1
node: {run_dir: run}
rtpengine:
  nodes: [{ng: "127.0.0.1:22222"}]
  rtp_timeout_s: 45
redis: {listen: "127.0.0.1:6390"}
controllers:
  - {sip: "127.0.0.1:5070", control: "127.0.0.1:5071"}
monitoring:
  jitter_frames: 3
  mixers:
    - {ng: "127.0.0.1:22300", port_min: 41000, port_max: 41099}
    - {ng: "10.0.0.9:22300", managed: false, name: far}
    - {ng: "127.0.0.1:22301", interface: "127.0.0.2", name: second}
"""


def test_managed_mixers_start_before_the_controllers(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    layout = layout_for(config, tmp_path)
    daemons = plan(config, layout)
    names = [d.spec.name for d in daemons]
    assert "mixer1" not in names  # not managed: it runs elsewhere
    assert names.index("rtpengine0") < names.index("mixer0") < names.index("controller0")
    assert names.index("mixer2") < names.index("controller0")
    mixer0 = daemons[names.index("mixer0")]
    assert mixer0.spec.argv[1:] == [
        "-m",
        "mixer",
        "--config",
        str(layout.runtime_config),
        "--node",
        "0",
    ]
    assert "127.0.0.1:22300" in daemons[names.index("mixer0")].describe
    assert "mixer second" in daemons[names.index("mixer2")].describe


def test_the_mixer_reads_its_node_from_runtime_json(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    layout = layout_for(config, tmp_path)
    layout.create()
    write_runtime_config(config, layout)
    settings = settings_from_config(layout.runtime_config, 2)
    assert (settings.name, settings.ng, settings.interface) == (
        "second",
        "127.0.0.1:22301",
        "127.0.0.2",
    )
    assert (settings.jitter_frames, settings.idle_timeout_s) == (3, 45.0)
    assert settings_from_config(layout.runtime_config, 0).name == "mixer0"
    with pytest.raises(SettingsError, match=r"no monitoring.mixers\[3\]"):
        settings_from_config(layout.runtime_config, 3)


def test_a_wildcard_interface_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    path.write_text(CONFIG.replace('interface: "127.0.0.2"', 'interface: "0.0.0.0"'))
    with pytest.raises(SettingsError, match=r"mixers\[2\].interface 0.0.0.0 is a wildcard"):
        settings_from_config(path, 2)
