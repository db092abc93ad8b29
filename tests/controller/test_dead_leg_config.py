"""`timers.dead_leg_timeout_ms` and `media_check_interval_ms`: the YAML keys `callcenter up`
turns into each controller replica's `--rtp-timeout` and `--media-check-interval`, with
the controller's own defaults (30 s, 10 s: detection on) when the config has none."""

from __future__ import annotations

import pytest

from callcenter._stack import controller_argv
from configuration import ConfigError, parse_config
from controller._app import parse_args

CONFIG = """\
version: 1
rtpengine:
  nodes:
    - ng: 127.0.0.1:2223
controllers:
  - sip: 127.0.0.1:5070
    control: 127.0.0.1:5071
numbers:
  - number: "95598"
    category: billing
    target: controller
accounts: []
accounts_file: accounts.yaml
"""


def replica_settings(yaml_text: str) -> tuple[float, float]:
    """(rtp timeout, check interval) as the replica `callcenter up` starts parses them."""
    argv = controller_argv(parse_config(yaml_text, "x.yaml"), 0)
    assert argv[1:3] == ["-m", "controller"]
    config = parse_args(argv[3:])
    return config.rtp_timeout_s, config.media_check_interval_s


def test_replicas_get_dead_leg_detection_on_by_default() -> None:
    assert replica_settings(CONFIG) == (30.0, 10.0)


def test_the_timers_set_a_replicas_detection_and_zero_turns_it_off() -> None:
    timers = "timers:\n  dead_leg_timeout_ms: 2500\n  media_check_interval_ms: 500\n"
    assert replica_settings(CONFIG + timers) == (2.5, 0.5)
    assert replica_settings(CONFIG + "timers:\n  dead_leg_timeout_ms: 0\n")[0] == 0.0


@pytest.mark.parametrize("timer", ["dead_leg_timeout_ms: -1", "media_check_interval_ms: 0"])
def test_a_dead_leg_timer_out_of_range_is_refused(timer: str) -> None:
    with pytest.raises(ConfigError, match=r"x\.yaml:\d+: timers\."):
        parse_config(CONFIG + f"timers:\n  {timer}\n", "x.yaml")
