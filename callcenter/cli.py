"""`callcenter`: run, inspect and administer a local call-center stack."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from callcenter import _stack
from callcenter._accounts import account_entry, upsert_accounts
from callcenter._demo import run_demo
from callcenter._ivr_check import check_ivr
from callcenter._recording_check import check_recording
from callcenter._secrets import SecretsError, write_secrets
from configuration import PROJECT_ROOT, CallCenterConfig, ConfigError, load_config, parse_config

DEFAULT_CONFIG = PROJECT_ROOT / "config" / "callcenter.yaml"


def _load(args: argparse.Namespace) -> tuple[CallCenterConfig, Path]:
    path = Path(args.config).resolve()
    return load_config(path), path.parent


def cmd_check_config(args: argparse.Namespace) -> int:
    config, config_dir = _load(args)
    flows = check_ivr(config, Path(args.config).resolve())
    flows += check_recording(config, Path(args.config).resolve())
    output = _stack.check_kamailio_cfg(config, _stack.layout_for(config, config_dir))
    for line in flows:
        print(line)
    for line in output.splitlines():
        if line.startswith("note:"):
            print(line)
    print(f"{args.config}: valid; kamailio -c: {output.strip().splitlines()[-1]}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    config, config_dir = _load(args)
    check_ivr(config, Path(args.config).resolve())  # a bad flow stops `up` before anything runs
    check_recording(config, Path(args.config).resolve())
    layout = _stack.layout_for(config, config_dir)
    for name in _stack.up(config, layout):
        print(f"started {name}")
    print(f"run directory: {layout.root} (logs in {layout.logs})")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    config, config_dir = _load(args)
    stopped = _stack.down(_stack.layout_for(config, config_dir))
    print("stopped " + (", ".join(stopped) if stopped else "nothing (no process was running)"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config, config_dir = _load(args)
    rows = _stack.status(config, _stack.layout_for(config, config_dir))
    for row in rows:
        state = "healthy" if row.healthy else ("UNHEALTHY" if row.running else "stopped")
        pid = str(row.pid) if row.running else "-"
        print(f"{row.name:<12} {state:<10} pid={pid:<8} {row.describe}")
    return 0 if all(r.healthy for r in rows) else 3


def cmd_account_add(args: argparse.Namespace) -> int:
    # Only the main file: the accounts being added may be what makes the whole config valid.
    config_path = Path(args.config).resolve()
    config = parse_config(config_path.read_text(encoding="utf-8"), str(config_path))
    config_dir = config_path.parent
    if not config.accounts_file and not args.file:
        raise ConfigError(f"{args.config}: set accounts_file, or pass --file")
    path = Path(args.file) if args.file else config_dir / str(config.accounts_file)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
    if len(password) < 8:
        print("refused: a password needs at least 8 characters", file=sys.stderr)
        return 2
    skills = dict(_parse_skill(s) for s in args.skill)
    upsert_accounts(
        path,
        [
            account_entry(
                args.username,
                password,
                config.sip.realm,
                args.role,
                employee_id=args.employee_id,
                skills=skills,
            )
        ],
    )
    print(f"{args.username}: stored HA1 and argon2id hash in {path}")
    # A running stack (its run directory has a runtime.json) takes the account at once.
    merged = load_config(config_path)
    layout = _stack.layout_for(merged, config_dir)
    if any(a.username == args.username for a in merged.accounts) and _stack.update_runtime_accounts(
        merged, layout
    ):
        print(
            f"{args.username}: updated {layout.runtime_config}; a stack running from it "
            "(Kamailio, ACD, dashboards) takes the account within 5 s, no restart"
        )
    return 0


def _parse_skill(text: str) -> tuple[str, int]:
    name, _, level = text.partition(":")
    return name, int(level or 1)


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(Path(args.config).resolve(), calls=args.calls)


def cmd_secrets(args: argparse.Namespace) -> int:
    config, config_dir = _load(args)
    written = write_secrets(config, config_dir, force=args.force)
    print(f"wrote certificate {written.cert} (for {', '.join(written.names)})")
    print(f"wrote key {written.key} (mode 0600)")
    print(f"self-signed CA: {written.ca}; trust it in browsers and clients of this demo")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcenter", description=__doc__)
    parser.add_argument(
        "-c", "--config", default=str(DEFAULT_CONFIG), help="YAML config (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the local stack").set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="processes and health").set_defaults(func=cmd_status)
    sub.add_parser("check-config", help="validate YAML and `kamailio -c`").set_defaults(
        func=cmd_check_config
    )
    secrets_cmd = sub.add_parser(
        "secrets", help="write a self-signed CA and server certificate at tls.cert/tls.key"
    )
    secrets_cmd.add_argument("--force", action="store_true", help="replace existing files")
    secrets_cmd.set_defaults(func=cmd_secrets)
    demo = sub.add_parser("demo", help="start the stack and send demo calls through it")
    demo.add_argument("--calls", type=int, default=10)
    demo.set_defaults(func=cmd_demo)
    account = sub.add_parser("account", help="manage accounts").add_subparsers(
        dest="account_command", required=True
    )
    add = account.add_parser("add", help="add or replace an account (stores hashes only)")
    add.add_argument("username")
    add.add_argument(
        "--role", action="append", choices=["agent", "supervisor", "admin"], required=True
    )
    add.add_argument("--employee-id")
    add.add_argument("--skill", action="append", default=[], help="name[:level]")
    add.add_argument("--file", help="accounts file (default: the config's accounts_file)")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_account_add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, _stack.StackError, SecretsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
