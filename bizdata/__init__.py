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

The agents' desktop reads and writes through plain functions taking an engine
(`bizdata.open_engine(url)`), which return JSON-able dicts and raise the StoreError
family (NotFound, VersionConflict, InvalidField, InvalidTransition, InUse):

    engine = bizdata.open_engine(url)
    record = bizdata.find_customer_for_call(engine, account="12345674", phone=None)
    bizdata.search_customers(engine, "张伟")
    bizdata.update_customer(engine, 1, {"email": "a@b.cn"}, version=1, by="agent1")

The recorder, the ACD and the dashboards keep and read the index of recordings and
voicemail messages the same way (docs/recording.md, "The index"):

    bizdata.recording_started(engine, ref=ref, call_id=..., ..., started_at=ts)
    bizdata.search_recordings(engine, agent="agent1", since=yesterday)
    bizdata.count_voicemail(engine, "sales")   # {"new": 2, "heard": 5}

The interface and its errors load at once; the names that need SQLAlchemy (and
Alembic, for migrate) load on first use, so importing the package costs nothing
until a store or a source is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from configuration import lazy_exports

from ._errors import (
    DataSourceError,
    InUse,
    InvalidField,
    InvalidTransition,
    NotFound,
    StoreError,
    VersionConflict,
)
from ._source import DataSource

if TYPE_CHECKING:
    from ._bulk_seed import BulkCustomer, bulk_customer, seed_bulk
    from ._complaints import create_complaint, search_complaints
    from ._customers import (
        create_customer,
        delete_customer,
        find_customer_for_call,
        get_customer,
        update_customer,
    )
    from ._engine import display_url, open_engine, store_url
    from ._http_source import HttpSource
    from ._migrate import current_revision, head_revision, migrate
    from ._models import (
        ACCOUNT_STATUSES,
        CUSTOMER_TYPES,
        LANGUAGES,
        RECORDING_ACCESS_ACTIONS,
        RECORDING_REASONS,
        RECORDING_STATUSES,
        TICKET_STATUSES,
        Account,
        Base,
        CallWrapUp,
        Complaint,
        Customer,
        Recording,
        RecordingAccess,
        Ticket,
        TicketEvent,
        VoicemailMessage,
    )
    from ._open import close_sources, open_sources
    from ._recordings import (
        delete_recording,
        expired_recordings,
        get_recording,
        log_recording_access,
        recording_access_log,
        recording_failed,
        recording_paused,
        recording_resumed,
        recording_started,
        recording_stopped,
        recording_stored,
        recordings_stopped,
        search_recordings,
        set_legal_hold,
    )
    from ._search import search_customers
    from ._seed import WELL_KNOWN, DemoAccount, demo_accounts, seed_demo
    from ._sql_source import SqlSource
    from ._store_source import ACCOUNT_FIELDS, StoreSource
    from ._tickets import create_ticket, get_ticket, list_tickets, transition_ticket
    from ._voicemail import (
        add_voicemail,
        count_voicemail,
        delete_voicemail,
        get_voicemail,
        list_voicemail,
        mark_voicemail_heard,
    )
    from ._wrap_ups import get_wrap_up, save_wrap_up

__all__ = [
    "ACCOUNT_FIELDS",
    "ACCOUNT_STATUSES",
    "CUSTOMER_TYPES",
    "LANGUAGES",
    "RECORDING_ACCESS_ACTIONS",
    "RECORDING_REASONS",
    "RECORDING_STATUSES",
    "TICKET_STATUSES",
    "WELL_KNOWN",
    "Account",
    "Base",
    "BulkCustomer",
    "CallWrapUp",
    "Complaint",
    "Customer",
    "DataSource",
    "DataSourceError",
    "DemoAccount",
    "HttpSource",
    "InUse",
    "InvalidField",
    "InvalidTransition",
    "NotFound",
    "Recording",
    "RecordingAccess",
    "SqlSource",
    "StoreError",
    "StoreSource",
    "Ticket",
    "TicketEvent",
    "VersionConflict",
    "VoicemailMessage",
    "add_voicemail",
    "bulk_customer",
    "close_sources",
    "count_voicemail",
    "create_complaint",
    "create_customer",
    "create_ticket",
    "current_revision",
    "delete_customer",
    "delete_recording",
    "delete_voicemail",
    "demo_accounts",
    "display_url",
    "expired_recordings",
    "find_customer_for_call",
    "get_customer",
    "get_recording",
    "get_ticket",
    "get_voicemail",
    "get_wrap_up",
    "head_revision",
    "list_tickets",
    "list_voicemail",
    "log_recording_access",
    "mark_voicemail_heard",
    "migrate",
    "open_engine",
    "open_sources",
    "recording_access_log",
    "recording_failed",
    "recording_paused",
    "recording_resumed",
    "recording_started",
    "recording_stopped",
    "recording_stored",
    "recordings_stopped",
    "save_wrap_up",
    "search_complaints",
    "search_customers",
    "search_recordings",
    "seed_bulk",
    "seed_demo",
    "set_legal_hold",
    "store_url",
    "transition_ticket",
    "update_customer",
]

# The names that need SQLAlchemy or Alembic, and the module each one lives in.
_LAZY = {
    **dict.fromkeys(("display_url", "open_engine", "store_url"), "_engine"),
    "HttpSource": "_http_source",
    **dict.fromkeys(("current_revision", "head_revision", "migrate"), "_migrate"),
    **dict.fromkeys(
        (
            "ACCOUNT_STATUSES",
            "CUSTOMER_TYPES",
            "LANGUAGES",
            "RECORDING_ACCESS_ACTIONS",
            "RECORDING_REASONS",
            "RECORDING_STATUSES",
            "TICKET_STATUSES",
            "Account",
            "Base",
            "CallWrapUp",
            "Complaint",
            "Customer",
            "Recording",
            "RecordingAccess",
            "Ticket",
            "TicketEvent",
            "VoicemailMessage",
        ),
        "_models",
    ),
    **dict.fromkeys(("BulkCustomer", "bulk_customer", "seed_bulk"), "_bulk_seed"),
    **dict.fromkeys(("create_complaint", "search_complaints"), "_complaints"),
    **dict.fromkeys(
        (
            "create_customer",
            "delete_customer",
            "find_customer_for_call",
            "get_customer",
            "update_customer",
        ),
        "_customers",
    ),
    "search_customers": "_search",
    **dict.fromkeys(
        ("create_ticket", "get_ticket", "list_tickets", "transition_ticket"), "_tickets"
    ),
    **dict.fromkeys(("get_wrap_up", "save_wrap_up"), "_wrap_ups"),
    **dict.fromkeys(
        (
            "delete_recording",
            "expired_recordings",
            "get_recording",
            "log_recording_access",
            "recording_access_log",
            "recording_failed",
            "recording_paused",
            "recording_resumed",
            "recording_started",
            "recording_stopped",
            "recording_stored",
            "recordings_stopped",
            "search_recordings",
            "set_legal_hold",
        ),
        "_recordings",
    ),
    **dict.fromkeys(
        (
            "add_voicemail",
            "count_voicemail",
            "delete_voicemail",
            "get_voicemail",
            "list_voicemail",
            "mark_voicemail_heard",
        ),
        "_voicemail",
    ),
    **dict.fromkeys(("close_sources", "open_sources"), "_open"),
    **dict.fromkeys(("WELL_KNOWN", "DemoAccount", "demo_accounts", "seed_demo"), "_seed"),
    "SqlSource": "_sql_source",
    **dict.fromkeys(("ACCOUNT_FIELDS", "StoreSource"), "_store_source"),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
