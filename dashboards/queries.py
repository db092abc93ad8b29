"""All data access of the dashboards, behind small protocols tests can replace.

- `ReportSource`: historical statistics (the CDR service's API, or a store in-process).
- `LiveSource`: the ACD's live view (agents, queues). `EventLogLive` folds the event
  log's agent.state/call events from Redis; `GrpcLive` asks acd.v1 GetSnapshot.
- `AcdCommands`: supervisor actions (ForceLogout/ForceBusy/ForceIdle over acd.v1).
- `AccountDirectory`: the shared accounts (callcenter config), for the supervisor login.

Pages call `backend()`; tests call `set_backend(...)` first. A deployment sets
HUAAN_DASHBOARD_CONFIG to a `DashboardSettings` JSON/YAML file.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import redis

import eventlog as ev
import teletraffic
from configuration import split_hostport
from dashboards._accounts import (
    AccountDirectory,
    AccountInfo,
    ConfigAccounts,
    LoginError,
    StaticAccounts,
    Supervisor,
    check_login,
)
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
from dashboards._settings import CONFIG_ENV, DashboardSettings, read_settings

__all__ = [
    "CONFIG_ENV", "AccountDirectory", "AccountInfo", "AcdCommands", "AgentLive",
    "CommandResult", "ConfigAccounts", "DashboardSettings", "EventLogLive", "GrpcAcdCommands",
    "GrpcLive", "GrpcLiveStream", "LiveSnapshot", "LiveSource", "LoginError", "QueueLive",
    "ReportSource", "ServiceReports", "StaticAccounts", "StoreReports", "Supervisor",
]

REFRESH_S = 2.0
AGENT_COLUMNS = ["agent", "seat", "state", "time_in_state_s", "reason"]
# The states whose reason the wallboard shows: a reason says why an agent is not ready.
# The ACD keeps the last one on an agent that became ready again (LOGIN, NO_ANSWER,
# READY on an idle agent), which would read as if the agent were still away.
NOT_READY_STATES = frozenset({ev.STATE_BUSY})
QUEUE_COLUMNS = ["queue", "waiting", "longest_wait_s"]


# -- wiring -----------------------------------------------------------------------------


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


def backend_from_settings(settings: DashboardSettings) -> Backend:
    host, port = split_hostport(settings.redis)
    client = redis.Redis(host=host, port=port, socket_timeout=2.0,
                         socket_connect_timeout=2.0)
    live: LiveSource = EventLogLive(client, stream=settings.stream)
    commands: AcdCommands | None = None
    if settings.acd_address:
        from acd_client import read_token  # noqa: PLC0415

        token = read_token(settings.acd_token_file) if settings.acd_token_file else None
        live = GrpcLiveStream(settings.acd_address, token=token)
        commands = GrpcAcdCommands(settings.acd_address, token=token)
    return Backend(
        reports=ServiceReports(settings.analytics_url),
        live=live,
        accounts=ConfigAccounts(settings.callcenter_config),
        commands=commands,
        sl_threshold_s=settings.sl_threshold_s,
        timezone=settings.timezone,
        supervisor_roles=settings.supervisor_roles,
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


# -- what the pages show ---------------------------------------------------------------


def day_start(b: Backend, day: date | None = None) -> datetime:
    tz = ZoneInfo(b.timezone)
    d = day or datetime.fromtimestamp(b.clock(), tz).date()
    return datetime(d.year, d.month, d.day, tzinfo=tz)


@dataclass(frozen=True)
class Wallboard:
    agents: pd.DataFrame
    queues: pd.DataFrame
    sl: float
    abandon_rate: float
    offered: int
    answered: int
    source: str
    problems: tuple[str, ...] = ()


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def wallboard(b: Backend) -> Wallboard:
    """Live agents and queues plus today's SL and abandon rate (per queue and total)."""
    problems: list[str] = []
    try:
        snap = b.live.snapshot()
    except Exception as exc:  # show the rest of the board with the reason
        problems.append(f"live view unavailable: {exc}")
        snap = LiveSnapshot(b.clock(), (), (), "none")
    agents = pd.DataFrame(
        [{"agent": a.agent, "seat": a.seat, "state": a.state,
          "time_in_state_s": round(max(0.0, snap.ts - a.since), 1),
          "reason": a.reason if a.state in NOT_READY_STATES else ""}
         for a in snap.agents], columns=AGENT_COLUMNS)
    queues = pd.DataFrame(
        [{"queue": q.queue, "waiting": q.waiting, "longest_wait_s": round(q.longest_wait_s, 1)}
         for q in snap.queues], columns=QUEUE_COLUMNS)
    try:
        today = b.reports.report("queue_summary", threshold_s=b.sl_threshold_s,
                                 start=day_start(b).timestamp())
    except Exception as exc:
        problems.append(f"statistics unavailable: {exc}")
        today = pd.DataFrame(columns=["queue", "offered", "answered", "abandoned",
                                      "answered_within"])
    per_queue = today[["queue", "offered", "answered", "abandoned", "answered_within"]].copy()
    per_queue["sl_today"] = [
        _ratio(w, a) for w, a in zip(per_queue["answered_within"], per_queue["answered"],
                                     strict=True)]
    per_queue["abandon_rate_today"] = [
        _ratio(x, o) for x, o in zip(per_queue["abandoned"], per_queue["offered"], strict=True)]
    queues = queues.merge(per_queue[["queue", "offered", "sl_today", "abandon_rate_today"]],
                          on="queue", how="outer").fillna({"waiting": 0, "longest_wait_s": 0.0})
    offered = int(today["offered"].sum()) if len(today) else 0
    answered = int(today["answered"].sum()) if len(today) else 0
    return Wallboard(
        agents=agents,
        queues=queues.sort_values("queue").reset_index(drop=True),
        sl=_ratio(float(today["answered_within"].sum()) if len(today) else 0.0, answered),
        abandon_rate=_ratio(float(today["abandoned"].sum()) if len(today) else 0.0, offered),
        offered=offered,
        answered=answered,
        source=snap.source,
        problems=tuple(problems),
    )


def date_range(b: Backend, first: date, last: date) -> tuple[float, float]:
    """[first 00:00, last+1 00:00) in the call center's time zone, as epoch seconds."""
    return day_start(b, first).timestamp(), (day_start(b, last + timedelta(days=1))).timestamp()


def history(b: Backend, first: date, last: date, *, queues: list[str] | None = None,
            agents: list[str] | None = None, interval_minutes: int = 60
            ) -> dict[str, pd.DataFrame]:
    start, end = date_range(b, first, last)
    return {
        "summary": b.reports.report("queue_summary", threshold_s=b.sl_threshold_s,
                                    start=start, end=end, queues=queues or None),
        "intervals": b.reports.report("queue_summary", threshold_s=b.sl_threshold_s,
                                      start=start, end=end, queues=queues or None,
                                      interval_minutes=interval_minutes),
        "agents": b.reports.report("agent_summary", start=start, end=end,
                                   agents=agents or None),
        "cdrs": b.reports.report("cdr_list", start=start, end=end, queues=queues or None,
                                 agents=agents or None),
    }


def _is_sequence(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV for the export button: UTF-8 with BOM so Excel shows Chinese text right."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + "Z"
        elif out[col].map(_is_sequence).any():
            # Array columns (ivr_path) would otherwise print as numpy's "['a' 'b']".
            out[col] = out[col].map(lambda v: " > ".join(map(str, v)) if _is_sequence(v) else v)
    text: str = out.to_csv(index=False)
    return ("\ufeff" + text).encode("utf-8")


def staffing_table(calls: float, interval_s: float, aht_s: float, target_s: float,
                   goal: float, *, span: int = 6) -> tuple[int, pd.DataFrame]:
    """Erlang C: agents needed for `goal` SL within `target_s`, and the table around it."""
    traffic = teletraffic.offered_load(calls, interval_s, aht_s)
    needed = teletraffic.agents_for_service_level(traffic, aht_s, target_s, goal)
    lo = max(1, math.floor(traffic) + 1, needed - span // 2)
    rows = []
    for n in range(lo, lo + span + 1):
        p = teletraffic.staffing(traffic, n, aht_s, target_s)
        rows.append({"agents": n, "service_level": p.service_level, "p_wait": p.p_wait,
                     "asa_s": p.asa, "occupancy": p.occupancy,
                     "meets_goal": p.service_level >= goal})
    return needed, pd.DataFrame(rows)


def forecast_from_history(b: Backend, queue: str | None, days: int = 7,
                          interval_minutes: int = 30) -> tuple[float, float]:
    """Mean offered calls per busy interval and mean AHT over the last `days` days."""
    end = day_start(b).timestamp() + 86400
    start = end - days * 86400
    df = b.reports.report("queue_summary", threshold_s=b.sl_threshold_s, start=start, end=end,
                          queues=[queue] if queue else None, interval_minutes=interval_minutes)
    if df.empty:
        return 0.0, 180.0
    aht = df["aht_s"].dropna()
    return float(df["offered"].mean()), float(aht.mean()) if len(aht) else 180.0


def authenticate(b: Backend, username: str, password: str) -> Supervisor:
    """A supervisor for the actions page, checked against the backend's accounts and
    supervisor roles; LoginError (see `check_login`) otherwise."""
    return check_login(b.accounts, b.supervisor_roles, username, password)


def now_utc(b: Backend) -> datetime:
    return datetime.fromtimestamp(b.clock(), UTC)
