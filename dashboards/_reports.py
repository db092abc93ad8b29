"""Historical statistics for the dashboards: the CDR service's API, or a store in-process."""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd  # type: ignore[import-untyped]

from analytics import CdrStore, ServiceClient, Statistics


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
