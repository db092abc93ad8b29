"""`check-config` refuses a voicemail box nobody configured: a number's closed voicemail,
a queue's voicemail_box (configuration, with the config's line) and an IVR flow's
voicemail node (callcenter/_ivr_check.py, with the flow's line); `agent.<username>` of
an agent account always exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter._ivr_check import check_ivr
from configuration import ConfigError, load_config

VM_FLOW = """\
name: hotline
languages: [zh]
start: box
nodes:
  box:
    type: voicemail
    box: {box}
"""
ACCOUNT = {
    "username": "1001",
    "roles": ["agent"],
    "ha1": "0" * 32,
    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$x$y",
}


def _write(tmp_path: Path, **extra: Any) -> Path:
    config = {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
        "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
        "accounts": [ACCOUNT],
        "voicemail": {"boxes": {"sales": {"queue": "sales"}}},
        **extra,
    }
    path = tmp_path / "cc.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (tmp_path / "ivr").mkdir(exist_ok=True)
    return path


def _closed(box: str) -> dict[str, Any]:
    return {
        "number": "95598",
        "category": "billing",
        "target": "controller",
        "ivr": "hotline",
        "hours": "office",
        "closed": {"voicemail": box},
    }


SCHEDULES = {"office": {"timezone": "Asia/Shanghai", "weekly": {"mon-fri": ["08:30-17:30"]}}}


def test_known_boxes_and_agent_boxes_pass(tmp_path: Path) -> None:
    path = _write(tmp_path, numbers=[_closed("agent.1001")], schedules=SCHEDULES)
    (tmp_path / "ivr" / "hotline.yaml").write_text(VM_FLOW.format(box="sales"))
    assert check_ivr(load_config(path), path)


def test_a_numbers_closed_voicemail_must_name_a_box(tmp_path: Path) -> None:
    path = _write(tmp_path, numbers=[_closed("nosuch")], schedules=SCHEDULES)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = path.read_text().splitlines().index("    voicemail: nosuch") + 1
    assert f"{path}:{line}: numbers.0.closed.voicemail: number 95598: voicemail box " in str(
        caught.value
    )


def test_a_queues_voicemail_box_must_exist(
    tmp_path: Path,
) -> None:
    queues = [
        {"name": "sales", "voicemail_box": "agent.9999"},
        {"name": "late", "max_wait_ms": 1000, "overflow_target": "voicemail"},
    ]
    path = _write(tmp_path, queues=queues)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "queues.0.voicemail_box: queue sales: voicemail_box 'agent.9999' is not in" in text
    # Overflowing to voicemail without a box is the older, box-less setup: still valid.
    assert "queues.1" not in text


def test_an_ivr_voicemail_node_must_name_a_box(tmp_path: Path) -> None:
    path = _write(tmp_path, numbers=[_closed("sales")], schedules=SCHEDULES)
    flow = tmp_path / "ivr" / "hotline.yaml"
    flow.write_text(VM_FLOW.format(box="agent.1002"))
    with pytest.raises(ConfigError) as caught:
        check_ivr(load_config(path), path)
    assert str(caught.value).startswith(
        f"{flow}:5: node box: voicemail box 'agent.1002' is not in voicemail.boxes"
    )
