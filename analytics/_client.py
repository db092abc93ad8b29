"""Client of the CDR service's loopback API (used by the dashboards and benchmarks).

Reports come back as Arrow IPC streams, so DataFrames keep their dtypes (UTC
timestamps, NaN for NULL) exactly as the service's store produced them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa  # type: ignore[import-untyped]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class ServiceError(RuntimeError):
    """The service refused a request (4xx/5xx) or could not be reached."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, pd.Timestamp):
        return value.timestamp()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


class ServiceClient:
    """Calls `Statistics` methods on the CDR service: `client.report("queue_summary", ...)`."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def report(self, method: str, **params: Any) -> pd.DataFrame:
        body = json.dumps(
            {"method": method, "params": {k: _jsonable(v) for k, v in params.items()}}
        ).encode()
        request = urllib.request.Request(  # noqa: S310  (http URL from our own config)
            f"{self.url}/v1/report",
            data=body,
            headers={"Content-Type": "application/json", "Accept": ARROW_STREAM},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310
                data = reply.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ServiceError(f"{method}: HTTP {exc.code}: {detail}") from None
        except OSError as exc:
            raise ServiceError(f"{method}: CDR service at {self.url} unreachable: {exc}") from exc
        table = pa.ipc.open_stream(data).read_all()
        df: pd.DataFrame = table.to_pandas()
        return df

    def health(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(  # noqa: S310
                f"{self.url}/healthz", timeout=self.timeout
            ) as reply:
                result: dict[str, Any] = json.loads(reply.read())
                return result
        except (OSError, ValueError) as exc:
            raise ServiceError(f"CDR service at {self.url} unreachable: {exc}") from exc

    def healthy(self) -> bool:
        try:
            return bool(self.health().get("ok"))
        except ServiceError:
            return False
