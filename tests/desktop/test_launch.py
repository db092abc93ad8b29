"""`callcenter up` runs the desktop (`python -m desktop` on the runtime config) when the
config has a `desktop:` section, and its health probe sees it come up over TLS."""

from __future__ import annotations

from pathlib import Path

import yaml

from callcenter import _process
from callcenter._stack import _wait_healthy, layout_for, plan, write_runtime_config
from configuration import load_config
from desktop import desktop_healthy
from simulators import free_port
from tests.desktop.conftest import DeskStack


def test_the_planned_desktop_daemon_serves_https(desktop_server: DeskStack, tmp_path: Path) -> None:
    data = yaml.safe_load(desktop_server.config_path.read_text())
    listen = f"127.0.0.1:{free_port()}"
    data["desktop"]["listen"] = listen
    data["node"]["run_dir"] = str(tmp_path / "run")
    config_path = tmp_path / "callcenter.yaml"
    config_path.write_text(yaml.safe_dump(data))
    config = load_config(config_path)
    layout = layout_for(config, config_path.parent)
    layout.create()
    write_runtime_config(config, layout)
    names = [d.spec.name for d in plan(config, layout)]
    assert names.index("desktop") < names.index("kamailio")
    (daemon,) = [d for d in plan(config, layout) if d.spec.name == "desktop"]
    assert not desktop_healthy(listen)
    pid = _process.start(layout, daemon.spec)
    try:
        _wait_healthy(layout, daemon, pid)
        assert desktop_healthy(listen)
    finally:
        _process.stop(layout, "desktop", grace=5)
    data.pop("desktop")
    config_path.write_text(yaml.safe_dump(data))
    assert "desktop" not in [d.spec.name for d in plan(load_config(config_path), layout)]
