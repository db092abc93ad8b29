"""The `analytics:` section of the config: CDR collection, storage and the statistics API.

The CDR service's own runtime file, argv and health probe are analytics' (analytics/_config.py).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from ._fields import HostPort, StrictModel, check_identifier, check_port

__all__ = ["AnalyticsConfig", "ClickHouseDsn", "parse_dsn"]


class ClickHouseDsn(StrictModel):
    host: str
    port: int
    database: str
    user: str
    password: str


class AnalyticsConfig(StrictModel):
    """CDR collection, storage and the statistics API (R-STAT-1)."""

    # chdb: embedded, owned by the CDR service (one process per data dir).
    # clickhouse: a server through clickhouse-driver (>= 21 full schema, 18.16 reduced).
    store: Literal["chdb", "clickhouse"] = "chdb"
    # chDB data directory; relative paths are relative to node.run_dir.
    data_dir: str = "data/chdb"
    database: str = "callcenter"
    # clickhouse://[user[:password]@]host[:port][/database]; the path overrides `database`.
    clickhouse_dsn: str = "clickhouse://default@127.0.0.1:9000/callcenter"
    # The event log stream and the consumer group the collector reads with.
    stream: str = "cc:events"
    group: str = "cdr"
    # A stable consumer name: a restarted service resumes its own pending entries.
    consumer: str = "cdr-0"
    # Loopback HTTP+JSON/Arrow API that dashboards query (GET /healthz, POST /v1/report).
    listen: HostPort = "127.0.0.1:8710"
    # Service-level threshold in seconds (Asterisk's `servicelevel`), for dashboards.
    sl_threshold_s: float = Field(20.0, gt=0, le=3600)
    batch_size: int = Field(2000, ge=1, le=100_000)
    block_ms: int = Field(500, ge=10, le=60_000)

    @field_validator("database")
    @classmethod
    def _ident(cls, value: str) -> str:
        return check_identifier(value)

    @field_validator("clickhouse_dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        parse_dsn(value)
        return value

    def dsn(self) -> ClickHouseDsn:
        return parse_dsn(self.clickhouse_dsn, default_database=self.database)

    def url(self) -> str:
        """Base URL of the service API."""
        return f"http://{self.listen}"


def parse_dsn(dsn: str, *, default_database: str = "callcenter") -> ClickHouseDsn:
    parts = urlsplit(dsn)
    if parts.scheme not in ("clickhouse", "tcp"):
        raise ValueError(f"clickhouse_dsn must start with clickhouse://, got {dsn!r}")
    if not parts.hostname:
        raise ValueError(f"clickhouse_dsn has no host: {dsn!r}")
    database = parts.path.strip("/") or default_database
    try:
        port = parts.port  # urlsplit refuses a port above 65535 here, but not 0
    except ValueError as exc:
        raise ValueError(f"clickhouse_dsn: {exc}: {dsn!r}") from None
    return ClickHouseDsn(
        host=parts.hostname,
        port=9000 if port is None else check_port(port, "clickhouse_dsn"),
        database=check_identifier(database),
        user=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
    )
