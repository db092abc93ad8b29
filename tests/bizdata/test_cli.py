"""`python -m bizdata`, and `callcenter up` migrating the store before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bizdata
from bizdata._cli import main
from callcenter import _stack
from configuration import parse_config

CONFIG = """\
version: 1
node:
  run_dir: run
rtpengine:
  nodes:
    - ng: 127.0.0.1:2223
"""


def _config(tmp_path: Path, extra: str = "bizdata: {}\n") -> Path:
    path = tmp_path / "cc.yaml"
    path.write_text(CONFIG + extra)
    return path


def test_migrate_seed_and_look_up_through_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(_config(tmp_path))
    assert main(["migrate", "-c", config]) == 0
    store = tmp_path / "run" / "data" / "bizdata.sqlite"
    assert f"sqlite:///{store}: at revision {bizdata.head_revision()}" in capsys.readouterr().out
    assert main(["seed-demo", "-c", config]) == 0
    assert main(["seed-demo", "-c", config]) == 0
    assert "0 demo accounts added" in capsys.readouterr().out
    assert main(["lookup", "12345674", "-c", config]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["balance"], record["due_date"], record["language"]) == (
        "123.45",
        "2026-12-31",
        "zh",
    )
    assert main(["lookup", "12345675", "-c", config]) == 1
    assert "accounts: not found" in capsys.readouterr().err


def test_look_up_by_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    assert main(["seed-demo", "--url", url]) == 0
    assert main(["lookup", "88888888", "--url", url]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["balance"] == "1234567.80"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lookup", "1", "--source", "billing"], "error: no data source 'billing'; the config has"),
        (["lookup", "1", "--url", "sqlite://", "--source", "x"], "--source names a source"),
        (["migrate", "--url", "nonsense"], "error: not a database URL"),
        (["lookup", "1"], "error: data source 'accounts' (store sqlite:///"),  # not migrated
    ],
)
def test_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([*argv, "-c", str(_config(tmp_path))]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_config_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "bizdata:\n  sources:\n    x: {kind: nope}\n")
    assert main(["migrate", "-c", str(config)]) == 2
    assert f"error: {config}:9: bizdata.sources.x: Input tag 'nope'" in capsys.readouterr().err


def test_callcenter_up_migrates_the_store_first(tmp_path: Path) -> None:
    config = parse_config(CONFIG + "bizdata: {}\n")
    layout = _stack.layout_for(config, tmp_path)
    assert _stack.prepare_store(config, layout) == bizdata.head_revision()
    assert bizdata.current_revision(_stack.store_url(config, layout)) == bizdata.head_revision()
    assert (tmp_path / "run" / "data" / "bizdata.sqlite").exists()
    # Without the section there is no store to migrate.
    assert _stack.prepare_store(parse_config(CONFIG), layout) is None


def test_callcenter_up_stops_on_a_store_it_cannot_migrate(tmp_path: Path) -> None:
    (tmp_path / "junk.sqlite").write_text("not a database" * 100)
    config = parse_config(CONFIG + f"bizdata:\n  url: sqlite:///{tmp_path / 'junk.sqlite'}\n")
    layout = _stack.layout_for(config, tmp_path)
    with pytest.raises(_stack.StackError, match=r"business data store: .*migration failed"):
        _stack.up(config, layout)
    assert not layout.pid_file("kamailio").exists()  # nothing was started


def test_the_demo_seeds_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from callcenter._demo import _seed_store

    config = parse_config(CONFIG + "bizdata: {}\n")
    layout = _stack.layout_for(config, tmp_path)
    _seed_store(config, layout)
    assert "305 demo accounts added (account 12345674 owes 123.45" in capsys.readouterr().out
    _seed_store(config, layout)
    assert ", 0 demo accounts added" in capsys.readouterr().out


def test_seed_bulk_adds_once_and_refuses_another_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'bulk.sqlite'}"
    assert main(["seed-bulk", url, "--customers", "50"]) == 0
    assert "50 customers added" in capsys.readouterr().out
    assert main(["seed-bulk", url, "--customers", "50"]) == 0
    assert "nothing added" in capsys.readouterr().out
    assert main(["seed-bulk", url, "--customers", "40"]) == 2
    assert "holds a bulk of about 50 customers" in capsys.readouterr().err
    assert main(["seed-bulk", url, "--customers", "0"]) == 2
