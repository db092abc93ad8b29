"""What the desk API hands back: plain JSON-able dicts built from the rows, and the
session every call runs in (driver failures become StoreError)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ._engine import display_url, driver_message
from ._errors import StoreError
from ._models import Account, CallWrapUp, Complaint, Customer, TicketEvent

__all__ = [
    "account_record",
    "complaint_record",
    "customer_record",
    "event_record",
    "iso",
    "session",
    "utc",
    "wrap_up_record",
]


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error. A
    driver's failure (the database is gone, a lock timed out) is a StoreError naming
    the database; the API's own refusals pass through as they are, and so does
    StaleDataError (a concurrent edit: the caller turns it into VersionConflict)."""
    try:
        with Session(engine, expire_on_commit=False) as db, db.begin():
            yield db
    except StaleDataError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(f"{display_url(engine.url)}: {driver_message(exc)}") from exc


def utc(value: datetime) -> datetime:
    """An instant read back from the store, in UTC (SQLite keeps no zone: it is UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value).isoformat()
    return value.isoformat()


def _money(value: Decimal | None) -> str | None:
    # A string: JSON numbers are floats to most readers, and money is exact.
    return None if value is None else f"{value:.2f}"


def account_record(account: Account) -> dict[str, Any]:
    return {
        "account_number": account.account_number,
        "service_address": account.service_address,
        "balance": _money(account.balance),
        "due_date": iso(account.due_date),
        "status": account.status,
        "last_payment_date": iso(account.last_payment_date),
        "last_payment_amount": _money(account.last_payment_amount),
    }


def customer_record(customer: Customer, accounts: list[Account]) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "phone": customer.phone,
        "language": customer.language,
        "customer_type": customer.customer_type,
        "address": customer.address,
        "email": customer.email,
        "notes": customer.notes,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
        "updated_by": customer.updated_by,
        "version": customer.version,
        "accounts": [account_record(a) for a in sorted(accounts, key=lambda a: a.account_number)],
    }


def complaint_record(
    complaint: Complaint, customer_name: str, tickets: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": complaint.id,
        "customer_id": complaint.customer_id,
        "customer_name": customer_name,
        "call_id": complaint.call_id,
        "recording_ref": complaint.recording_ref,
        "category": complaint.category,
        "description": complaint.description,
        "created_by": complaint.created_by,
        "created_at": iso(complaint.created_at),
        "tickets": tickets,
    }


def event_record(event: TicketEvent) -> dict[str, Any]:
    # The keys docs/desktop.md gives a ticket's history.
    return {
        "at": iso(event.at),
        "by": event.by,
        "from": event.from_status,
        "to": event.to_status,
        "unit": event.unit,
        "note": event.note,
    }


def wrap_up_record(wrap_up: CallWrapUp) -> dict[str, Any]:
    return {
        "call_id": wrap_up.call_id,
        "employee_id": wrap_up.employee_id,
        "username": wrap_up.username,
        "code": wrap_up.code,
        "note": wrap_up.note,
        "at": iso(wrap_up.at),
    }
