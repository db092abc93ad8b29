"""The dashboards' runtime file (HUAAN_DASHBOARD_CONFIG): what `callcenter up` writes and
a dashboard process reads once at its first page."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

import eventlog as ev

CONFIG_ENV = "HUAAN_DASHBOARD_CONFIG"
# monitoring.keys' defaults (configuration.MonitoringKeys), for settings written without.
DEFAULT_MONITOR_KEYS = {"listen": "4", "whisper": "5", "barge": "6", "intercept": "*"}


class DashboardSettings(BaseModel):
    """The dashboards' runtime file (HUAAN_DASHBOARD_CONFIG), written by `callcenter up`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    analytics_url: str = "http://127.0.0.1:8710"
    redis: str = "127.0.0.1:6379"
    stream: str = ev.DEFAULT_STREAM
    # acd.v1 address; empty: live view from the event log and no supervisor actions.
    acd_address: str = ""
    # The ACD's service token file (acd.token_file), for its snapshot; empty: none.
    acd_token_file: str = ""
    callcenter_config: str = "config/callcenter.yaml"
    sl_threshold_s: float = Field(20.0, gt=0)
    timezone: str = "Asia/Shanghai"
    supervisor_roles: tuple[str, ...] = ("supervisor",)
    # monitoring.keys: what the supervisor's keypad does in a monitoring session, for
    # the Supervisor page to say.
    monitor_keys: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MONITOR_KEYS))
    # Who may play recordings and put them on legal hold (docs/recording.md).
    recording_roles: tuple[str, ...] = ("supervisor", "admin")
    # The business store holding the recordings index (bizdata URL; empty: no
    # Recordings page data) and where its WAV files are (recording.dir, absolute).
    store_url: str = ""
    store_password_env: str | None = None
    recording_dir: str = ""
    # The pages' language until a user picks one (dashboards/i18n.py), and where each
    # supervisor's pick is remembered (a JSON file; empty: for the session only).
    language: Literal["zh", "en"] = "zh"
    preferences_file: str = ""
    # The wallboard's alert thresholds: service level below this percentage, a call
    # waiting longer than this, show in red.
    service_level_target_pct: float = Field(80.0, ge=0, le=100)
    longest_wait_alert_s: float = Field(60.0, gt=0)


def read_settings(path: str) -> DashboardSettings:
    """A settings file: YAML by its suffix (.yaml, .yml), JSON otherwise."""
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml  # noqa: PLC0415

        return DashboardSettings.model_validate(yaml.safe_load(text))
    return DashboardSettings.model_validate_json(text)
