"""The sources one dashboard process reads, wired from its settings, and the process's
one backend (`backend()`; tests put their own with `set_backend`)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import redis

from configuration import split_hostport
from dashboards._accounts import AccountDirectory, ConfigAccounts
from dashboards._commands import AcdCommands, GrpcAcdCommands
from dashboards._format import LANGUAGES
from dashboards._live import EventLogLive, GrpcLiveStream, LiveSource
from dashboards._preferences import LanguagePreferences
from dashboards._recordings import RecordingIndex
from dashboards._reports import ReportSource, ServiceReports
from dashboards._settings import (
    CONFIG_ENV,
    DEFAULT_MONITOR_KEYS,
    DashboardSettings,
    read_settings,
)


@dataclass
class Backend:
    reports: ReportSource
    live: LiveSource
    accounts: AccountDirectory
    commands: AcdCommands | None = None
    sl_threshold_s: float = 20.0
    timezone: str = "Asia/Shanghai"
    supervisor_roles: tuple[str, ...] = ("supervisor",)
    clock: Callable[[], float] = time.time
    # The recordings index and files; None: the call center records nothing here.
    recordings: RecordingIndex | None = None
    recording_roles: tuple[str, ...] = ("supervisor", "admin")
    # The supervisor's keypad in a monitoring session (monitoring.keys): mode -> key.
    monitor_keys: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MONITOR_KEYS))
    # The language of a session until its user picks one, and where each supervisor's
    # pick is remembered (None: for the session only).
    language: str = "zh"
    preferences: LanguagePreferences | None = None
    # The wallboard's alert thresholds (DashboardSettings).
    service_level_target_pct: float = 80.0
    longest_wait_alert_s: float = 60.0


def backend_from_settings(settings: DashboardSettings) -> Backend:
    host, port = split_hostport(settings.redis)
    client = redis.Redis(host=host, port=port, socket_timeout=2.0, socket_connect_timeout=2.0)
    live: LiveSource = EventLogLive(client, stream=settings.stream)
    commands: AcdCommands | None = None
    if settings.acd_address:
        from acd_client import read_token  # noqa: PLC0415

        token = read_token(settings.acd_token_file) if settings.acd_token_file else None
        live = GrpcLiveStream(settings.acd_address, token=token)
        commands = GrpcAcdCommands(settings.acd_address, token=token)
    recordings = None
    if settings.store_url and settings.recording_dir:
        recordings = RecordingIndex(
            settings.store_url, settings.recording_dir, password_env=settings.store_password_env
        )
    return Backend(
        recordings=recordings,
        recording_roles=settings.recording_roles,
        reports=ServiceReports(settings.analytics_url),
        live=live,
        accounts=ConfigAccounts(settings.callcenter_config),
        commands=commands,
        sl_threshold_s=settings.sl_threshold_s,
        timezone=settings.timezone,
        supervisor_roles=settings.supervisor_roles,
        monitor_keys=settings.monitor_keys,
        language=settings.language,
        preferences=LanguagePreferences(settings.preferences_file, LANGUAGES)
        if settings.preferences_file
        else None,
        service_level_target_pct=settings.service_level_target_pct,
        longest_wait_alert_s=settings.longest_wait_alert_s,
    )


_backend: Backend | None = None
_backend_lock = threading.Lock()


def set_backend(b: Backend | None) -> None:
    global _backend  # noqa: PLW0603  (one backend per dashboard process)
    with _backend_lock:
        _backend = b


def backend() -> Backend:
    global _backend  # noqa: PLW0603
    with _backend_lock:
        if _backend is None:
            path = os.environ.get(CONFIG_ENV)
            if not path:
                raise RuntimeError(f"set {CONFIG_ENV} to a DashboardSettings file")
            _backend = backend_from_settings(read_settings(path))
        return _backend
