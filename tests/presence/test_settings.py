"""Config and `callcenter up` wiring for presence: keepalive settings, Kamailio's template
values, the watcher in the daemon plan, and its health probe."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from callcenter import StackError
from callcenter._stack import plan, render_kamailio_cfg
from configuration import ConfigError, RunLayout, parse_config
from presence._kamailio import (
    kamailio_template_values,
    presence_argv,
    presence_healthy,
    rpc_fifo,
    status_file,
)

BASE = """\
version: 1
rtpengine:
  nodes:
    - ng: 127.0.0.1:2223
accounts: []
"""
ACD = "acd:\n  listen: 127.0.0.1:50051\n"


def test_defaults_ping_every_20_s_and_drop_after_60_s() -> None:
    config = parse_config(BASE)
    assert (config.sip.phone_keepalive_s, config.sip.phone_keepalive_timeout_s) == (20, 60)
    assert config.presence.managed and config.presence.poll_ms == 2000


def test_a_timeout_under_two_intervals_is_refused_with_its_line() -> None:
    text = BASE + "sip:\n  phone_keepalive_s: 20\n  phone_keepalive_timeout_s: 30\n"
    with pytest.raises(ConfigError) as refused:
        parse_config(text, "cc.yaml")
    assert "cc.yaml:6: sip:" in str(refused.value)
    assert "phone_keepalive_timeout_s (30) must be at least twice phone_keepalive_s (20)" in str(
        refused.value
    )


@pytest.mark.parametrize(
    "sip",
    [
        "phone_keepalive_s: 0\n  phone_keepalive_timeout_s: 5",
        "phone_keepalive_s: 10\n  phone_keepalive_timeout_s: 0",
        "phone_keepalive_s: 10\n  phone_keepalive_timeout_s: 20",
    ],
)
def test_disabled_ping_only_and_exactly_twice_are_accepted(sip: str) -> None:
    parse_config(BASE + f"sip:\n  {sip}\n")


def test_a_poll_interval_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"presence\.poll_ms"):
        parse_config(BASE + "presence:\n  poll_ms: 10\n")


def test_kamailio_values_with_keepalive(tmp_path: Path) -> None:
    config = parse_config(BASE + "sip:\n  realm: cc.test\n")
    layout = RunLayout(tmp_path / "run")
    values = kamailio_template_values(config, layout)
    assert values == {
        "usrloc_timer_s": 20,
        "phone_keepalive_mode": 1,
        "phone_keepalive_timeout_s": 60,
        "phone_keepalive_from": "sip:keepalive@cc.test",
        "rpc_fifo": rpc_fifo(layout),
        "rpc_reply_dir": f"{tmp_path}/run/rpc/",
    }
    assert (tmp_path / "run" / "rpc").is_dir()  # jsonrpcs needs it before it starts


def test_kamailio_values_without_keepalive_keep_usrloc_defaults(tmp_path: Path) -> None:
    config = parse_config(BASE + "sip:\n  phone_keepalive_s: 0\n")
    values = kamailio_template_values(config, RunLayout(tmp_path))
    assert (
        values["usrloc_timer_s"],
        values["phone_keepalive_mode"],
        values["phone_keepalive_timeout_s"],
    ) == (60, 0, 0)


def test_the_rendered_config_pings_phones_and_opens_the_fifo(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path / "run")
    cfg = render_kamailio_cfg(parse_config(BASE), layout)
    assert 'modparam("usrloc", "ka_mode", 1)' in cfg
    assert 'modparam("usrloc", "ka_timeout", 60)' in cfg
    assert f'modparam("jsonrpcs", "fifo_name", "{rpc_fifo(layout)}")' in cfg


def test_a_run_directory_too_long_for_jsonrpcs_replies_is_refused(tmp_path: Path) -> None:
    deep = RunLayout(tmp_path / ("d" * (120 - len(str(tmp_path)))))
    with pytest.raises(StackError, match=r"node\.run_dir: .* too long for Kamailio's RPC"):
        render_kamailio_cfg(parse_config(BASE), deep)


def test_the_watcher_runs_beside_kamailio_only_with_an_acd(tmp_path: Path) -> None:
    layout = RunLayout(tmp_path)
    names = [d.spec.name for d in plan(parse_config(BASE + ACD), layout)]
    assert names[-2:] == ["kamailio", "presence"]  # after Kamailio: it reads its FIFO
    assert "presence" not in [d.spec.name for d in plan(parse_config(BASE), layout)]
    off = parse_config(BASE + ACD + "presence:\n  managed: false\n")
    assert "presence" not in [d.spec.name for d in plan(off, layout)]


def test_the_watcher_argv(tmp_path: Path) -> None:
    config = parse_config(BASE + ACD + "  advertise: 10.0.0.5:50051\npresence:\n  poll_ms: 500\n")
    layout = RunLayout(tmp_path)
    argv = presence_argv(config, layout)
    assert argv[1:3] == ["-m", "presence"]
    args = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert args == {
        "--kamailio-rpc": str(rpc_fifo(layout)),
        "--acd": "10.0.0.5:50051",
        "--config": str(layout.runtime_config),
        "--interval": "0.5",
        "--status-file": str(status_file(layout)),
    }


@pytest.mark.parametrize(
    ("pid_offset", "age_s", "kamailio_ok", "healthy"),
    [
        (0, 0.0, True, True),
        (0, 0.0, False, False),  # polling, but Kamailio's RPC fails
        (0, 30.0, True, False),  # the loop is stuck
        (1, 0.0, True, False),  # a file left by another (earlier) watcher
    ],
)
def test_the_health_probe(
    tmp_path: Path, pid_offset: int, age_s: float, kamailio_ok: bool, healthy: bool
) -> None:
    config = parse_config(BASE + ACD)
    layout = RunLayout(tmp_path)
    layout.create()
    assert not presence_healthy(config, layout)  # nothing written yet
    layout.pid_file("presence").write_text(f"{os.getpid()}\n")
    status_file(layout).write_text(
        json.dumps(
            {
                "pid": os.getpid() + pid_offset,
                "updated": time.time() - age_s,
                "kamailio_ok": kamailio_ok,
                "acd_ok": True,
            }
        )
    )
    assert presence_healthy(config, layout) is healthy
