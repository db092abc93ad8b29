# Report SQL is assembled from checked identifiers and literals rendered by type below.
# ruff: noqa: S608
"""The report queries, as SQL text (R-STAT-1). Definitions: docs/analytics.md.

Every report is a function returning one SELECT, so a dashboard, a notebook or
clickhouse-client can run the exact SQL the API runs (`Statistics.sql`). Values
are rendered as literals by type here (numbers via float/int, names through
`_quote`), because the two backends disagree on server-side query parameters.

Reads use FINAL so a re-emitted or re-inserted record is counted once. On the full
schema they also set do_not_merge_across_partitions_select_final
(`Dialect.final_settings`): FINAL then skips every day already merged into one part.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from eventlog import IVR_CALLER_LEFT, IVR_SELF_SERVED

from ._dialect import MODERN, Dialect
from ._records import (
    ABANDONED_QUEUE,
    ABANDONED_RINGING,
    ANSWERED,
    IVR_FAILURES,
    IVR_TO_AGENT,
    OVERFLOW,
)

Time = datetime | float | int | None

_ABANDONED: Final = f"('{ABANDONED_QUEUE}', '{ABANDONED_RINGING}')"
IS_ANSWERED: Final = f"disposition = '{ANSWERED}'"
IS_ABANDONED: Final = f"disposition IN {_ABANDONED}"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _seconds(value: datetime | float | int) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _ts(value: datetime | float | int, dialect: Dialect = MODERN) -> str:
    return dialect.ts(_seconds(value))


def _range(column: str, start: Time, end: Time, dialect: Dialect = MODERN) -> str:
    """Half-open [start, end) on `column`; None leaves that side open."""
    parts = ["1"]
    if start is not None:
        parts.append(f"{column} >= {_ts(start, dialect)}")
    if end is not None:
        parts.append(f"{column} < {_ts(end, dialect)}")
    return " AND ".join(parts)


def _in(column: str, values: list[str] | None) -> str:
    """`column IN (...)`, or true when no values are given (no filter)."""
    return "1" if not values else f"{column} IN (" + ", ".join(map(_quote, values)) + ")"


def _queues(queues: list[str] | None) -> str:
    return _in("queue", queues)


def _interval_key(interval_minutes: int | None, dialect: Dialect = MODERN) -> tuple[str, str]:
    """(select expression, group-by suffix) for an optional time bucket."""
    if interval_minutes is None:
        return "", ""
    minutes = int(interval_minutes)
    if minutes <= 0:
        raise ValueError("interval_minutes must be positive")
    expr = dialect.bucket("assumeNotNull(queued_at)", minutes) + " AS interval_start, "
    return expr, ", interval_start"


def queue_volume(
    db: str,
    *,
    start: Time = None,
    end: Time = None,
    queues: list[str] | None = None,
    dialect: Dialect = MODERN,
) -> str:
    """Offered / answered / abandoned / overflowed per queue per 15 minutes.

    Intervals are those of the time the call entered the queue; [start, end) selects
    intervals by their start, as the dropped 15-minute rollup did (migration 005).
    """
    bucket = dialect.bucket("assumeNotNull(queued_at)", 15)
    return f"""
SELECT
    queue,
    {bucket} AS interval_start,
    count() AS offered,
    countIf({IS_ANSWERED}) AS answered,
    countIf({IS_ABANDONED}) AS abandoned,
    countIf(disposition = '{OVERFLOW}') AS overflowed,
    max(wait_s) AS max_wait_s
FROM {db}.cdr FINAL
WHERE queued_at IS NOT NULL
    AND {_range("interval_start", start, end, dialect)} AND {_queues(queues)}
GROUP BY queue, interval_start
ORDER BY queue, interval_start{dialect.final_settings}"""


def queue_summary(
    db: str,
    *,
    threshold_s: float = 20.0,
    start: Time = None,
    end: Time = None,
    queues: list[str] | None = None,
    interval_minutes: int | None = None,
    dialect: Dialect = MODERN,
) -> str:
    """Per queue (optionally per time bucket): volumes, the service levels, ASA,
    AHT, abandon rate and wait percentiles. Calls count by the time they queued."""
    t = float(threshold_s)
    bucket, group = _interval_key(interval_minutes, dialect)
    p50 = dialect.quantile_if(0.5, "wait_s", IS_ANSWERED)
    p90 = dialect.quantile_if(0.9, "wait_s", IS_ANSWERED)
    return f"""
SELECT
    queue,
    {bucket}count() AS offered,
    countIf({IS_ANSWERED}) AS answered,
    countIf({IS_ABANDONED}) AS abandoned,
    countIf(disposition = '{OVERFLOW}') AS overflowed,
    countIf({IS_ANSWERED} AND wait_s <= {t!r}) AS answered_within,
    countIf({IS_ABANDONED} AND wait_s <= {t!r}) AS abandoned_within,
    if(answered > 0, answered_within / answered, NULL) AS sl,
    if(answered + abandoned > 0,
       (answered_within + abandoned_within) / (answered + abandoned), NULL) AS sl2,
    if(answered + abandoned > 0, answered_within / (answered + abandoned), NULL)
        AS sl_with_abandoned,
    if(offered > 0, (answered_within + abandoned_within) / offered, NULL) AS sl2_of_offered,
    if(offered > 0, abandoned / offered, NULL) AS abandon_rate,
    if(answered > 0, avgIf(wait_s, {IS_ANSWERED}), NULL) AS asa_s,
    if(answered > 0, avgIf(talk_s + hold_s + wrapup_s, {IS_ANSWERED}), NULL) AS aht_s,
    if(answered > 0, avgIf(talk_s, {IS_ANSWERED}), NULL) AS avg_talk_s,
    if(answered > 0, {p50}, NULL) AS wait_p50_s,
    if(answered > 0, {p90}, NULL) AS wait_p90_s,
    max(wait_s) AS max_wait_s
FROM {db}.cdr FINAL
WHERE queued_at IS NOT NULL
    AND {_range("queued_at", start, end, dialect)} AND {_queues(queues)}
GROUP BY queue{group}
ORDER BY queue{group}{dialect.final_settings}"""


def agent_summary(
    db: str,
    *,
    start: Time = None,
    end: Time = None,
    agents: list[str] | None = None,
    dialect: Dialect = MODERN,
) -> str:
    """Per agent: answered calls and talk/hold from legs (so each agent on a
    transferred call gets their part), and time per state from the state intervals
    clipped to [start, end): login, ready, not ready, on call, wrap-up, occupancy."""
    agent_filter = "1" if not agents else "agent IN (" + ", ".join(map(_quote, agents)) + ")"
    lo = _ts(start if start is not None else 0, dialect)
    hi = _ts(end if end is not None else 4102444800, dialect)
    span = dialect.seconds_between(f"greatest(start, {lo})", f"least(end, {hi})")
    clipped = f"greatest(0, {span})"
    return f"""
SELECT
    agent,
    calls,
    talk_s,
    hold_s,
    ring_no_answer,
    login_s,
    idle_s,
    busy_s,
    talking_s,
    wrapup_s,
    if(login_s - busy_s > 0, (talking_s + wrapup_s) / (login_s - busy_s), NULL)
        AS occupancy
FROM
(
    SELECT
        agent,
        countIf(leg_kind = 'ring' AND answered_at IS NOT NULL) AS calls,
        sum(talk_s) AS talk_s,
        sum(hold_s) AS hold_s,
        countIf(outcome = 'no_answer') AS ring_no_answer
    FROM {db}.cdr_leg FINAL
    WHERE {_range("started_at", start, end, dialect)} AND {agent_filter} AND agent != ''
    GROUP BY agent
) AS legs
ALL FULL OUTER JOIN
(
    SELECT
        agent,
        sum({clipped}) AS login_s,
        sumIf({clipped}, state = 'idle') AS idle_s,
        sumIf({clipped}, state = 'busy') AS busy_s,
        sumIf({clipped}, state = 'talking') AS talking_s,
        sumIf({clipped}, state = 'wrap_up') AS wrapup_s
    FROM {db}.agent_state_interval FINAL
    WHERE start < {hi} AND end > {lo} AND state != 'logged_out' AND {agent_filter}
    GROUP BY agent
) AS states USING (agent)
ORDER BY agent{dialect.final_settings}"""


def _sql_set(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(map(_quote, values)) + ")"


# A flow is told apart by the node it starts at (every call through a flow enters at
# its first node), or by the exit node for a call that has a result but no steps.
_FLOW: Final = "if(empty(ivr_path), ivr_exit_node, ivr_path[1])"


def ivr_containment(
    db: str,
    *,
    start: Time = None,
    end: Time = None,
    dialled: list[str] | None = None,
    dialect: Dialect = MODERN,
) -> str:
    """IVR calls arrived in [start, end) per dialled number and flow, by how the IVR
    let go of them (`ivr_result`): self-served, to an agent (queued or transferred),
    abandoned in the IVR (caller_left), other (max_time, retries_exhausted, closed,
    voicemail, error); containment_rate = self_served / ivr_calls."""
    return f"""
SELECT
    dialled,
    flow,
    count() AS ivr_calls,
    countIf(ivr_result = {_quote(IVR_SELF_SERVED)}) AS self_served,
    countIf(ivr_result IN {_sql_set(IVR_TO_AGENT)}) AS to_agent,
    countIf(ivr_result = {_quote(IVR_CALLER_LEFT)}) AS abandoned_in_ivr,
    ivr_calls - self_served - to_agent - abandoned_in_ivr AS other,
    self_served / ivr_calls AS containment_rate
FROM
(
    SELECT dialled, {_FLOW} AS flow, ivr_result FROM {db}.cdr FINAL
    WHERE ivr_result != '' AND {_range("arrived_at", start, end, dialect)}
        AND {_in("dialled", dialled)}
)
GROUP BY dialled, flow
ORDER BY dialled, flow{dialect.final_settings}"""


def ivr_dropoff(
    db: str,
    *,
    start: Time = None,
    end: Time = None,
    dialled: list[str] | None = None,
    dialect: Dialect = MODERN,
) -> str:
    """Per flow and IVR node, over the calls arrived in [start, end): the calls that
    visited it (once per call however often), those whose caller left the IVR there
    (caller_left with exit node = that node) and the flow's failures there
    (retries_exhausted, max_time). Nodes come in flow path order: by the earliest step
    (1 = the flow's first node) any call reached them at, then the busier first."""
    return f"""
SELECT
    flow,
    node,
    min(path_index) AS step,
    count() AS visits,
    countIf(ivr_exit_node = node AND ivr_result = {_quote(IVR_CALLER_LEFT)}) AS caller_left,
    countIf(ivr_exit_node = node AND ivr_result IN {_sql_set(IVR_FAILURES)}) AS failed,
    caller_left / visits AS drop_off_rate
FROM
(
    SELECT
        ivr_path[1] AS flow,
        arrayJoin(arrayDistinct(ivr_path)) AS node,
        indexOf(ivr_path, node) AS path_index,
        ivr_exit_node,
        ivr_result
    FROM {db}.cdr FINAL
    WHERE notEmpty(ivr_path) AND {_range("arrived_at", start, end, dialect)}
        AND {_in("dialled", dialled)}
)
GROUP BY flow, node
ORDER BY flow, step, visits DESC, node{dialect.final_settings}"""


CDR_LIST_COLUMNS: Final = (
    "correlation_id, queue, category, caller, dialled, trunk, arrived_at, queued_at, "
    "answered_at, ended_at, agent, seat, ivr_path, ivr_result, ivr_exit_node, disposition, "
    "wait_s, talk_s, hold_s, wrapup_s, hangup_cause, hangup_side, recording_ref, transfers, "
    "wrap_up_code, recording_pauses, voicemail_box, message_played"
)


def cdr_list(
    db: str,
    *,
    start: Time = None,
    end: Time = None,
    queues: list[str] | None = None,
    agents: list[str] | None = None,
    correlation_ids: list[str] | None = None,
    limit: int = 100_000,
    dialect: Dialect = MODERN,
) -> str:
    """The CDRs themselves (one row per call, latest version), by arrival time, for
    the CSV export and for looking a call up. `agents` matches the answering agent."""
    agent_filter = _in("agent", agents)
    id_filter = _in("correlation_id", correlation_ids)
    return f"""
SELECT {CDR_LIST_COLUMNS}
FROM {db}.cdr FINAL
WHERE {_range("arrived_at", start, end, dialect)} AND {_queues(queues)}
    AND {agent_filter} AND {id_filter}
ORDER BY arrived_at, correlation_id
LIMIT {max(0, int(limit))}{dialect.final_settings}"""


LEG_LIST_COLUMNS: Final = (
    "correlation_id, seq, leg_kind, leg_id, agent, seat, attempt, started_at, answered_at, "
    "ended_at, outcome, talk_s, hold_s, to_kind, to_target, mode"
)


def leg_list(
    db: str,
    *,
    start: Time = None,
    end: Time = None,
    agents: list[str] | None = None,
    correlation_ids: list[str] | None = None,
    limit: int = 100_000,
    dialect: Dialect = MODERN,
) -> str:
    """Every ring attempt and transfer (latest version of each leg), by start time: what
    happened to a call between arrival and answer, and each agent's part of it."""
    agent_filter = _in("agent", agents)
    id_filter = _in("correlation_id", correlation_ids)
    return f"""
SELECT {LEG_LIST_COLUMNS}
FROM {db}.cdr_leg FINAL
WHERE {_range("started_at", start, end, dialect)} AND {agent_filter} AND {id_filter}
ORDER BY started_at, correlation_id, seq
LIMIT {max(0, int(limit))}{dialect.final_settings}"""


# One agent's calls, newest first (the agent desktop's call history). Times are the
# call's except answered_at and talk_s, which are this agent's own part of it.
AGENT_CALL_COLUMNS: Final = (
    "call_id",
    "start",
    "answered_at",
    "end",
    "caller",
    "dialled",
    "queue",
    "category",
    "disposition",
    "talk_s",
    "wrap_up_code",
    "ivr_result",
    "recording_ref",
)
AGENT_CALLS_MAX: Final = 500


def agent_calls(
    db: str,
    *,
    agent: str,
    since: Time = None,
    limit: int = 50,
    dialect: Dialect = MODERN,
) -> str:
    """The calls `agent` (its account) answered (an answered ring leg: also calls
    transferred to it) or placed (an outbound call it owns, answered or not), arrived
    at or after `since`, newest first, at most `limit` (1..AGENT_CALLS_MAX).
    `answered_at` is when this agent first answered, `talk_s` its talk on the call;
    the other columns are the call's (its CDR)."""
    if not agent:
        raise ValueError("agent_calls needs an agent")
    count = int(limit)
    if not 1 <= count <= AGENT_CALLS_MAX:
        raise ValueError(f"limit must be 1..{AGENT_CALLS_MAX}, not {limit!r}")
    who = _quote(agent)
    mine = (
        f"agent = {who} AND leg_kind = 'ring' AND answered_at IS NOT NULL"
        f" AND {_range('started_at', since, None, dialect)}"
    )
    return f"""
SELECT
    correlation_id AS call_id,
    arrived_at AS start,
    agent_answered_at AS answered_at,
    ended_at AS end,
    caller,
    dialled,
    queue,
    category,
    disposition,
    agent_talk_s AS talk_s,
    wrap_up_code,
    ivr_result,
    recording_ref
FROM
(
    SELECT correlation_id, arrived_at, ended_at, caller, dialled, queue, category,
        disposition, wrap_up_code, ivr_result, recording_ref
    FROM {db}.cdr FINAL
    WHERE {_range("arrived_at", since, None, dialect)} AND (agent = {who}
        OR correlation_id IN (SELECT correlation_id FROM {db}.cdr_leg FINAL WHERE {mine}))
    ORDER BY arrived_at DESC, correlation_id DESC
    LIMIT {count}
) AS calls
ALL LEFT JOIN
(
    SELECT correlation_id, min(answered_at) AS agent_answered_at, sum(talk_s) AS agent_talk_s
    FROM {db}.cdr_leg FINAL
    WHERE {mine}
    GROUP BY correlation_id
) AS legs USING (correlation_id)
ORDER BY start DESC, call_id DESC{dialect.final_settings}"""


# What a monitoring report groups by (docs/analytics.md, "Monitoring reports").
MONITOR_GROUPS: Final = ("supervisor", "agent")


def monitor_summary(
    db: str,
    *,
    by: str = "supervisor",
    start: Time = None,
    end: Time = None,
    supervisors: list[str] | None = None,
    agents: list[str] | None = None,
    dialect: Dialect = MODERN,
) -> str:
    """Monitoring sessions started in [start, end) per supervisor (or per agent, `by`):
    how many, how many the supervisor answered, total and mean answered time, time in
    each mode, switches, intercepts, recorded ones."""
    if by not in MONITOR_GROUPS:
        raise ValueError(f"by must be one of {MONITOR_GROUPS}, not {by!r}")
    answered = "duration_ms > 0"
    return f"""
SELECT
    {by},
    count() AS sessions,
    countIf({answered}) AS answered,
    sum(duration_ms) / 1000 AS total_s,
    if(answered > 0, sumIf(duration_ms, {answered}) / answered / 1000, NULL) AS avg_s,
    sum(listen_ms) / 1000 AS listen_s,
    sum(whisper_ms) / 1000 AS whisper_s,
    sum(barge_ms) / 1000 AS barge_s,
    countIf(has(modes, 'listen')) AS with_listen,
    countIf(has(modes, 'whisper')) AS with_whisper,
    countIf(has(modes, 'barge')) AS with_barge,
    sum(switches) AS switches,
    countIf(reason = 'intercept') AS intercepts,
    countIf(recording_ref != '') AS recorded
FROM {db}.monitor_sessions FINAL
WHERE {_range("started_at", start, end, dialect)} AND {_in("supervisor", supervisors)}
    AND {_in("agent", agents)}
GROUP BY {by}
ORDER BY {by}{dialect.final_settings}"""


MONITOR_LIST_COLUMNS: Final = (
    "session, correlation_id, supervisor, agent, started_at, ended_at, duration_ms, modes, "
    "listen_ms, whisper_ms, barge_ms, switches, reason, started_by, requested_by, mixer, "
    "recording_ref"
)


def monitor_list(
    db: str,
    *,
    start: Time = None,
    end: Time = None,
    supervisors: list[str] | None = None,
    agents: list[str] | None = None,
    correlation_ids: list[str] | None = None,
    limit: int = 10_000,
    dialect: Dialect = MODERN,
) -> str:
    """The monitoring sessions themselves (latest version of each), by start time."""
    return f"""
SELECT {MONITOR_LIST_COLUMNS}
FROM {db}.monitor_sessions FINAL
WHERE {_range("started_at", start, end, dialect)} AND {_in("supervisor", supervisors)}
    AND {_in("agent", agents)} AND {_in("correlation_id", correlation_ids)}
ORDER BY started_at, session
LIMIT {max(0, int(limit))}{dialect.final_settings}"""


REPORTS: Final[dict[str, Callable[..., str]]] = {
    "agent_calls": agent_calls,
    "cdr_list": cdr_list,
    "leg_list": leg_list,
    "queue_volume": queue_volume,
    "queue_summary": queue_summary,
    "agent_summary": agent_summary,
    "ivr_containment": ivr_containment,
    "ivr_dropoff": ivr_dropoff,
    "monitor_summary": monitor_summary,
    "monitor_list": monitor_list,
}
