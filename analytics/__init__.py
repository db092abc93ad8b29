"""CDRs and call-center statistics.

Events (eventlog) are folded by a pure `CdrBuilder` into `Cdr`, `Leg`,
`AgentInterval` and `MonitorSession` records, stored in a `CdrStore` (embedded
`ChdbStore` or `ClickHouseStore`), and reported by `Statistics` as DataFrames or SQL.
See docs/analytics.md for the definitions.
"""

from ._builder import CdrBuilder, build_records
from ._cdr_daemon import CdrService
from ._chdb_store import ChdbStore
from ._clickhouse_store import ClickHouseStore
from ._client import ServiceClient, ServiceError
from ._collector import CdrCollector
from ._config import (
    ServiceSettings,
    daemon_argv,
    health_probe,
    load_service_settings,
    write_service_settings,
)
from ._dialect import LEGACY, MODERN, Dialect, dialect_for_version
from ._fold import fold_call
from ._migrations import Migration, apply_migrations, load_migrations
from ._monitor_fold import fold_session
from ._records import (
    ABANDONED_IVR,
    ABANDONED_QUEUE,
    ABANDONED_RINGING,
    ANSWERED,
    DISPOSITIONS,
    FAILED,
    OVERFLOW,
    VOICEMAIL,
    AgentInterval,
    Cdr,
    Leg,
    MonitorSession,
    Records,
)
from ._reports import REPORTS
from ._stats import Statistics
from ._store import CdrStore

__all__ = [
    "ABANDONED_IVR",
    "ABANDONED_QUEUE",
    "ABANDONED_RINGING",
    "ANSWERED",
    "DISPOSITIONS",
    "FAILED",
    "LEGACY",
    "MODERN",
    "OVERFLOW",
    "REPORTS",
    "VOICEMAIL",
    "AgentInterval",
    "Cdr",
    "CdrBuilder",
    "CdrCollector",
    "CdrService",
    "CdrStore",
    "ChdbStore",
    "ClickHouseStore",
    "Dialect",
    "Leg",
    "Migration",
    "MonitorSession",
    "Records",
    "ServiceClient",
    "ServiceError",
    "ServiceSettings",
    "Statistics",
    "apply_migrations",
    "build_records",
    "daemon_argv",
    "dialect_for_version",
    "fold_call",
    "fold_session",
    "health_probe",
    "load_migrations",
    "load_service_settings",
    "write_service_settings",
]
