"""A mixer node's settings: its `monitoring.mixers[index]` entry, the monitoring
section's `jitter_frames` and rtpengine's `rtp_timeout_s` (docs/monitoring.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from configuration import CallCenterConfig, load_config, split_hostport

_WILDCARDS = ("0.0.0.0", "::", "[::]")


class SettingsError(ValueError):
    """A config the mixer cannot run on; the message names the file and what is wrong."""


@dataclass(frozen=True)
class MixerSettings:
    name: str  # in logs; the controller names it in events
    ng_host: str
    ng_port: int
    interface: str  # RTP sockets bind here and the SDP names it
    port_min: int
    port_max: int
    jitter_frames: int  # the most cushion (frames) an input's playout may add
    idle_timeout_s: float  # a conference without packets for this long is forgotten

    @property
    def ng(self) -> str:
        return f"{self.ng_host}:{self.ng_port}"


def mixer_name(config: CallCenterConfig, index: int) -> str:
    name = config.monitoring.mixers[index].name
    return name if name is not None else f"mixer{index}"


def settings_for(
    config: CallCenterConfig,
    index: int,
    *,
    source: str = "the config",
    idle_timeout_s: float | None = None,
) -> MixerSettings:
    mixers = config.monitoring.mixers
    if not 0 <= index < len(mixers):
        raise SettingsError(
            f"{source}: no monitoring.mixers[{index}] (the config lists {len(mixers)} mixers)"
        )
    node = mixers[index]
    if node.interface in _WILDCARDS:
        # The SDP answer names it: 0.0.0.0 there would read as "hold" (RFC 2543).
        raise SettingsError(
            f"{source}: monitoring.mixers[{index}].interface {node.interface} is a wildcard;"
            " give the address the mixer's peers (rtpengine) send to"
        )
    host, port = split_hostport(node.ng)
    return MixerSettings(
        name=mixer_name(config, index),
        ng_host=host,
        ng_port=port,
        interface=node.interface,
        port_min=node.port_min,
        port_max=node.port_max,
        jitter_frames=config.monitoring.jitter_frames,
        idle_timeout_s=(
            idle_timeout_s if idle_timeout_s is not None else float(config.rtpengine.rtp_timeout_s)
        ),
    )


def settings_from_config(
    config_path: Path, index: int, *, idle_timeout_s: float | None = None
) -> MixerSettings:
    """Raises `configuration.ConfigError` for a bad file, `SettingsError` for a missing node."""
    config = load_config(config_path)
    return settings_for(config, index, source=str(config_path), idle_timeout_s=idle_timeout_s)
