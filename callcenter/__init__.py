"""The call center's local runtime: config, process supervision and the CLI."""

from callcenter._config import CallCenterConfig, ConfigError, load_config, parse_config
from callcenter._paths import RunLayout
from callcenter._stack import StackError, acd_token, down, layout_for, status, up

__all__ = [
    "CallCenterConfig",
    "ConfigError",
    "RunLayout",
    "StackError",
    "acd_token",
    "down",
    "layout_for",
    "load_config",
    "parse_config",
    "status",
    "up",
]
