"""`python -m recorder --config FILE [--media-node HOST:PORT ...]`: the recorder beside
the rtpengines of one host (docs/recording.md, "Running the recorder")."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from configuration import ConfigError, positive_number, split_hostport

from ._service import RecorderService
from ._settings import SettingsError, settings_from_config


def _host_port(text: str) -> str:
    try:
        split_hostport(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recorder", description=__doc__)
    parser.add_argument(
        "--config", required=True, type=Path, help="the callcenter YAML (or runtime.json)"
    )
    parser.add_argument(
        "--media-node",
        action="append",
        type=_host_port,
        default=[],
        metavar="HOST:PORT",
        help="an rtpengine ng address whose recordings this recorder converts (repeatable;"
        " default: the config's rtpengines on this host)",
    )
    parser.add_argument(
        "--mixer",
        action="append",
        default=None,
        metavar="NAME",
        help="a monitoring mixer whose session recordings this recorder indexes (repeatable;"
        " default: the config's mixers on this host)",
    )
    parser.add_argument(
        "--run-dir", type=Path, help="the run directory (default: the config's node.run_dir)"
    )
    parser.add_argument(
        "--node", help="this host's name: the consumer group is recorder.<node> (node.name)"
    )
    parser.add_argument(
        "--disk-interval-ms",
        type=positive_number,
        default=1000.0,
        help="how often free space is checked (default: %(default)s)",
    )
    parser.add_argument(
        "--retention-interval-s",
        type=positive_number,
        default=3600.0,
        help="how often retention runs, after once at start (default: %(default)s)",
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
    try:
        settings = settings_from_config(
            args.config,
            run_dir=args.run_dir,
            media_nodes=tuple(args.media_node),
            node=args.node,
            mixers=None if args.mixer is None else tuple(args.mixer),
        )
    except (ConfigError, SettingsError) as exc:
        print(f"recorder: {exc}", file=sys.stderr)
        return 2
    settings = settings.with_intervals(
        disk_interval_s=args.disk_interval_ms / 1000,
        retention_interval_s=args.retention_interval_s,
    )
    service = RecorderService(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    host, port = service.start()
    logging.getLogger("recorder").info(
        "recorder: media nodes %s, mixers %s, spool %s, wav %s, voicemail %s, http://%s:%d,"
        " group %s",
        ",".join(settings.media_nodes),
        ",".join(settings.mixers) or "-",
        settings.spool_dir,
        settings.wav_dir,
        settings.voicemail_dir,
        host,
        port,
        settings.group,
    )
    service.stop_event.wait()
    service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
