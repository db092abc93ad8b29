"""The business data store: customers and their electricity accounts (later tickets,
recording and voicemail indexes, campaigns, the SMS log, the admin audit log), in one
relational database through SQLAlchemy 2 with one Alembic migration history. SQLite
is the embedded default, PostgreSQL the scale-out path. Lookups from the IVR go
through the `DataSource` interface, so an operator can point them at their own
database or HTTP API instead (docs/bizdata.md).

    bizdata.migrate(url)                     # upgrade to the newest schema (idempotent)
    bizdata.seed_demo(url)                   # the demo's accounts (idempotent)
    sources = bizdata.open_sources(config.bizdata, run_dir)
    record = sources["accounts"].lookup("12345674")   # None: not found

The interface and its error load at once; the names that need SQLAlchemy (and
Alembic, for migrate) load on first use, so importing the package costs nothing
until a store or a source is opened.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import DataSourceError, StoreError
from ._luhn import luhn_check_digit, luhn_valid
from ._source import DataSource

if TYPE_CHECKING:
    from ._engine import display_url, open_engine, store_url
    from ._http_source import HttpSource
    from ._migrate import current_revision, head_revision, migrate
    from ._models import ACCOUNT_STATUSES, LANGUAGES, Account, Base, Customer
    from ._open import close_sources, open_sources
    from ._seed import WELL_KNOWN, DemoAccount, demo_accounts, seed_demo
    from ._sql_source import SqlSource
    from ._store_source import ACCOUNT_FIELDS, StoreSource

__all__ = [
    "ACCOUNT_FIELDS",
    "ACCOUNT_STATUSES",
    "LANGUAGES",
    "WELL_KNOWN",
    "Account",
    "Base",
    "Customer",
    "DataSource",
    "DataSourceError",
    "DemoAccount",
    "HttpSource",
    "SqlSource",
    "StoreError",
    "StoreSource",
    "close_sources",
    "current_revision",
    "demo_accounts",
    "display_url",
    "head_revision",
    "luhn_check_digit",
    "luhn_valid",
    "migrate",
    "open_engine",
    "open_sources",
    "seed_demo",
    "store_url",
]

# The names that need SQLAlchemy or Alembic, and the module each one lives in.
_LAZY = {
    **dict.fromkeys(("display_url", "open_engine", "store_url"), "_engine"),
    "HttpSource": "_http_source",
    **dict.fromkeys(("current_revision", "head_revision", "migrate"), "_migrate"),
    **dict.fromkeys(("ACCOUNT_STATUSES", "LANGUAGES", "Account", "Base", "Customer"), "_models"),
    **dict.fromkeys(("close_sources", "open_sources"), "_open"),
    **dict.fromkeys(("WELL_KNOWN", "DemoAccount", "demo_accounts", "seed_demo"), "_seed"),
    "SqlSource": "_sql_source",
    **dict.fromkeys(("ACCOUNT_FIELDS", "StoreSource"), "_store_source"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
