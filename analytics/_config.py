"""The analytics section of the main config, and the CDR service's runtime file.

`AnalyticsConfig` is meant to sit in the main config as `analytics:` (the lead adds
`analytics: AnalyticsConfig = AnalyticsConfig()` to `CallCenterConfig`).
`callcenter up` then writes a `ServiceSettings` file (`write_service_settings`)
and starts `daemon_argv(...)`, probing `health_probe(...)`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from ._migrations import check_identifier

MAX_PORT = 65_535


def check_port(port: int, where: str) -> int:
    """A TCP/UDP port a daemon can bind or dial: 1..65535 (0 would mean "any port")."""
    if not 1 <= port <= MAX_PORT:
        raise ValueError(f"port {port} in {where} is out of range: a port is 1 to {MAX_PORT}")
    return port


def _host_port_in_range(address: str) -> str:
    check_port(int(address.rsplit(":", 1)[1]), repr(address))
    return address


# host:port, as every address in the config (the main config's too) is written.
HostPort = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9A-Za-z.\-\[\]:]+:\d{1,5}$"),
    AfterValidator(_host_port_in_range),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClickHouseDsn(_Strict):
    host: str
    port: int
    database: str
    user: str
    password: str


class AnalyticsConfig(_Strict):
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


class ServiceSettings(_Strict):
    """Everything the CDR service process needs; written by `callcenter up`."""

    analytics: AnalyticsConfig = AnalyticsConfig()
    redis: HostPort = "127.0.0.1:6379"
    # Base for relative paths (node.run_dir).
    run_dir: str = "."

    def data_dir(self) -> Path:
        path = Path(self.analytics.data_dir)
        return path if path.is_absolute() else Path(self.run_dir) / path


def write_service_settings(
    path: str | Path, analytics: AnalyticsConfig, *, redis: str, run_dir: str | Path
) -> Path:
    """Write the runtime file the daemon reads (JSON; run_dir made absolute)."""
    settings = ServiceSettings(
        analytics=analytics, redis=redis, run_dir=str(Path(run_dir).resolve())
    )
    target = Path(path)
    target.write_text(json.dumps(settings.model_dump(), indent=2) + "\n")
    return target


def load_service_settings(path: str | Path) -> ServiceSettings:
    text = Path(path).read_text()
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # noqa: PLC0415  (only for hand-written files)

        return ServiceSettings.model_validate(yaml.safe_load(text))
    return ServiceSettings.model_validate_json(text)


def daemon_argv(settings_path: str | Path, *, python: str | None = None) -> list[str]:
    """argv for `callcenter up` (ProcessSpec("cdr", argv)). The process runs in the
    foreground, logs to stderr, and stops cleanly on SIGTERM."""
    return [
        python or sys.executable,
        "-m",
        "analytics.service",
        "--config",
        str(Path(settings_path).resolve()),
    ]


def health_probe(config: AnalyticsConfig, timeout: float = 0.5) -> Callable[[], bool]:
    """A zero-argument health check for `callcenter up`: GET /healthz answers ok."""
    from ._client import ServiceClient  # noqa: PLC0415  (keeps config import light)

    def probe() -> bool:
        return ServiceClient(config.url(), timeout=timeout).healthy()

    return probe
