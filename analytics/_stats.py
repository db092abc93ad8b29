"""The statistics API: report queries returned as pandas DataFrames."""

from __future__ import annotations

from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from ._dialect import MODERN, Dialect
from ._reports import REPORTS, Time
from ._reports import agent_calls as _agent_calls
from ._reports import agent_summary as _agent_summary
from ._reports import cdr_list as _cdr_list
from ._reports import ivr_containment as _ivr_containment
from ._reports import ivr_dropoff as _ivr_dropoff
from ._reports import leg_list as _leg_list
from ._reports import monitor_list as _monitor_list
from ._reports import monitor_summary as _monitor_summary
from ._reports import queue_summary as _queue_summary
from ._reports import queue_volume as _queue_volume
from ._store import CdrStore


class Statistics:
    """R-STAT-1 reports over a CdrStore. Times are datetimes or epoch seconds,
    ranges are half-open [start, end), None means unbounded."""

    # The methods a remote caller (the CDR service's API) may run by name.
    METHODS = (
        "queue_volume",
        "queue_summary",
        "service_level",
        "agent_summary",
        "ivr_containment",
        "ivr_dropoff",
        "cdr_list",
        "leg_list",
        "agent_calls",
        "monitor_summary",
        "monitor_list",
    )

    def __init__(self, store: CdrStore) -> None:
        self._store = store
        self._dialect: Dialect = getattr(store, "dialect", MODERN)

    def sql(self, report: str, **params: Any) -> str:
        """The exact SQL a report runs, for dashboards and ad-hoc use."""
        try:
            build = REPORTS[report]
        except KeyError:
            raise ValueError(f"unknown report {report!r}; known: {sorted(REPORTS)}") from None
        return build(self._store.database, dialect=self._dialect, **params)

    def run(self, method: str, **params: Any) -> pd.DataFrame:
        """Call one of `METHODS` by name (the service API's entry point)."""
        if method not in self.METHODS:
            raise ValueError(f"unknown report {method!r}; known: {sorted(self.METHODS)}")
        result: pd.DataFrame = getattr(self, method)(**params)
        return result

    def cdr_list(
        self,
        *,
        start: Time = None,
        end: Time = None,
        queues: list[str] | None = None,
        agents: list[str] | None = None,
        correlation_ids: list[str] | None = None,
        limit: int = 100_000,
    ) -> pd.DataFrame:
        """The CDRs in [start, end) by arrival (latest version of each call)."""
        return self._store.query_df(
            _cdr_list(
                self._store.database,
                start=start,
                end=end,
                queues=queues,
                agents=agents,
                correlation_ids=correlation_ids,
                limit=limit,
                dialect=self._dialect,
            )
        )

    def agent_calls(self, *, agent: str, since: Time = None, limit: int = 50) -> pd.DataFrame:
        """One agent's calls (answered, or placed) arrived since `since`, newest first:
        the agent desktop's call history (docs/analytics.md, "Agent call history")."""
        return self._store.query_df(
            _agent_calls(
                self._store.database, agent=agent, since=since, limit=limit, dialect=self._dialect
            )
        )

    def leg_list(
        self,
        *,
        start: Time = None,
        end: Time = None,
        agents: list[str] | None = None,
        correlation_ids: list[str] | None = None,
        limit: int = 100_000,
    ) -> pd.DataFrame:
        """The legs (ring attempts, transfers) started in [start, end), latest version."""
        return self._store.query_df(
            _leg_list(
                self._store.database,
                start=start,
                end=end,
                agents=agents,
                correlation_ids=correlation_ids,
                limit=limit,
                dialect=self._dialect,
            )
        )

    def queue_volume(
        self, *, start: Time = None, end: Time = None, queues: list[str] | None = None
    ) -> pd.DataFrame:
        """offered/answered/abandoned/overflowed per queue per 15-minute interval."""
        return self._store.query_df(
            _queue_volume(
                self._store.database, start=start, end=end, queues=queues, dialect=self._dialect
            )
        )

    def queue_summary(
        self,
        *,
        threshold_s: float = 20.0,
        start: Time = None,
        end: Time = None,
        queues: list[str] | None = None,
        interval_minutes: int | None = None,
    ) -> pd.DataFrame:
        """Service level (sl, sl2 as in Asterisk, plus sl_with_abandoned and
        sl2_of_offered), ASA, AHT, abandon rate, p50/p90 wait, per queue."""
        return self._store.query_df(
            _queue_summary(
                self._store.database,
                threshold_s=threshold_s,
                start=start,
                end=end,
                queues=queues,
                interval_minutes=interval_minutes,
                dialect=self._dialect,
            )
        )

    def service_level(
        self,
        *,
        threshold_s: float = 20.0,
        start: Time = None,
        end: Time = None,
        queues: list[str] | None = None,
        interval_minutes: int | None = None,
    ) -> pd.DataFrame:
        """The service-level columns of queue_summary."""
        df = self.queue_summary(
            threshold_s=threshold_s,
            start=start,
            end=end,
            queues=queues,
            interval_minutes=interval_minutes,
        )
        keys = ["queue"] + (["interval_start"] if interval_minutes else [])
        cols = [
            "offered",
            "answered",
            "abandoned",
            "answered_within",
            "abandoned_within",
            "sl",
            "sl2",
            "sl_with_abandoned",
            "sl2_of_offered",
        ]
        return df[keys + cols]

    def agent_summary(
        self, *, start: Time = None, end: Time = None, agents: list[str] | None = None
    ) -> pd.DataFrame:
        """calls, talk, hold, wrap-up, login time and occupancy per agent."""
        return self._store.query_df(
            _agent_summary(
                self._store.database, start=start, end=end, agents=agents, dialect=self._dialect
            )
        )

    def ivr_containment(
        self, *, start: Time = None, end: Time = None, dialled: list[str] | None = None
    ) -> pd.DataFrame:
        """Per dialled number and flow, and a total row (dialled and flow '*'): IVR
        calls, self_served, to_agent, abandoned_in_ivr, other, containment_rate."""
        df = self._store.query_df(
            _ivr_containment(
                self._store.database, start=start, end=end, dialled=dialled, dialect=self._dialect
            )
        )
        counts = ["ivr_calls", "self_served", "to_agent", "abandoned_in_ivr", "other"]
        total: dict[str, Any] = {"dialled": "*", "flow": "*"}
        total |= {name: int(df[name].sum()) if len(df) else 0 for name in counts}
        total["containment_rate"] = (
            total["self_served"] / total["ivr_calls"] if total["ivr_calls"] else float("nan")
        )
        row = pd.DataFrame([total])
        if len(df):
            # The counts keep the store's integer type (UInt64 and int64 make float64).
            row = row.astype({name: df[name].dtype for name in counts})
            return pd.concat([df, row], ignore_index=True)
        return row

    def ivr_dropoff(
        self, *, start: Time = None, end: Time = None, dialled: list[str] | None = None
    ) -> pd.DataFrame:
        """Per flow and node in path order: visits, caller_left and failed there."""
        return self._store.query_df(
            _ivr_dropoff(
                self._store.database, start=start, end=end, dialled=dialled, dialect=self._dialect
            )
        )

    def monitor_summary(
        self,
        *,
        by: str = "supervisor",
        start: Time = None,
        end: Time = None,
        supervisors: list[str] | None = None,
        agents: list[str] | None = None,
    ) -> pd.DataFrame:
        """Monitoring sessions started in [start, end) per supervisor or per agent (`by`):
        sessions, answered, total_s, avg_s, time per mode, switches, intercepts, recorded."""
        return self._store.query_df(
            _monitor_summary(
                self._store.database,
                by=by,
                start=start,
                end=end,
                supervisors=supervisors,
                agents=agents,
                dialect=self._dialect,
            )
        )

    def monitor_list(
        self,
        *,
        start: Time = None,
        end: Time = None,
        supervisors: list[str] | None = None,
        agents: list[str] | None = None,
        correlation_ids: list[str] | None = None,
        limit: int = 10_000,
    ) -> pd.DataFrame:
        """The monitoring sessions started in [start, end), one row each, by start."""
        return self._store.query_df(
            _monitor_list(
                self._store.database,
                start=start,
                end=end,
                supervisors=supervisors,
                agents=agents,
                correlation_ids=correlation_ids,
                limit=limit,
                dialect=self._dialect,
            )
        )
