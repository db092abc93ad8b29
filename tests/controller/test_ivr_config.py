"""The IVR's config keys (`ivr:`, `numbers[].ivr/hours/closed`, `schedules:`), what
`callcenter up` passes to the controllers, and how a controller reads them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter._stack import controller_argv
from configuration import ConfigError, load_config, parse_config
from controller._app import parse_args
from controller._ivr_host import ClosedAnnouncement, ClosedVoicemail, NumberIvr
from ivr import Tts

OFFICE = {"timezone": "Asia/Shanghai", "weekly": {"mon-fri": ["08:30-17:30"]}}


def _config(numbers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
        "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
        "acd": {"listen": "127.0.0.1:50051"},
        "queues": [{"name": "billing"}],
        "schedules": {"office": OFFICE},
        "voicemail": {"boxes": {"outage": {"queue": "billing"}}},
        "numbers": numbers,
        **extra,
    }


HOTLINE = {
    "number": "95598",
    "category": "billing",
    "target": "controller",
    "ivr": "hotline",
    "hours": "office",
    "closed": {"zh": "下班了", "en": "We are closed"},
}
OUTAGE = {
    "number": "95590",
    "category": "outage",
    "target": "controller",
    "queue": "billing",
    "hours": "office",
    "closed": {"voicemail": "outage"},
}


def _parse(data: dict[str, Any]) -> Any:
    return parse_config(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "cc.yaml")


def test_a_number_with_a_flow_needs_no_queue() -> None:
    config = _parse(_config([HOTLINE, OUTAGE]))
    hotline = config.numbers[0]
    assert (hotline.ivr, hotline.hours, hotline.queue) == ("hotline", "office", None)
    assert hotline.closed.zh == "下班了" and config.numbers[1].closed.voicemail == "outage"
    assert config.ivr.flows_dir == "ivr" and config.ivr.state_ttl_ms == 3_600_000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hours": "weekends"}, "numbers.0.hours: number 95598: schedule 'weekends' is not in"),
        ({"closed": None}, "hours needs closed"),
        ({"hours": None}, "closed needs hours"),
        (
            {"closed": {"voicemail": "x", "zh": "关"}},
            "an announcement (zh, en) or voicemail, not both",
        ),
        ({"closed": {}}, "give an announcement (zh and/or en) or voicemail"),
        ({"target": "agents", "agents": ["1001"]}, "ivr and hours need target controller"),
        ({"ivr": None}, "it needs a `queue` or an `ivr` flow"),
        ({"ivr": "bad name!"}, "numbers.0.ivr"),
    ],
)
def test_mistakes_are_named_with_their_line(change: dict[str, Any], message: str) -> None:
    number = {k: v for k, v in {**HOTLINE, **change}.items() if v is not None}
    data = _config([number], accounts=[])
    with pytest.raises(ConfigError) as caught:
        _parse(data)
    assert message in str(caught.value)
    assert str(caught.value).startswith("cc.yaml:")


def test_the_flows_directory_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "etc" / "cc.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(_config([HOTLINE], ivr={"flows_dir": "../flows"})))
    monkeypatch.chdir("/")
    assert load_config(path).ivr.flows_dir == str(tmp_path / "flows")
    path.write_text(yaml.safe_dump(_config([HOTLINE])))
    assert load_config(path).ivr.flows_dir == str(tmp_path / "etc" / "ivr")


def test_callcenter_up_gives_the_replicas_the_flows_and_the_run_directorys_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(yaml.safe_dump(_config([HOTLINE, OUTAGE]), allow_unicode=True))
    config = load_config(path)
    runtime = tmp_path / "run" / "runtime.json"
    argv = controller_argv(config, 0, tmp_path / "run" / "prompts", runtime)
    at = argv.index("--ivr-flows")
    assert argv[at : at + 10] == [
        "--ivr-flows",
        str(tmp_path / "ivr"),
        "--ivr-for",
        "95598=hotline",
        "--ivr-prompt-cache",
        str(tmp_path / "run" / "prompts"),
        "--ivr-settings",
        str(runtime),
        "--ivr-state-ttl",
        "3600",
    ]
    # The replica reads it back: flows, and each number's hours and closed rule.
    runtime.parent.mkdir()
    runtime.write_text(json.dumps(config.model_dump(mode="json")))
    (tmp_path / "ivr").mkdir()
    options = parse_args(
        ["--sip", "127.0.0.1:5070", "--rtpengine", "127.0.0.1:2223", *argv[at:]]
    ).ivr
    assert options is not None
    assert options.routes() == {
        "95590": NumberIvr(None, "office", ClosedVoicemail("outage")),
        "95598": NumberIvr(
            "hotline",
            "office",
            ClosedAnnouncement((Tts("下班了", "zh"), Tts("We are closed", "en"))),
        ),
    }
    assert options.settings.schedules["office"]["weekly"] == OFFICE["weekly"]
    assert options.required_flows() == {"hotline": "number 95598"}


def test_no_ivr_arguments_without_a_flow_or_hours() -> None:
    plain = {k: v for k, v in OUTAGE.items() if k not in ("hours", "closed")}
    argv = controller_argv(_parse(_config([plain])), 0, Path("/run/prompts"), Path("/run/r.json"))
    assert not any(a.startswith("--ivr") for a in argv)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ivr-for", "95598=hotline"], "--ivr-for and --ivr-settings need --ivr-flows"),
        (["--ivr-flows", "/x", "--ivr-for", "95598"], "expected NUMBER=FLOW"),
        (["--ivr-flows", "/x", "--ivr-for", "1=a,1=b"], "number '1' is mapped twice"),
        (["--ivr-flows", "/x"], "no number has a flow"),
        (["--ivr-flows", "/x", "--ivr-for", "1=a"], "needs --ivr-prompt-cache"),
        (["--ivr-flows", "/x", "--ivr-settings", "/nonexistent.json"], "cannot read"),
    ],
)
def test_controller_option_mistakes(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--sip", "127.0.0.1:5070", "--rtpengine", "127.0.0.1:2223", *args])
    assert message in capsys.readouterr().err
