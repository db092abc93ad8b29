"""The recorder's settings: the config's `recording:`, `voicemail:`, `acd:`, `bizdata:`
and `redis:` sections, with paths resolved against the run directory."""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from pathlib import Path

import recording
from configuration import CallCenterConfig, load_config, split_hostport


class SettingsError(ValueError):
    """A config the recorder cannot run on; the message names the file and what is missing."""


@dataclass(frozen=True)
class RecorderSettings:
    config_path: Path
    run_dir: Path
    spool_dir: Path  # rtpengine's --recording-dir: pcaps/, metadata/, tmp/
    wav_dir: Path  # recording.dir: YYYY/MM/DD/<ref>.wav
    voicemail_dir: Path  # voicemail.dir: <box>/<message id>.wav
    store_url: str
    store_password_env: str | None
    redis: str  # host:port
    stream: str
    redis_prefix: str
    node: str  # this host's name: the consumer group is recorder.<node>
    media_nodes: tuple[str, ...]  # the rtpengine ng addresses whose recordings are ours
    listen: str
    retention_days: int
    missing_after_ms: int
    min_free_mb: int
    # The monitoring mixers whose session recordings (reason monitor, media_node = the
    # mixer's name; the mixer writes the WAV itself) this recorder indexes.
    mixers: tuple[str, ...] = ()
    # Every mixer's RTP address and port range: their packets in a call's pcap repeat
    # the parties (docs/monitoring.md), so the conversion leaves them out.
    ignore_sources: tuple[recording.SourceRange, ...] = ()
    disk_interval_s: float = 1.0
    retention_interval_s: float = 3600.0
    block_ms: int = 500

    @property
    def served(self) -> frozenset[str]:
        """The media_node values whose recordings are this recorder's."""
        return frozenset(self.media_nodes) | frozenset(self.mixers)

    @property
    def group(self) -> str:
        return f"recorder.{self.node}"

    def with_intervals(
        self, *, disk_interval_s: float, retention_interval_s: float
    ) -> RecorderSettings:
        return replace(
            self, disk_interval_s=disk_interval_s, retention_interval_s=retention_interval_s
        )

    def disk_full_key(self, media_node: str) -> str:
        """The Redis key a controller checks before it starts a recording on `media_node`."""
        return recording.disk_full_key(self.redis_prefix, media_node)


def _under(run_dir: Path, path: str) -> Path:
    p = Path(path)
    return (p if p.is_absolute() else run_dir / p).resolve()


def is_local_address(host: str) -> bool:
    """Whether this host owns `host` (an address a socket here can bind to)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.bind((host, 0))
    except OSError:
        return False
    return True


def local_media_nodes(config: CallCenterConfig) -> tuple[str, ...]:
    """The rtpengines of the config that run on this host: the recorder's default."""
    return tuple(n.ng for n in config.rtpengine.nodes if is_local_address(split_hostport(n.ng)[0]))


def mixer_name(config: CallCenterConfig, index: int) -> str:
    """A mixer's name in events (recording.started's media_node): its `name`, else
    mixer<index> (as the mixer and the controller name it)."""
    name = config.monitoring.mixers[index].name
    return name if name is not None else f"mixer{index}"


def local_mixers(config: CallCenterConfig) -> tuple[str, ...]:
    """The names of the config's mixers that run on this host: the recorder's default."""
    return tuple(
        mixer_name(config, i)
        for i, m in enumerate(config.monitoring.mixers)
        if is_local_address(split_hostport(m.ng)[0])
    )


def mixer_sources(config: CallCenterConfig) -> tuple[recording.SourceRange, ...]:
    """Where every mixer's RTP comes from: its interface and port range."""
    return tuple(
        recording.SourceRange(m.interface, m.port_min, m.port_max) for m in config.monitoring.mixers
    )


def settings_from_config(
    config_path: Path,
    *,
    run_dir: Path | None = None,
    media_nodes: tuple[str, ...] = (),
    node: str | None = None,
    mixers: tuple[str, ...] | None = None,
) -> RecorderSettings:
    """Settings from the config file. `run_dir` defaults to the config's node.run_dir
    (relative to the file); `media_nodes` to the config's rtpengines on this host;
    `mixers` (whose session recordings are indexed here) to its mixers on this host."""
    import bizdata  # noqa: PLC0415 - SQLAlchemy loads only when the recorder starts

    config_path = config_path.resolve()
    config = load_config(config_path)
    if config.recording is None:
        raise SettingsError(f"{config_path}: no `recording:` section")
    if config.acd is None:
        raise SettingsError(
            f"{config_path}: the recorder needs an `acd:` section (its events_stream and"
            " redis_prefix)"
        )
    if config.bizdata is None:
        raise SettingsError(
            f"{config_path}: the recorder needs a `bizdata:` section (the recordings' index)"
        )
    run = (run_dir or config_path.parent / config.node.run_dir).resolve()
    nodes = media_nodes or local_media_nodes(config)
    if not nodes:
        raise SettingsError(
            f"{config_path}: no rtpengine of rtpengine.nodes is on this host; name the ones"
            " to serve with --media-node HOST:PORT"
        )
    rec = config.recording
    return RecorderSettings(
        config_path=config_path,
        run_dir=run,
        spool_dir=_under(run, rec.spool_dir),
        wav_dir=_under(run, rec.dir),
        voicemail_dir=_under(run, config.voicemail.dir),
        store_url=bizdata.store_url(config.bizdata, run),
        store_password_env=config.bizdata.password_env,
        redis=config.redis.listen,
        stream=config.acd.events_stream,
        redis_prefix=config.acd.redis_prefix,
        node=node or config.node.name,
        media_nodes=tuple(dict.fromkeys(nodes)),
        listen=rec.listen,
        retention_days=rec.retention_days,
        missing_after_ms=rec.missing_after_ms,
        min_free_mb=rec.min_free_mb,
        mixers=tuple(dict.fromkeys(local_mixers(config) if mixers is None else mixers)),
        ignore_sources=mixer_sources(config),
    )
