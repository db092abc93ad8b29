"""The store's tables, as SQLAlchemy 2 models: one `Base`, one `MetaData`.

Every table of the business data goes on this `Base` (later: tickets, recording and
voicemail indexes, campaigns and the do-not-call list, the SMS log, the admin audit
log), so that the one migration history (bizdata/migrations/) and the test that
compares it with the models see all of them. A new table: a class here, then a new
file in migrations/versions/ (`alembic revision --autogenerate` writes a draft; see
docs/bizdata.md).

Constraint and index names come from the naming convention, never from the database:
a later migration can then drop or alter them by name on SQLite and PostgreSQL alike.
Enumerations are short strings with a CHECK constraint rather than native enum types,
which PostgreSQL cannot extend inside a transaction and SQLite does not have.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from configuration import luhn_valid

__all__ = [
    "ACCOUNT_STATUSES",
    "CUSTOMER_TYPES",
    "LANGUAGES",
    "NAMING_CONVENTION",
    "OPEN_TICKET_STATUSES",
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
    "is_search_object",
    "utc_now",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LANGUAGES = ("zh", "en")
ACCOUNT_STATUSES = ("active", "suspended", "closed")
CUSTOMER_TYPES = ("resident", "business")
TICKET_STATUSES = ("assigned", "in_progress", "resolved", "closed")
# A ticket in one of these still needs work: it keeps its customer from being deleted.
OPEN_TICKET_STATUSES = ("assigned", "in_progress", "resolved")
# A recording's life (docs/recording.md): recording -> stopped -> stored | failed.
RECORDING_STATUSES = ("recording", "stopped", "stored", "failed")
# Why it was recorded: numbers[].record / queues[].record, the agent, a voicemail, a
# monitoring session (its mixer writes the WAV: docs/monitoring.md; migration 0004).
RECORDING_REASONS = ("always", "on_demand", "voicemail", "monitor")
# What the audit log records someone (or retention) doing with a recording.
RECORDING_ACCESS_ACTIONS = ("play", "download", "hold", "release", "delete")
# Up to 9,999,999,999.99: Numeric(12, 2), exact on PostgreSQL and within a double's
# exact range on SQLite, which stores it as REAL.
Money = Numeric(12, 2)
# Instants are UTC. PostgreSQL keeps the zone (timestamptz); SQLite keeps the text
# without it, and the API reads it back as UTC (_desk_store.utc).
Instant = DateTime(timezone=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_search_object(name: str | None) -> bool:
    """The search structures (docs/bizdata.md, "Search"): SQLite's FTS5 tables and their
    shadow tables, PostgreSQL's trigram and prefix indexes. They differ by dialect, so
    the migration creates them and the models leave them out; comparing the models
    with a database skips them (migrations/env.py, tests/bizdata/drift.py)."""
    return name is not None and ("_search" in name or name.endswith(("_trgm", "_prefix")))


# Who did something: an agent's username, as identity and the ACD spell it.
Username = String(64)
# A configured code (configuration.Code: wrap-up codes, ticket units, categories).
CodeColumn = String(32)
# The ACD's call id (the X-Huaan-Call-Id header).
CallId = String(64)
# A recording's ref, a voicemail's message id: uuid4().hex.
HexId = String(32)
# A phone number as the edge or the dial plan spells it.
PhoneNumber = String(64)
# A path relative to recording.dir or voicemail.dir.
RelativePath = String(255)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    """A person or business with electricity accounts; the phone is how a call finds them.

    Agents edit it from the desktop (R-AG-6): `version` counts the edits, and an edit
    or a delete names the version it was made on, so two agents editing the same
    record never overwrite each other silently. No identity-card number is kept: the
    account number and the phone identify a caller, and a number we do not store
    cannot leak.
    """

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(_one_of("language", LANGUAGES), name="language"),
        CheckConstraint(_one_of("customer_type", CUSTOMER_TYPES), name="customer_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # As the edge normalises calling numbers (national form): the screen pop's key.
    phone: Mapped[str] = mapped_column(String(32), index=True)
    # The language the IVR and agents speak to them in.
    language: Mapped[str] = mapped_column(String(2))
    customer_type: Mapped[str] = mapped_column(String(16), server_default="resident")
    address: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    notes: Mapped[str | None] = mapped_column(Text)
    # None on the records that predate revision 0002.
    created_at: Mapped[datetime | None] = mapped_column(Instant, default=utc_now)
    updated_at: Mapped[datetime | None] = mapped_column(Instant, default=utc_now, onupdate=utc_now)
    # The agent who last created or changed it.
    updated_by: Mapped[str | None] = mapped_column(Username)
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    accounts: Mapped[list[Account]] = relationship(back_populates="customer")

    # SQLAlchemy adds `AND version = <the one loaded>` to every UPDATE and bumps it:
    # a write between our read and our write fails instead of being overwritten.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's protocol)


class Account(Base):
    """An electricity account: what a caller asks about by its number."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint(_one_of("status", ACCOUNT_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Digits ending in a Luhn check digit (checked when set, see _account_number).
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_address: Mapped[str] = mapped_column(String(200))
    # What the customer owes now (negative: in credit).
    balance: Mapped[Decimal] = mapped_column(Money)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    last_payment_date: Mapped[date | None] = mapped_column(Date)
    last_payment_amount: Mapped[Decimal | None] = mapped_column(Money)

    customer: Mapped[Customer] = relationship(back_populates="accounts")

    @validates("account_number")
    def _account_number(self, _key: str, number: str) -> str:
        if not luhn_valid(number):
            raise ValueError(f"account number {number!r} fails its Luhn check digit")
        return number


class Complaint(Base):
    """A complaint an agent recorded (R-AG-7), linked to the customer and, when it came
    in on a call, to the call and its recording."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    call_id: Mapped[str | None] = mapped_column(CallId, index=True)
    # Where the call's recording is (recordings arrive with issue 13); the API's caller
    # gives it, the store keeps it as given.
    recording_ref: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(CodeColumn)
    description: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Username)
    created_at: Mapped[datetime] = mapped_column(Instant)


class Ticket(Base):
    """A complaint dispatched to a responsible unit (configuration's TicketUnit), and
    where it stands: assigned -> in_progress -> resolved -> closed."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_one_of("status", TICKET_STATUSES), name="status"),
        # A unit's queue, and its overdue ones first.
        Index("ix_tickets_unit_status_due_at", "unit", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    unit: Mapped[str] = mapped_column(CodeColumn)
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(Username)
    # Dispatch time plus the unit's overdue_after_h: not resolved by then is overdue.
    due_at: Mapped[datetime] = mapped_column(Instant)
    created_at: Mapped[datetime] = mapped_column(Instant)
    updated_at: Mapped[datetime] = mapped_column(Instant)
    version: Mapped[int] = mapped_column(Integer)

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's protocol)


class TicketEvent(Base):
    """One step in a ticket's history: who moved it from what to what, when, and where
    it was dispatched (the first event has no `from_status`)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(Instant)
    by: Mapped[str] = mapped_column(Username)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(CodeColumn)
    note: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class CallWrapUp(Base):
    """What an agent noted about a call after it: a wrap-up code (configured) and a
    note. One per agent and call; saving again replaces it."""

    __tablename__ = "call_wrap_ups"
    __table_args__ = (UniqueConstraint("call_id", "employee_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(CallId)
    employee_id: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(Username)
    code: Mapped[str] = mapped_column(CodeColumn)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(Instant)


class Recording(Base):
    """One recording of a call (or a voicemail message), from recording.started to its
    WAV (docs/recording.md): the recorder keeps it as the events come, the Recordings
    page searches it, retention deletes it unless it is on legal hold."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(_one_of("status", RECORDING_STATUSES), name="status"),
        CheckConstraint(_one_of("reason", RECORDING_REASONS), name="reason"),
        # The recorder's questions: which are waiting for conversion, which expired.
        Index("ix_recordings_status_ended_at", "status", "ended_at"),
    )

    ref: Mapped[str] = mapped_column(HexId, primary_key=True)
    # The call's correlation ID.
    call_id: Mapped[str] = mapped_column(CallId, index=True)
    # On demand: the agent's account; always-on: ""; voicemail: the box.
    name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(16))
    # The rtpengine's ng address (host:port): which recorder converts it.
    media_node: Mapped[str] = mapped_column(String(100))
    caller: Mapped[str] = mapped_column(PhoneNumber, index=True)
    agent: Mapped[str] = mapped_column(Username, index=True)
    queue: Mapped[str] = mapped_column(String(64))
    # The number dialled.
    number: Mapped[str] = mapped_column(PhoneNumber, index=True)
    started_at: Mapped[datetime] = mapped_column(Instant, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(Instant)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    file: Mapped[str | None] = mapped_column(RelativePath)
    status: Mapped[str] = mapped_column(String(16))
    # recording.failed's reason (disk_full, missing, rtpengine, convert, short) and detail.
    failure: Mapped[str | None] = mapped_column(String(32))
    failure_detail: Mapped[str | None] = mapped_column(Text)
    # [{start_ms, end_ms, reason}], offsets from started_at; end_ms None while paused.
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # How many pcap segments rtpengine wrote (set at the stop).
    segments: Mapped[int | None] = mapped_column(Integer)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_hold_by: Mapped[str | None] = mapped_column(Username)


class RecordingAccess(Base):
    """The audit log of recordings: who played, downloaded, held, released or deleted
    which one, when. No foreign key: a deletion's entry outlives the recording."""

    __tablename__ = "recording_access_log"
    __table_args__ = (CheckConstraint(_one_of("action", RECORDING_ACCESS_ACTIONS), name="action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(HexId, index=True)
    # An account, or "retention" for the recorder's deletions.
    actor: Mapped[str] = mapped_column(Username)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(Instant)


class VoicemailMessage(Base):
    """A message left in a voicemail box: its WAV is voicemail.dir/<box>/<message_id>.wav."""

    __tablename__ = "voicemail_messages"
    __table_args__ = (
        # A box's messages, the new ones first: listing, counting for MWI.
        Index("ix_voicemail_messages_box_heard", "box", "heard"),
    )

    message_id: Mapped[str] = mapped_column(HexId, primary_key=True)
    box: Mapped[str] = mapped_column(String(100))
    caller: Mapped[str] = mapped_column(PhoneNumber)
    call_id: Mapped[str] = mapped_column(CallId)
    # The recording it was made from (its row may be gone: no foreign key).
    recording_ref: Mapped[str] = mapped_column(HexId)
    received_at: Mapped[datetime] = mapped_column(Instant)
    duration_ms: Mapped[int] = mapped_column(Integer)
    file: Mapped[str] = mapped_column(RelativePath)
    heard: Mapped[bool] = mapped_column(Boolean, default=False)
    heard_at: Mapped[datetime | None] = mapped_column(Instant)
    heard_by: Mapped[str | None] = mapped_column(Username)
