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

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import redis
from pydantic import BaseModel, ConfigDict, Field

import eventlog as ev
import teletraffic
from analytics import CdrStore, ServiceClient, Statistics
from configuration import load_config, split_hostport
from identity import verify_password

log = logging.getLogger(__name__)

REFRESH_S = 2.0
CONFIG_ENV = "HUAAN_DASHBOARD_CONFIG"
AGENT_COLUMNS = ["agent", "seat", "state", "time_in_state_s", "reason"]
# The states whose reason the wallboard shows: a reason says why an agent is not ready.
# The ACD keeps the last one on an agent that became ready again (LOGIN, NO_ANSWER,
# READY on an idle agent), which would read as if the agent were still away.
NOT_READY_STATES = frozenset({ev.STATE_BUSY})
QUEUE_COLUMNS = ["queue", "waiting", "longest_wait_s"]

# -- sources --------------------------------------------------------------------------


class ReportSource(Protocol):
    def report(self, method: str, **params: Any) -> pd.DataFrame:
        """Run a `Statistics` method by name (see analytics.Statistics.METHODS)."""
        ...


class StoreReports:
    """Reports straight from a store in this process (tests; a ClickHouse server)."""

    def __init__(self, store: CdrStore) -> None:
        self._stats = Statistics(store)

    def report(self, method: str, **params: Any) -> pd.DataFrame:
        return self._stats.run(method, **params)


class ServiceReports:
    """Reports from the CDR service (the chDB owner) over its loopback API."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self._client = ServiceClient(url, timeout=timeout)

    def report(self, method: str, **params: Any) -> pd.DataFrame:
        return self._client.report(method, **params)


@dataclass(frozen=True, slots=True)
class AgentLive:
    agent: str
    seat: str
    state: str
    since: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class QueueLive:
    queue: str
    waiting: int
    longest_wait_s: float


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    ts: float
    agents: tuple[AgentLive, ...]
    queues: tuple[QueueLive, ...]
    source: str


class LiveSource(Protocol):
    def snapshot(self) -> LiveSnapshot: ...


class EventLogLive:
    """The live view folded from the event log (works without the ACD API).

    Reads the stream incrementally (XRANGE after the last id seen); the first read
    starts `lookback_s` back, so agents logged in longer ago than that are missed
    until their next state change. A call waits from its `call.queued` until it is
    answered, ends, overflows away or goes to voicemail.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = ev.DEFAULT_STREAM,
        lookback_s: float = 12 * 3600,
        clock: Callable[[], float] = time.time,
        page: int = 5000,
    ) -> None:
        self._client = client
        self._stream = stream
        self._clock = clock
        self._page = page
        self._last = f"{int(max(0.0, clock() - lookback_s) * 1000)}-0"
        self._agents: dict[str, AgentLive] = {}
        self._waiting: dict[str, tuple[str, float]] = {}
        self._queues: set[str] = set()
        self._lock = threading.Lock()

    def _fold(self, event: ev.Event) -> None:
        kind, cid = event.kind, event.correlation_id
        if kind == ev.AGENT_STATE:
            name = event["agent"]
            if event["state"] == ev.STATE_LOGGED_OUT:
                self._agents.pop(name, None)
            else:
                self._agents[name] = AgentLive(
                    name, event["seat"], event["state"], event.ts, event["reason"])
        elif kind == ev.CALL_QUEUED:
            self._queues.add(event["queue"])
            self._waiting[cid] = (event["queue"], event.ts)
        elif kind in (ev.CALL_ANSWERED, ev.CALL_ENDED, ev.CALL_VOICEMAIL, ev.CALL_OVERFLOW):
            self._waiting.pop(cid, None)

    def refresh(self) -> None:
        with self._lock:
            start = self._last
            while True:
                entries: Any = self._client.xrange(
                    self._stream, min=start, max="+", count=self._page)
                for entry_id, fields in entries:
                    eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    self._last = "(" + eid
                    try:
                        self._fold(ev.decode(fields, entry_id=eid))
                    except ev.EventError:
                        continue  # the collector dead-letters it; the wallboard skips it
                if len(entries) < self._page:
                    break
                start = self._last

    def snapshot(self) -> LiveSnapshot:
        self.refresh()
        now = self._clock()
        with self._lock:
            per_queue: dict[str, list[float]] = {q: [] for q in self._queues}
            for queue, since in self._waiting.values():
                per_queue.setdefault(queue, []).append(now - since)
            queues = tuple(
                QueueLive(q, len(w), max(w) if w else 0.0) for q, w in sorted(per_queue.items())
            )
            agents = tuple(sorted(self._agents.values(), key=lambda a: a.agent))
        return LiveSnapshot(now, agents, queues, "event log")


_ACD_STATES = {0: "unknown", 1: "logged_out", 2: "idle", 3: "reserved", 4: "talking",
               5: "wrap_up", 6: "busy"}


class GrpcLive:
    """The ACD's own snapshot over acd.v1 GetSnapshot (authoritative when deployed)."""

    def __init__(self, address: str, *, timeout: float = 1.0, token: str | None = None) -> None:
        from acd_api.v1 import acd_pb2, acd_pb2_grpc  # noqa: PLC0415  (optional at import time)
        from acd_client import service_channel  # noqa: PLC0415

        self._pb = acd_pb2
        self._channel = service_channel(address, token)
        self._stub = acd_pb2_grpc.AcdServiceStub(self._channel)
        self._timeout = timeout

    def snapshot(self) -> LiveSnapshot:
        reply = self._stub.GetSnapshot(self._pb.GetSnapshotRequest(), timeout=self._timeout)
        return _live_snapshot(reply.snapshot)


def _live_snapshot(snap: Any) -> LiveSnapshot:
    """An acd.v1 Snapshot as the wallboard shows it."""
    now = snap.ts or time.time()
    agents = tuple(
        # Named by account, as the event log names agents (EventLogLive agrees).
        AgentLive(a.username or str(a.employee_id), str(a.seat),
                  _ACD_STATES.get(a.state, str(a.state)),
                  now - a.time_in_state_seconds, a.reason)
        for a in snap.agents if a.state != 1
    )
    queues = tuple(QueueLive(q.name, q.waiting, q.longest_wait_seconds) for q in snap.queues)
    return LiveSnapshot(now, agents, queues, f"ACD {snap.node}".strip())


class GrpcLiveStream(GrpcLive):
    """The ACD's live stream (acd.v1 WatchSnapshot), for the wallboard.

    One background subscription per dashboard server, however many supervisors
    watch: the ACD pushes a snapshot on every change (at most every `max_interval_s`
    without one), and each page refresh reads the latest from memory instead of
    asking the ACD. The stream reconnects (to any replica) after an error. A snapshot
    older than `stale_s` (stream down) is not shown as live: `snapshot()` then asks
    GetSnapshot once (`GrpcLive.snapshot`), and raises if the ACD does not answer, so
    the wallboard says the live view is unavailable rather than show old states.
    """

    def __init__(self, address: str, *, token: str | None = None,
                 max_interval_s: float = 1.0, stale_s: float = 3.0) -> None:
        super().__init__(address, token=token)
        self._max_interval_s = max_interval_s
        self._stale_s = stale_s
        self._latest: tuple[float, LiveSnapshot] | None = None  # (monotonic, snapshot)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._call: Any = None
        self.reconnects = 0
        self._thread = threading.Thread(target=self._run, name="acd-watch-snapshot",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._call = self._stub.WatchSnapshot(self._pb.WatchSnapshotRequest(
                    max_interval_seconds=self._max_interval_s))
                for reply in self._call:
                    with self._lock:
                        self._latest = (time.monotonic(), _live_snapshot(reply.snapshot))
                    backoff = 0.1
            except Exception:  # any stream failure: reconnect
                log.debug("WatchSnapshot ended; reconnecting", exc_info=True)
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 2.0)
            self.reconnects += 1

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            latest = self._latest
        if latest is not None and time.monotonic() - latest[0] <= self._stale_s:
            return latest[1]
        return super().snapshot()

    def close(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(timeout=2)


@dataclass(frozen=True, slots=True)
class Supervisor:
    """A logged-in supervisor. The password stays in this server-side session only:
    acd.v1 Force* requests carry AdminCredentials as the actor."""

    username: str
    password: str = field(repr=False)
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    message: str


class AcdCommands(Protocol):
    def force_logout(self, agent: str, actor: Supervisor) -> CommandResult: ...
    def force_busy(self, agent: str, reason: str, actor: Supervisor) -> CommandResult: ...
    def force_idle(self, agent: str, actor: Supervisor) -> CommandResult: ...
    def intercept(self, agent: str, supervisor: str, actor: Supervisor) -> CommandResult: ...


class GrpcAcdCommands:
    """Supervisor commands over acd.v1 (ForceLogout/ForceBusy/ForceIdle, Intercept)."""

    def __init__(self, address: str, *, timeout: float = 2.0, token: str | None = None) -> None:
        import grpc  # noqa: PLC0415

        from acd_api.v1 import acd_pb2, acd_pb2_grpc  # noqa: PLC0415
        from acd_client import service_channel  # noqa: PLC0415

        self._pb = acd_pb2
        self._grpc = grpc
        # GetSnapshot (to map account to employee ID) needs the service token.
        self._channel = service_channel(address, token)
        self._stub = acd_pb2_grpc.AcdServiceStub(self._channel)
        self._timeout = timeout

    def _actor(self, who: Supervisor) -> Any:
        return self._pb.Actor(
            admin=self._pb.AdminCredentials(username=who.username, password=who.password))

    def _call(self, method: str, request: Any) -> CommandResult:
        try:
            reply = getattr(self._stub, method)(request, timeout=self._timeout)
        except self._grpc.RpcError as exc:
            return CommandResult(False, f"ACD unreachable: {exc.code().name}")
        if reply.HasField("error") and reply.error.code != 0:
            name = self._pb.ErrorCode.Name(reply.error.code)
            return CommandResult(False, f"{name}: {reply.error.message}")
        deferred = getattr(reply, "deferred", False)
        return CommandResult(True, "deferred until the call ends" if deferred else "done")

    def _employee_id(self, agent: str) -> int | None:
        """The live views name agents by account; the ACD's commands take employee IDs."""
        try:
            reply = self._stub.GetSnapshot(self._pb.GetSnapshotRequest(), timeout=self._timeout)
        except self._grpc.RpcError:
            return None
        for a in reply.snapshot.agents:
            if agent in (a.username, str(a.employee_id)):
                return int(a.employee_id)
        return None

    def _force(self, method: str, agent: str, **fields: Any) -> CommandResult:
        eid = self._employee_id(agent)
        if eid is None:
            return CommandResult(False, f"agent {agent} is not logged in (or the ACD is "
                                 "unreachable)")
        request = getattr(self._pb, f"{method}Request")(
            actor=self._actor(fields.pop("actor")), employee_id=eid, **fields)
        return self._call(method, request)

    def force_logout(self, agent: str, actor: Supervisor) -> CommandResult:
        return self._force("ForceLogout", agent, actor=actor)

    def force_busy(self, agent: str, reason: str, actor: Supervisor) -> CommandResult:
        return self._force("ForceBusy", agent, actor=actor, reason=reason)

    def force_idle(self, agent: str, actor: Supervisor) -> CommandResult:
        return self._force("ForceIdle", agent, actor=actor)

    def intercept(self, agent: str, supervisor: str, actor: Supervisor) -> CommandResult:
        """`supervisor` (an account whose desk is logged in as a supervisor) takes over
        the call `agent` rings or talks on. The ACD resolves the agent's call itself (no
        snapshot read here: the call may have moved on since the page showed it), checks
        everything, and has the call's controller ring the supervisor."""
        request = self._pb.InterceptRequest(actor=self._actor(actor), agent=agent,
                                            supervisor=supervisor)
        try:
            reply = self._stub.Intercept(request, timeout=self._timeout)
        except self._grpc.RpcError as exc:
            return CommandResult(False, f"ACD unreachable: {exc.code().name}")
        if reply.HasField("error") and reply.error.code != 0:
            name = self._pb.ErrorCode.Name(reply.error.code)
            return CommandResult(False, f"{name}: {reply.error.message}")
        return CommandResult(True, f"call {reply.call_id}: ringing {supervisor} to take it over")


@dataclass(frozen=True, slots=True)
class AccountInfo:
    username: str
    roles: tuple[str, ...]
    password_hash: str


class AccountDirectory(Protocol):
    def get(self, username: str) -> AccountInfo | None: ...


class StaticAccounts:
    def __init__(self, accounts: Mapping[str, AccountInfo]) -> None:
        self._accounts = dict(accounts)

    def get(self, username: str) -> AccountInfo | None:
        return self._accounts.get(username)


class ConfigAccounts:
    """Accounts from the callcenter config (and its accounts_file), re-read on change."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._cache: tuple[float, dict[str, AccountInfo]] | None = None

    def get(self, username: str) -> AccountInfo | None:
        mtime = self._path.stat().st_mtime
        if self._cache is None or self._cache[0] != mtime:
            config = load_config(self._path)
            self._cache = (mtime, {
                a.username: AccountInfo(a.username, tuple(a.roles), a.password_hash)
                for a in config.accounts
            })
        return self._cache[1].get(username)


# -- wiring -----------------------------------------------------------------------------


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
            text = Path(path).read_text()
            if path.endswith((".yaml", ".yml")):
                import yaml  # noqa: PLC0415

                settings = DashboardSettings.model_validate(yaml.safe_load(text))
            else:
                settings = DashboardSettings.model_validate_json(text)
            _backend = backend_from_settings(settings)
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


class LoginError(Exception):
    pass


def authenticate(b: Backend, username: str, password: str) -> Supervisor:
    """A supervisor for the actions page; LoginError (one message for unknown user and
    wrong password, another for a valid account without a supervisor role)."""
    account = b.accounts.get(username.strip())
    if account is None or not verify_password(account.password_hash, password):
        raise LoginError("invalid username or password")
    if not set(account.roles) & set(b.supervisor_roles):
        raise LoginError(f"{account.username} has no supervisor role: read-only access")
    return Supervisor(account.username, password, account.roles)


def now_utc(b: Backend) -> datetime:
    return datetime.fromtimestamp(b.clock(), UTC)
