"""`callcenter up` tells the dashboards the supervisor's keypad (monitoring.keys), which
the Supervisor page names beside its Listen/Whisper/Barge buttons."""

from __future__ import annotations

from pathlib import Path

from callcenter._stack import layout_for, write_runtime_config
from configuration import load_config
from dashboards.queries import DashboardSettings

CONFIG = """\
version: 1
node: {run_dir: run}
rtpengine:
  nodes: [{ng: "127.0.0.1:22222"}]
redis: {listen: "127.0.0.1:6390"}
dashboards: {}
monitoring:
  keys: {listen: "1", whisper: "2", barge: "3", intercept: "#"}
"""


def test_the_dashboard_settings_carry_the_monitoring_keys(tmp_path: Path) -> None:
    path = tmp_path / "callcenter.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    layout = layout_for(config, tmp_path)
    layout.create()
    write_runtime_config(config, layout)
    settings = DashboardSettings.model_validate_json(layout.dashboard_settings.read_text())
    assert settings.monitor_keys == {"listen": "1", "whisper": "2", "barge": "3", "intercept": "#"}
    # A settings file written before monitoring existed: ChanSpy's defaults.
    assert DashboardSettings().monitor_keys == {
        "listen": "4",
        "whisper": "5",
        "barge": "6",
        "intercept": "*",
    }
