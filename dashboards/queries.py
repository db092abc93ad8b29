"""The dashboards' one face: every page and test imports from here, nothing else.

It holds what the pages ask of a `Backend` (the board, the reports, a forecast, the
login) and names, from the modules beside it, the types and tables they use:

- `_live`: `LiveSource`, the ACD's live view (agents, queues, monitoring sessions).
  `EventLogLive` folds the event log's agent.state/call/monitor events from Redis;
  `GrpcLive` asks acd.v1 GetSnapshot, `GrpcLiveStream` holds WatchSnapshot open.
- `_reports`: `ReportSource`, historical statistics (the CDR service's API, or a store
  in-process).
- `_commands`: `AcdCommands`, supervisor actions (ForceLogout/ForceBusy/ForceIdle,
  Intercept, Monitor/SwitchMonitor/StopMonitor over acd.v1).
- `_accounts`: `AccountDirectory`, the shared accounts (callcenter config), for the
  supervisor login.
- `_recordings`: `RecordingIndex`, the recordings index (business store) and the WAV
  files under recording.dir, for the Recordings page.
- `_settings`: `DashboardSettings`, the runtime file; `_backend`: the sources wired from
  it.
- `_views`: the tables, shaped by pure functions of what the sources returned.

Pages call `backend()`; tests call `set_backend(...)` first. A deployment sets
HUAAN_DASHBOARD_CONFIG to a `DashboardSettings` JSON/YAML file.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd  # type: ignore[import-untyped]

from dashboards._accounts import (
    AccountDirectory,
    AccountInfo,
    ConfigAccounts,
    LoginError,
    StaticAccounts,
    Supervisor,
    check_login,
)
from dashboards._backend import Backend, backend, backend_from_settings, set_backend
from dashboards._commands import (
    MONITOR_START_MODES,
    MONITOR_SWITCH_MODES,
    AcdCommands,
    CommandResult,
    GrpcAcdCommands,
    voicemail_row,
)
from dashboards._live import (
    AgentLive,
    EventLogLive,
    GrpcLive,
    GrpcLiveStream,
    LiveSnapshot,
    LiveSource,
    MonitorLive,
    QueueLive,
)
from dashboards._recordings import RecordingFileMissing, RecordingIndex
from dashboards._reports import ReportSource, ServiceReports, StoreReports
from dashboards._settings import CONFIG_ENV, DashboardSettings
from dashboards._views import (
    ACCESS_LOG_COLUMNS,
    AGENT_COLUMNS,
    IVR_CONTAINMENT_COLUMNS,
    IVR_DROPOFF_COLUMNS,
    MONITOR_COLUMNS,
    MONITOR_REPORT_COLUMNS,
    NOT_READY_STATES,
    QUEUE_COLUMNS,
    RECORDING_COLUMNS,
    REFRESH_S,
    TODAY_COLUMNS,
    IvrView,
    Wallboard,
    access_log_view,
    csv_bytes,
    forecast,
    ivr_view,
    monitor_report_view,
    monitors_view,
    pauses_text,
    recordings_view,
    staffing_table,
    wallboard_view,
)

__all__ = [
    "ACCESS_LOG_COLUMNS",
    "AGENT_COLUMNS",
    "CONFIG_ENV",
    "IVR_CONTAINMENT_COLUMNS",
    "IVR_DROPOFF_COLUMNS",
    "MONITOR_COLUMNS",
    "MONITOR_REPORT_COLUMNS",
    "MONITOR_START_MODES",
    "MONITOR_SWITCH_MODES",
    "NOT_READY_STATES",
    "QUEUE_COLUMNS",
    "RECORDING_COLUMNS",
    "REFRESH_S",
    "AccountDirectory",
    "AccountInfo",
    "AcdCommands",
    "AgentLive",
    "Backend",
    "CommandResult",
    "ConfigAccounts",
    "DashboardSettings",
    "EventLogLive",
    "GrpcAcdCommands",
    "GrpcLive",
    "GrpcLiveStream",
    "IvrView",
    "LiveSnapshot",
    "LiveSource",
    "LoginError",
    "MonitorLive",
    "QueueLive",
    "RecordingFileMissing",
    "RecordingIndex",
    "RecordingRefused",
    "ReportSource",
    "ServiceReports",
    "StaticAccounts",
    "StoreReports",
    "Supervisor",
    "Wallboard",
    "access_log_view",
    "authenticate",
    "authenticate_for_recordings",
    "backend",
    "backend_from_settings",
    "csv_bytes",
    "date_range",
    "day_start",
    "forecast_from_history",
    "history",
    "ivr_history",
    "ivr_view",
    "live_board",
    "monitor_report_view",
    "monitoring_history",
    "monitors_view",
    "now_utc",
    "pauses_text",
    "play_recording",
    "recording_access_log",
    "recordings_view",
    "search_recordings",
    "set_backend",
    "set_legal_hold",
    "staffing_table",
    "voicemail_row",
    "wallboard",
]


def day_start(b: Backend, day: date | None = None) -> datetime:
    tz = ZoneInfo(b.timezone)
    d = day or datetime.fromtimestamp(b.clock(), tz).date()
    return datetime(d.year, d.month, d.day, tzinfo=tz)


def date_range(b: Backend, first: date, last: date) -> tuple[float, float]:
    """[first 00:00, last+1 00:00) in the call center's time zone, as epoch seconds."""
    return day_start(b, first).timestamp(), (day_start(b, last + timedelta(days=1))).timestamp()


def now_utc(b: Backend) -> datetime:
    return datetime.fromtimestamp(b.clock(), UTC)


def _live_snapshot(b: Backend, problems: list[tuple[str, str]]) -> LiveSnapshot:
    try:
        return b.live.snapshot()
    except Exception as exc:  # show the rest of the board with the reason
        problems.append(("live_unavailable", str(exc)))
        return LiveSnapshot(b.clock(), (), (), "none")


def live_board(b: Backend) -> Wallboard:
    """The live part of the wallboard alone (agents, queues, monitoring sessions), no
    statistics asked: for the Supervisor page, which refreshes its sessions often."""
    problems: list[tuple[str, str]] = []
    snap = _live_snapshot(b, problems)
    return wallboard_view(snap, pd.DataFrame(columns=TODAY_COLUMNS), problems)


def wallboard(b: Backend) -> Wallboard:
    """Live agents, queues and monitoring sessions plus today's SL and abandon rate (per
    queue and total). A source that fails leaves its part empty and says why in
    `problems` ("live_unavailable" or "stats_unavailable", the error)."""
    problems: list[tuple[str, str]] = []
    snap = _live_snapshot(b, problems)
    try:
        today = b.reports.report(
            "queue_summary", threshold_s=b.sl_threshold_s, start=day_start(b).timestamp()
        )
    except Exception as exc:
        problems.append(("stats_unavailable", str(exc)))
        today = pd.DataFrame(columns=TODAY_COLUMNS)
    return wallboard_view(snap, today, problems)


def history(
    b: Backend,
    first: date,
    last: date,
    *,
    queues: list[str] | None = None,
    agents: list[str] | None = None,
    interval_minutes: int = 60,
) -> dict[str, pd.DataFrame]:
    start, end = date_range(b, first, last)
    return {
        "summary": b.reports.report(
            "queue_summary",
            threshold_s=b.sl_threshold_s,
            start=start,
            end=end,
            queues=queues or None,
        ),
        "intervals": b.reports.report(
            "queue_summary",
            threshold_s=b.sl_threshold_s,
            start=start,
            end=end,
            queues=queues or None,
            interval_minutes=interval_minutes,
        ),
        "agents": b.reports.report("agent_summary", start=start, end=end, agents=agents or None),
        "cdrs": b.reports.report(
            "cdr_list", start=start, end=end, queues=queues or None, agents=agents or None
        ),
    }


def ivr_history(b: Backend, first: date, last: date) -> IvrView:
    """What callers did in the IVR over the calls arrived in the date range: the
    containment per dialled number and flow, and the drop-off per node."""
    start, end = date_range(b, first, last)
    return ivr_view(
        b.reports.report("ivr_containment", start=start, end=end),
        b.reports.report("ivr_dropoff", start=start, end=end),
    )


def monitoring_history(b: Backend, first: date, last: date) -> dict[str, pd.DataFrame]:
    """Supervisors' monitoring sessions started in the date range, per supervisor and
    per agent: sessions, answered, total and mean time, time per mode, switches,
    intercepts, recorded ones."""
    start, end = date_range(b, first, last)
    return {
        by: monitor_report_view(
            b.reports.report("monitor_summary", by=by, start=start, end=end), by
        )
        for by in ("supervisor", "agent")
    }


def forecast_from_history(
    b: Backend, queue: str | None, days: int = 7, interval_minutes: int = 30
) -> tuple[float, float]:
    """Mean offered calls per busy interval and mean AHT over the last `days` days."""
    end = day_start(b).timestamp() + 86400
    start = end - days * 86400
    return forecast(
        b.reports.report(
            "queue_summary",
            threshold_s=b.sl_threshold_s,
            start=start,
            end=end,
            queues=[queue] if queue else None,
            interval_minutes=interval_minutes,
        )
    )


def authenticate(b: Backend, username: str, password: str) -> Supervisor:
    """A supervisor for the actions page, checked against the backend's accounts and
    supervisor roles; LoginError (see `check_login`) otherwise."""
    return check_login(b.accounts, b.supervisor_roles, username, password)


def authenticate_for_recordings(b: Backend, username: str, password: str) -> Supervisor:
    """A viewer for the Recordings page: an account with one of `b.recording_roles`
    (supervisor or admin); LoginError otherwise."""
    return check_login(b.accounts, b.recording_roles, username, password)


class RecordingRefused(Exception):
    """The viewer may not do this with recordings (role), or there is no index.
    `reason`: "not_configured", or the LoginError's ("invalid", "no_role");
    `username`: the viewer's."""

    def __init__(self, message: str, reason: str = "not_configured", username: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.username = username


def _recordings(b: Backend) -> RecordingIndex:
    if b.recordings is None:
        raise RecordingRefused("recordings are not configured (no recording: or bizdata:)")
    return b.recordings


def _check_viewer(b: Backend, who: Supervisor) -> None:
    """The viewer's account, checked again now as the Supervisor page's login checks it
    (password and role, from the accounts as they are now): a role taken away since the
    login, or a page tampered with, plays nothing."""
    try:
        check_login(b.accounts, b.recording_roles, who.username, who.password)
    except LoginError as exc:
        raise RecordingRefused(str(exc), exc.reason, exc.username) from None


def search_recordings(
    b: Backend,
    *,
    call_id: str = "",
    agent: str = "",
    number: str = "",
    first: date | None = None,
    last: date | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """Recordings by call ID, agent, number (caller or dialled) and started date range
    (in the call center's time zone), newest first, as the page's table."""
    since = until = None
    if first is not None and last is not None:
        start, end = date_range(b, first, last)
        since, until = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    rows = _recordings(b).search(
        call_id=call_id.strip() or None,
        agent=agent.strip() or None,
        number=number.strip() or None,
        since=since,
        until=until,
        limit=limit,
    )
    return recordings_view(rows)


def play_recording(b: Backend, who: Supervisor, ref: str) -> bytes:
    """The recording's WAV for the page's player: the viewer's role checked first, then
    the access logged (action play) for this playback, then the bytes. A refusal logs
    nothing; RecordingFileMissing when there is no file to play."""
    _check_viewer(b, who)
    index = _recordings(b)
    wav = index.wav(index.get(ref))
    index.log_access(ref, actor=who.username, action="play")
    return wav


def set_legal_hold(b: Backend, who: Supervisor, ref: str, hold: bool) -> dict[str, object]:
    """Put a recording on legal hold (retention keeps it) or release it; the store logs
    it as hold / release with the viewer as actor, in the same transaction."""
    _check_viewer(b, who)
    return _recordings(b).set_legal_hold(ref, hold=hold, by=who.username)


def recording_access_log(b: Backend, ref: str | None = None, limit: int = 200) -> pd.DataFrame:
    """Who played, held, released or deleted which recording, newest first."""
    return access_log_view(_recordings(b).access_log(ref=ref or None, limit=limit))
