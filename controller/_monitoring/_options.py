"""Monitoring's options on the controller's command line (`callcenter up` passes the
`monitoring:` section and `recording.dir`, docs/monitoring.md)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from configuration import split_hostport
from controller._monitoring._sessions import Keypad

__all__ = ["MixerAddress", "MonitoringOptions", "add_monitoring_arguments", "monitoring_options"]


@dataclass(frozen=True)
class MixerAddress:
    name: str
    host: str
    port: int


@dataclass(frozen=True)
class MonitoringOptions:
    mixers: tuple[MixerAddress, ...] = ()
    keys: Keypad = field(default_factory=Keypad)
    ring_timeout_s: float = 20.0
    # <dir>/monitor/<YYYY-MM-DD>/<ref>.wav; None: `record` is ignored (a warning).
    recording_dir: Path | None = None
    mixer_timeout_s: float = 0.3
    # How often the mixers of live conferences are pinged (a silent one fails its calls).
    ping_interval_s: float = 1.0


def add_monitoring_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("monitoring", "listen, whisper, barge (docs/monitoring.md)")
    group.add_argument(
        "--mixer",
        action="append",
        default=[],
        metavar="[NAME=]HOST:PORT",
        help="a mixer's ng control address (repeatable); default name mixer<index>",
    )
    group.add_argument(
        "--monitor-keys",
        default="4,5,6,*",
        metavar="L,W,B,I",
        help="the supervisor's keys: listen,whisper,barge,intercept",
    )
    group.add_argument("--monitor-ring-timeout", type=float, default=20.0, metavar="SECONDS")
    group.add_argument(
        "--monitor-recording-dir",
        default=None,
        metavar="DIR",
        help="recording.dir: recorded sessions go to DIR/monitor/<date>/<ref>.wav",
    )
    group.add_argument("--mixer-timeout", type=float, default=0.3, metavar="SECONDS")
    group.add_argument("--mixer-ping-interval", type=float, default=1.0, metavar="SECONDS")


def _mixer(index: int, value: str) -> MixerAddress:
    name, sep, address = value.partition("=")
    if not sep:
        name, address = f"mixer{index}", value
    host, port = split_hostport(address)
    return MixerAddress(name.strip(), host, port)


def monitoring_options(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> MonitoringOptions:
    try:
        mixers = tuple(_mixer(i, value) for i, value in enumerate(args.mixer))
        keys = Keypad.parse(args.monitor_keys)
    except ValueError as exc:
        parser.error(f"monitoring: {exc}")
    if args.monitor_ring_timeout <= 0 or args.mixer_timeout <= 0 or args.mixer_ping_interval <= 0:
        parser.error("monitoring: timeouts and intervals must be above 0")
    return MonitoringOptions(
        mixers=mixers,
        keys=keys,
        ring_timeout_s=args.monitor_ring_timeout,
        recording_dir=None
        if args.monitor_recording_dir is None
        else Path(args.monitor_recording_dir),
        mixer_timeout_s=args.mixer_timeout,
        ping_interval_s=args.mixer_ping_interval,
    )
