"""What the pages show, shaped from what the sources returned: pure functions of their
arguments (no source, clock or settings read here), so each table is tested alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd  # type: ignore[import-untyped]

import eventlog as ev
import teletraffic
from dashboards._format import fmt_pct
from dashboards._live import LiveSnapshot

REFRESH_S = 2.0
# `monitored`: the modes of the live monitoring sessions on the agent's call.
AGENT_COLUMNS = ["agent", "seat", "state", "time_in_state_s", "reason", "monitored"]
MONITOR_COLUMNS = ["session_id", "supervisor", "agent", "call_id", "mode", "state", "duration_s"]
# The states whose reason the wallboard shows: a reason says why an agent is not ready.
# The ACD keeps the last one on an agent that became ready again (LOGIN, NO_ANSWER,
# READY on an idle agent), which would read as if the agent were still away.
NOT_READY_STATES = frozenset({ev.STATE_BUSY})
QUEUE_COLUMNS = ["queue", "waiting", "longest_wait_s"]
# The columns of the queue_summary report the wallboard's day figures use.
TODAY_COLUMNS = ["queue", "offered", "answered", "abandoned", "answered_within"]
# The AHT a forecast assumes when history has none.
DEFAULT_AHT_S = 180.0


@dataclass(frozen=True)
class Wallboard:
    agents: pd.DataFrame
    queues: pd.DataFrame
    sl: float
    abandon_rate: float
    offered: int
    answered: int
    source: str
    # (what, the error): "live_unavailable", "stats_unavailable" (the page words them).
    problems: tuple[tuple[str, str], ...] = ()
    # The monitoring sessions (MONITOR_COLUMNS), oldest first.
    monitors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MONITOR_COLUMNS))


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def wallboard_view(
    snap: LiveSnapshot, today: pd.DataFrame, problems: Sequence[tuple[str, str]] = ()
) -> Wallboard:
    """The wallboard from a live snapshot and today's queue_summary (TODAY_COLUMNS at
    least): live agents and queues plus today's SL and abandon rate per queue and total."""
    monitors = monitors_view(snap)
    # Who is being listened to: the modes of the active sessions (a ringing one is not
    # monitoring yet), two supervisors on one call give two.
    active = monitors[monitors["state"] == "active"]
    monitored = {
        agent: ", ".join(group["mode"]) for agent, group in active.groupby("agent", sort=False)
    }
    agents = pd.DataFrame(
        [
            {
                "agent": a.agent,
                "seat": a.seat,
                "state": a.state,
                "time_in_state_s": round(max(0.0, snap.ts - a.since), 1),
                "reason": a.reason if a.state in NOT_READY_STATES else "",
                "monitored": monitored.get(a.agent, ""),
            }
            for a in snap.agents
        ],
        columns=AGENT_COLUMNS,
    )
    queues = pd.DataFrame(
        [
            {"queue": q.queue, "waiting": q.waiting, "longest_wait_s": round(q.longest_wait_s, 1)}
            for q in snap.queues
        ],
        columns=QUEUE_COLUMNS,
    )
    per_queue = today[TODAY_COLUMNS].copy()
    per_queue["sl_today"] = [
        _ratio(w, a)
        for w, a in zip(per_queue["answered_within"], per_queue["answered"], strict=True)
    ]
    per_queue["abandon_rate_today"] = [
        _ratio(x, o) for x, o in zip(per_queue["abandoned"], per_queue["offered"], strict=True)
    ]
    queues = queues.merge(
        per_queue[["queue", "offered", "sl_today", "abandon_rate_today"]], on="queue", how="outer"
    ).fillna({"waiting": 0, "longest_wait_s": 0.0})
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
        monitors=monitors,
    )


def monitors_view(snap: LiveSnapshot) -> pd.DataFrame:
    """The snapshot's monitoring sessions (MONITOR_COLUMNS), oldest first, with how long
    each has lasted."""
    return pd.DataFrame(
        [
            {
                "session_id": m.session_id,
                "supervisor": m.supervisor,
                "agent": m.agent,
                "call_id": m.call_id,
                "mode": m.mode,
                "state": m.state,
                "duration_s": round(max(0.0, snap.ts - m.since), 1),
            }
            for m in sorted(snap.monitors, key=lambda m: m.since)
        ],
        columns=MONITOR_COLUMNS,
    )


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


def staffing_table(
    calls: float, interval_s: float, aht_s: float, target_s: float, goal: float, *, span: int = 6
) -> tuple[int, pd.DataFrame]:
    """Erlang C: agents needed for `goal` SL within `target_s`, and the table around it."""
    traffic = teletraffic.offered_load(calls, interval_s, aht_s)
    needed = teletraffic.agents_for_service_level(traffic, aht_s, target_s, goal)
    lo = max(1, math.floor(traffic) + 1, needed - span // 2)
    rows = []
    for n in range(lo, lo + span + 1):
        p = teletraffic.staffing(traffic, n, aht_s, target_s)
        rows.append(
            {
                "agents": n,
                "service_level": p.service_level,
                "p_wait": p.p_wait,
                "asa_s": p.asa,
                "occupancy": p.occupancy,
                "meets_goal": p.service_level >= goal,
            }
        )
    return needed, pd.DataFrame(rows)


def forecast(intervals: pd.DataFrame) -> tuple[float, float]:
    """Mean offered calls per busy interval and mean AHT, from a per-interval
    queue_summary; (0, DEFAULT_AHT_S) from no history."""
    if intervals.empty:
        return 0.0, DEFAULT_AHT_S
    aht = intervals["aht_s"].dropna()
    return float(intervals["offered"].mean()), float(aht.mean()) if len(aht) else DEFAULT_AHT_S


# The IVR section of the reports page: what the containment and drop-off reports of
# the CDR service returned (docs/analytics.md, "IVR reports"), as tables and charts.
IVR_OUTCOMES = ["self_served", "to_agent", "abandoned_in_ivr", "other"]
IVR_CONTAINMENT_COLUMNS = ["dialled", "flow", "ivr_calls", *IVR_OUTCOMES, "containment"]
IVR_DROPOFF_COLUMNS = ["flow", "step", "node", "visits", "caller_left", "failed", "drop_off"]
IVR_DROPOFF_BARS = ["visits", "caller_left", "failed"]
# The total row the containment report ends with.
_ALL = "*"


@dataclass(frozen=True)
class IvrView:
    calls: int
    self_served: int
    containment_rate: float
    containment: pd.DataFrame  # IVR_CONTAINMENT_COLUMNS, the total row last ("all")
    outcomes: pd.DataFrame  # per flow ("dialled · flow"): the IVR_OUTCOMES counts
    dropoff: pd.DataFrame  # IVR_DROPOFF_COLUMNS, in flow path order
    dropoff_bars: pd.DataFrame  # per node ("flow: step. node"): IVR_DROPOFF_BARS

    @property
    def containment_percent(self) -> str:
        """The containment rate as the page shows it ("—" without IVR calls)."""
        return _percent(self.containment_rate)


def _percent(value: float) -> str:
    return fmt_pct(value)


def ivr_view(containment: pd.DataFrame, dropoff: pd.DataFrame) -> IvrView:
    """The IVR section from the ivr_containment report (per dialled number and flow,
    then the '*' total row) and the ivr_dropoff report (per flow and node, in path
    order). Rates are shown as percentages; the tables are small, so they go to the
    page as static tables."""
    is_total = (containment["dialled"] == _ALL) & (containment["flow"] == _ALL)
    total = containment[is_total]
    per_flow = containment[~is_total]
    calls = int(total["ivr_calls"].iloc[0]) if len(total) else 0
    self_served = int(total["self_served"].iloc[0]) if len(total) else 0
    table = containment.copy()
    table.loc[is_total, ["dialled", "flow"]] = ["all", ""]
    table["containment"] = [_percent(float(r)) for r in table["containment_rate"]]
    outcomes = pd.DataFrame(
        {name: [int(v) for v in per_flow[name]] for name in IVR_OUTCOMES},
        index=[f"{d} · {f}" for d, f in zip(per_flow["dialled"], per_flow["flow"], strict=True)],
    )
    nodes = dropoff.copy()
    nodes["drop_off"] = [_percent(float(r)) for r in nodes["drop_off_rate"]]
    bars = pd.DataFrame(
        {name: [int(v) for v in nodes[name]] for name in IVR_DROPOFF_BARS},
        index=[
            f"{f}: {s}. {n}"
            for f, s, n in zip(nodes["flow"], nodes["step"], nodes["node"], strict=True)
        ],
    )
    return IvrView(
        calls=calls,
        self_served=self_served,
        containment_rate=self_served / calls if calls else math.nan,
        containment=table[IVR_CONTAINMENT_COLUMNS].reset_index(drop=True),
        outcomes=outcomes,
        dropoff=nodes[IVR_DROPOFF_COLUMNS].reset_index(drop=True),
        dropoff_bars=bars,
    )


# The Recordings page (docs/recording.md, "The index"): one row per recording, newest
# first as the index returns them, and the access log.
RECORDING_COLUMNS = [
    "started_at",
    "call_id",
    "kind",
    "name",
    "agent",
    "caller",
    "number",
    "queue",
    "duration_s",
    "status",
    "failure",
    "pauses",
    "legal_hold",
    "ref",
]
ACCESS_LOG_COLUMNS = ["at", "ref", "actor", "action"]


def _clock(ms: float) -> str:
    seconds = max(0.0, float(ms)) / 1000
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def pauses_text(pauses: Sequence[dict[str, object]] | None) -> str:
    """A recording's paused stretches as "0:12.0–0:15.5 agent; ..." (offsets from its
    start; an open pause has no end yet)."""
    parts = []
    for p in pauses or ():
        start = _clock(float(str(p.get("start_ms") or 0)))
        end = p.get("end_ms")
        stop = _clock(float(str(end))) if end is not None else "…"
        parts.append(f"{start}–{stop} {p.get('reason') or ''}".rstrip())
    return "; ".join(parts)


def recordings_view(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """The search result as the page's table: status and failure as stored, pauses
    readable, the duration in seconds (empty until the WAV is made)."""
    table = []
    for row in rows:
        duration = row.get("duration_ms")
        pauses = row.get("pauses")
        table.append(
            {
                "started_at": row.get("started_at") or "",
                "call_id": row.get("call_id") or "",
                # Why it was recorded (always, on demand, voicemail, a monitoring
                # session: a 3-channel WAV of caller, agent and supervisors).
                "kind": row.get("reason") or "",
                "name": row.get("name") or "",
                "agent": row.get("agent") or "",
                "caller": row.get("caller") or "",
                "number": row.get("number") or "",
                "queue": row.get("queue") or "",
                "duration_s": round(float(str(duration)) / 1000, 1)
                if duration is not None
                else None,
                "status": row.get("status") or "",
                "failure": ": ".join(
                    str(part) for part in (row.get("failure"), row.get("failure_detail")) if part
                ),
                "pauses": pauses_text(pauses if isinstance(pauses, list) else None),
                "legal_hold": bool(row.get("legal_hold")),
                "ref": row.get("ref") or "",
            }
        )
    return pd.DataFrame(table, columns=RECORDING_COLUMNS)


# The Reports page's monitoring section: sessions per supervisor or agent
# (analytics' monitor_summary, docs/analytics.md "Monitoring reports").
MONITOR_REPORT_COLUMNS = [
    "sessions",
    "answered",
    "total_s",
    "avg_s",
    "listen_s",
    "whisper_s",
    "barge_s",
    "switches",
    "intercepts",
    "recorded",
]


def monitor_report_view(summary: pd.DataFrame, by: str) -> pd.DataFrame:
    """The report's rows as the page's table: who, then the counts and times."""
    return summary.reindex(columns=[by, *MONITOR_REPORT_COLUMNS]).reset_index(drop=True)


def access_log_view(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{c: row.get(c, "") for c in ACCESS_LOG_COLUMNS} for row in rows],
        columns=ACCESS_LOG_COLUMNS,
    )
