"""The dashboards' one face: every page and test imports from here, nothing else.

It holds what the pages ask of a `Backend` (the board, the reports, a forecast, the
login) and names, from the modules beside it, the types and tables they use:

- `_live`: `LiveSource`, the ACD's live view (agents, queues). `EventLogLive` folds the
  event log's agent.state/call events from Redis; `GrpcLive` asks acd.v1 GetSnapshot,
  `GrpcLiveStream` holds WatchSnapshot open.
- `_reports`: `ReportSource`, historical statistics (the CDR service's API, or a store
  in-process).
- `_commands`: `AcdCommands`, supervisor actions (ForceLogout/ForceBusy/ForceIdle,
  Intercept over acd.v1).
- `_accounts`: `AccountDirectory`, the shared accounts (callcenter config), for the
  supervisor login.
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
from dashboards._commands import AcdCommands, CommandResult, GrpcAcdCommands
from dashboards._live import (
    AgentLive,
    EventLogLive,
    GrpcLive,
    GrpcLiveStream,
    LiveSnapshot,
    LiveSource,
    QueueLive,
)
from dashboards._reports import ReportSource, ServiceReports, StoreReports
from dashboards._settings import CONFIG_ENV, DashboardSettings
from dashboards._views import (
    AGENT_COLUMNS,
    IVR_CONTAINMENT_COLUMNS,
    IVR_DROPOFF_COLUMNS,
    NOT_READY_STATES,
    QUEUE_COLUMNS,
    REFRESH_S,
    TODAY_COLUMNS,
    IvrView,
    Wallboard,
    csv_bytes,
    forecast,
    ivr_view,
    staffing_table,
    wallboard_view,
)

__all__ = [
    "AGENT_COLUMNS",
    "CONFIG_ENV",
    "IVR_CONTAINMENT_COLUMNS",
    "IVR_DROPOFF_COLUMNS",
    "NOT_READY_STATES",
    "QUEUE_COLUMNS",
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
    "QueueLive",
    "ReportSource",
    "ServiceReports",
    "StaticAccounts",
    "StoreReports",
    "Supervisor",
    "Wallboard",
    "authenticate",
    "backend",
    "backend_from_settings",
    "csv_bytes",
    "date_range",
    "day_start",
    "forecast_from_history",
    "history",
    "ivr_history",
    "ivr_view",
    "now_utc",
    "set_backend",
    "staffing_table",
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


def wallboard(b: Backend) -> Wallboard:
    """Live agents and queues plus today's SL and abandon rate (per queue and total).
    A source that fails leaves its part empty and says why in `problems`."""
    problems: list[str] = []
    try:
        snap = b.live.snapshot()
    except Exception as exc:  # show the rest of the board with the reason
        problems.append(f"live view unavailable: {exc}")
        snap = LiveSnapshot(b.clock(), (), (), "none")
    try:
        today = b.reports.report(
            "queue_summary", threshold_s=b.sl_threshold_s, start=day_start(b).timestamp()
        )
    except Exception as exc:
        problems.append(f"statistics unavailable: {exc}")
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
