"""`callcenter check-config` and `up` load every IVR flow and check the names the
config and the flows use (`callcenter/_ivr_check.py`), with the real flow loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter._ivr_check import check_ivr
from configuration import ConfigError, load_config

FLOW = """\
name: {name}
languages: [zh]
start: hello
prompts:
  hello: {{zh: 您好。}}
nodes:
  hello:
    type: {kind}
    prompt: hello
"""


def _write(tmp_path: Path, numbers: list[dict[str, Any]], **extra: Any) -> Path:
    config = {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
        "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
        "numbers": numbers,
        **extra,
    }
    path = tmp_path / "cc.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (tmp_path / "ivr").mkdir(exist_ok=True)
    return path


def _number(flow: str | None = "hotline", **more: Any) -> dict[str, Any]:
    route = {"number": "95598", "category": "billing", "target": "controller", **more}
    if flow is not None:
        route["ivr"] = flow
    return route


def test_every_flow_loads_and_the_numbers_flows_exist(tmp_path: Path) -> None:
    path = _write(tmp_path, [_number()])
    (tmp_path / "ivr" / "hotline.yaml").write_text(FLOW.format(name="hotline", kind="hangup"))
    (lines,) = check_ivr(load_config(path), path)
    assert lines.startswith(f"IVR flow hotline ({tmp_path / 'ivr' / 'hotline.yaml'}, version ")


def test_a_bad_flow_is_named_with_file_line_and_node(tmp_path: Path) -> None:
    path = _write(tmp_path, [_number()])
    flow = tmp_path / "ivr" / "hotline.yaml"
    flow.write_text(FLOW.format(name="hotline", kind="teleport"))
    with pytest.raises(ConfigError) as caught:
        check_ivr(load_config(path), path)
    line = flow.read_text().splitlines().index("    type: teleport") + 1
    assert str(caught.value).startswith(f"{flow}:{line}: node hello: unknown node type")


def test_a_number_whose_flow_is_missing_is_named_with_the_configs_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [_number("nosuch")])
    (tmp_path / "ivr" / "hotline.yaml").write_text(FLOW.format(name="hotline", kind="hangup"))
    with pytest.raises(ConfigError) as caught:
        check_ivr(load_config(path), path)
    line = path.read_text().splitlines().index("  ivr: nosuch") + 1
    assert str(caught.value) == (
        f"{path}:{line}: numbers.0.ivr: number 95598: no flow 'nosuch' in "
        f"{tmp_path / 'ivr'} (flows: hotline)"
    )


def test_a_flow_needs_the_schedules_and_data_sources_of_the_config(tmp_path: Path) -> None:
    path = _write(tmp_path, [_number()], bizdata={"sources": {"accounts": {"kind": "store"}}})
    flow = tmp_path / "ivr" / "hotline.yaml"
    flow.write_text(
        FLOW.format(name="hotline", kind="lookup").replace(
            "    prompt: hello\n",
            "    source: billing\n    key: '1'\n    store_as: acct\n    next: bye\n"
            "  bye:\n    type: hangup\n",
        )
    )
    with pytest.raises(ConfigError, match=r"data source\(s\) billing, not in the config.s bizdata"):
        check_ivr(load_config(path), path)


def test_a_config_without_an_ivr_number_loads_no_flow(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [_number(None, queue="billing")],
        queues=[{"name": "billing"}],
        acd={"listen": "127.0.0.1:50051"},
    )
    (tmp_path / "ivr" / "broken.yaml").write_text("name: [")
    assert check_ivr(load_config(path), path) == []
