"""`python -m acdsvc --config FILE [--listen HOST:PORT]`: run one ACD replica.

Run as many as you like against the same Redis: one leads, the others forward.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import signal
import sys
import threading
from pathlib import Path

from acd import ConfigError as AcdConfigError
from acd_client import TokenError
from configuration import ConfigError, load_config

from ._replica import Replica, ReplicaError
from ._settings import ReloadingAccounts, settings_from_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acdsvc", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        required=True,
        help="the callcenter YAML (or the runtime.json `callcenter up` writes)",
    )
    parser.add_argument("--listen", help="HOST:PORT to serve on (default: acd.listen)")
    parser.add_argument("--advertise", help="HOST:PORT other replicas dial (default: --listen)")
    parser.add_argument("--node", help="replica name in events and logs")
    parser.add_argument(
        "--run-dir",
        type=Path,
        help="the stack's run directory: the voicemail files and a relative SQLite store "
        "are there (default: node.run_dir beside the config file)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--verify-commits",
        action="store_true",
        help="test aid: re-read the state after every commit and compare",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
        settings = settings_from_config(
            config,
            listen=args.listen,
            advertise=args.advertise,
            node=args.node,
            run_dir=args.run_dir or Path(args.config).resolve().parent / config.node.run_dir,
        )
        # `callcenter account add` changes the accounts of a running replica.
        settings = dataclasses.replace(
            settings, accounts=ReloadingAccounts(args.config, settings.accounts)
        )
        replica = Replica(settings, verify_commits=args.verify_commits).start()
    except (ConfigError, AcdConfigError, ReplicaError, TokenError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The state is long-lived and large (1,000s of records): keep it out of the
    # collector's way, so full collections do not pause every command.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    replica.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
