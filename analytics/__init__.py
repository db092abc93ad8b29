"""CDRs and call-center statistics.

Events (eventlog) are folded by a pure `CdrBuilder` into `Cdr`, `Leg` and
`AgentInterval` records, stored in a `CdrStore` (embedded `ChdbStore` or
`ClickHouseStore`), and reported by `Statistics` as DataFrames or SQL. See
docs/analytics.md for the definitions.
"""

from ._builder import CdrBuilder, build_records
from ._chdb_store import ChdbStore
from ._clickhouse_store import ClickHouseStore
from ._collector import CdrCollector
from ._fold import fold_call
from ._migrations import Migration, apply_migrations, load_migrations
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
    "OVERFLOW",
    "REPORTS",
    "VOICEMAIL",
    "AgentInterval",
    "Cdr",
    "CdrBuilder",
    "CdrCollector",
    "CdrStore",
    "ChdbStore",
    "ClickHouseStore",
    "Leg",
    "Migration",
    "Records",
    "Statistics",
    "apply_migrations",
    "build_records",
    "fold_call",
    "load_migrations",
]
