"""The `callcenter` CLI as an operator uses it: check-config, up, status, down, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from callcenter import write_secrets
from callcenter._stack import check_kamailio_cfg, layout_for
from configuration import load_config
from testbed import base_config, wss_config


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcenter.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(workdir: Path, config: dict[str, object]) -> Path:
    path = workdir / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_kamailio_accepts_the_rendered_config(workdir: Path) -> None:
    config, _ = base_config(workdir)
    parsed = load_config(write(workdir, config))
    assert "config file ok" in check_kamailio_cfg(parsed, layout_for(parsed, workdir))


def _tree(root: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every path under root: a file's content and mtime, None for a directory."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
        for p in root.rglob("*")
    }


def test_check_config_changes_nothing_in_the_run_directory(workdir: Path) -> None:
    """The check renders and runs `kamailio -c` elsewhere: a missing run directory is not
    created, and a running stack's files (runtime.json, kamailio.cfg, ...) keep their
    content and mtime."""
    config, _ = base_config(workdir)
    config["acd"] = {"listen": "127.0.0.1:50051"}  # so the presence FIFO paths are rendered
    path = write(workdir, config)
    before_dir = _tree(workdir)
    result = cli("-c", str(path), "check-config")
    assert result.returncode == 0, result.stderr
    assert "config file ok" in result.stdout
    assert not (workdir / "run").exists()
    assert _tree(workdir) == before_dir

    run = workdir / "run"
    (run / "rpc").mkdir(parents=True)
    for name in ("runtime.json", "kamailio.cfg", "dispatcher.list", "dashboard.json"):
        (run / name).write_text(f"the running stack's {name}\n")
    before = _tree(run)
    result = cli("-c", str(path), "check-config")
    assert result.returncode == 0, result.stderr
    assert _tree(run) == before


def test_up_status_down_manage_exactly_their_processes(workdir: Path) -> None:
    path = write(workdir, base_config(workdir)[0])
    up = cli("-c", str(path), "up")
    try:
        assert up.returncode == 0, up.stderr
        status = cli("-c", str(path), "status")
        assert status.returncode == 0, status.stdout + status.stderr
        lines = status.stdout.splitlines()
        assert [line.split()[0] for line in lines] == ["redis", "rtpengine0", "kamailio"]
        assert all(" healthy " in line for line in lines)
        again = cli("-c", str(path), "up")
        assert again.returncode == 2 and "already running" in again.stderr
    finally:
        down = cli("-c", str(path), "down")
    assert down.returncode == 0
    assert "kamailio" in down.stdout and "rtpengine0" in down.stdout
    after = cli("-c", str(path), "status")
    assert after.returncode == 3 and after.stdout.count("stopped") == 3
    assert not list((workdir / "run" / "pid").glob("*.pid"))


def test_bad_config_is_refused_with_file_and_line_and_nothing_starts(workdir: Path) -> None:
    config, _ = base_config(workdir)
    config["timers"] = {"ring_timeout_ms": "soon"}
    path = write(workdir, config)
    result = cli("-c", str(path), "up")
    assert result.returncode == 2
    assert f"{path}:" in result.stderr and "timers.ring_timeout_ms" in result.stderr
    assert not (workdir / "run" / "pid").exists() or not list((workdir / "run" / "pid").iterdir())


def test_failed_start_stops_what_it_started(workdir: Path) -> None:
    config, _ = base_config(workdir)
    config["sip"]["listen"] = "192.0.2.1:5060"  # not an address of this host: Kamailio exits
    path = write(workdir, config)
    result = cli("-c", str(path), "up")
    assert result.returncode == 2 and "kamailio" in result.stderr
    assert not list((workdir / "run" / "pid").glob("*.pid"))


def test_account_add_stores_hashes_never_the_password(workdir: Path) -> None:
    config, _ = base_config(workdir, agents=())
    config["accounts_file"] = "accounts.yaml"
    config["numbers"] = []
    path = write(workdir, config)
    result = cli(
        "-c",
        str(path),
        "account",
        "add",
        "2001",
        "--role",
        "supervisor",
        "--employee-id",
        "E2001",
        "--skill",
        "billing:3",
        "--password-stdin",
        stdin="a long enough secret\n",
    )
    assert result.returncode == 0, result.stderr
    stored = (workdir / "accounts.yaml").read_text()
    assert "a long enough secret" not in stored
    (account,) = load_config(path).accounts
    assert account.roles == ["supervisor"] and account.skills == {"billing": 3}
    short = cli(
        "-c",
        str(path),
        "account",
        "add",
        "2002",
        "--role",
        "agent",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 2 and "8 characters" in short.stderr


def test_kamailio_accepts_the_rendered_config_with_wss(workdir: Path) -> None:
    config, _ = base_config(workdir)
    wss_config(workdir, config)
    parsed = load_config(write(workdir, config))
    write_secrets(parsed, workdir)
    assert "config file ok" in check_kamailio_cfg(parsed, layout_for(parsed, workdir))
