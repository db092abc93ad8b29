"""How `callcenter up` runs the mixers of `monitoring.mixers` (the managed ones)."""

from __future__ import annotations

import sys
from pathlib import Path

from configuration import CallCenterConfig, MixerNode

from ._settings import mixer_name


def managed_mixers(config: CallCenterConfig) -> list[tuple[int, MixerNode]]:
    """The mixers `callcenter up` starts: (index, node) of each managed entry."""
    return [(i, node) for i, node in enumerate(config.monitoring.mixers) if node.managed]


def mixer_daemon(index: int) -> str:
    """The daemon's name (its PID and log files): mixer<index>, never a configured name
    that could be another daemon's."""
    return f"mixer{index}"


def mixer_argv(config_file: Path, index: int) -> list[str]:
    return [sys.executable, "-m", "mixer", "--config", str(config_file), "--node", str(index)]


def mixer_describe(config: CallCenterConfig, index: int) -> str:
    node = config.monitoring.mixers[index]
    return (
        f"mixer {mixer_name(config, index)} ng {node.ng}"
        f" rtp {node.interface}:{node.port_min}-{node.port_max}"
    )
