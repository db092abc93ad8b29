"""`python -m mixer --config FILE --node INDEX`: the mixer of `monitoring.mixers[INDEX]`
(docs/monitoring.md, "Running the mixer")."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from configuration import ConfigError, positive_number

from ._engine import Engine, MixerStartError
from ._settings import SettingsError, settings_from_config


def _index(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a mixer's index (0, 1, ...), not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mixer", description=__doc__)
    parser.add_argument(
        "--config", required=True, type=Path, help="the callcenter YAML (or runtime.json)"
    )
    parser.add_argument(
        "--node",
        required=True,
        type=_index,
        help="which entry of monitoring.mixers this process is (0 for the first)",
    )
    parser.add_argument(
        "--idle-timeout-ms",
        type=positive_number,
        help="forget a conference without packets for this long"
        " (default: rtpengine.rtp_timeout_s; tests use milliseconds)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    idle = args.idle_timeout_ms / 1000 if args.idle_timeout_ms is not None else None
    try:
        settings = settings_from_config(args.config, args.node, idle_timeout_s=idle)
    except (ConfigError, SettingsError, OSError) as exc:
        print(f"mixer: {exc}", file=sys.stderr)
        return 2
    try:
        engine = Engine(settings)
    except MixerStartError as exc:
        print(f"mixer: {exc}", file=sys.stderr)
        return 2
    try:
        free = engine.check_ports()
    except MixerStartError as exc:
        engine.close()
        print(f"mixer: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: engine.stop())
    log = logging.getLogger("mixer")
    log.info(
        "node %s: ng udp %s, rtp %s:%d-%d (%d free), jitter %d frames, idle timeout %gs",
        settings.name,
        settings.ng,
        settings.interface,
        settings.port_min,
        settings.port_max,
        free,
        settings.jitter_frames,
        settings.idle_timeout_s,
    )
    try:
        engine.run()
    finally:
        engine.close()
    log.info("node %s: stopped", settings.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
