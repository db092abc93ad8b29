"""`callcenter up` runs the ACD when the config has an `acd:` section."""

from __future__ import annotations

from pathlib import Path

import yaml

from acd_client import health_ping
from callcenter import _process
from callcenter._stack import _wait_healthy, layout_for, plan, write_runtime_config
from configuration import load_config
from tests.acdsvc.conftest import free_port


def test_plan_starts_the_acd_after_redis_and_before_kamailio(config_path: Path) -> None:
    config = load_config(config_path)
    names = [d.spec.name for d in plan(config, layout_for(config, config_path.parent))]
    assert "acd" not in names or names.index("acd") == names.index("kamailio") - 1
    data = yaml.safe_load(config_path.read_text())
    data["redis"]["managed"] = True
    config_path.write_text(yaml.safe_dump(data))
    names = [
        d.spec.name for d in plan(load_config(config_path), layout_for(config, config_path.parent))
    ]
    # The presence watcher runs beside Kamailio whenever there is an ACD (docs/presence.md).
    assert names == ["redis", "acd", "kamailio", "presence"]
    data.pop("acd")
    config_path.write_text(yaml.safe_dump(data))
    names = [
        d.spec.name for d in plan(load_config(config_path), layout_for(config, config_path.parent))
    ]
    assert names == ["redis", "kamailio"]  # no acd: section, no ACD daemon


def test_the_planned_acd_daemon_becomes_healthy(config_path: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(config_path.read_text())
    data["acd"]["listen"] = f"127.0.0.1:{free_port()}"
    data["node"]["run_dir"] = str(tmp_path / "run")
    config_path.write_text(yaml.safe_dump(data))
    config = load_config(config_path)
    layout = layout_for(config, config_path.parent)
    layout.create()
    write_runtime_config(config, layout)
    (daemon,) = [d for d in plan(config, layout) if d.spec.name == "acd"]
    pid = _process.start(layout, daemon.spec)
    try:
        _wait_healthy(layout, daemon, pid)
        assert health_ping(data["acd"]["listen"])
    finally:
        _process.stop(layout, "acd", grace=5)
