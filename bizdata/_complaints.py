"""Complaints agents record (R-AG-7): linked to the customer and, when one came in on a
call, to the call and its recording; searched by customer, by text, by call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from . import _desk_fields as check
from ._desk_records import complaint_record, session, utc
from ._errors import InvalidField, NotFound
from ._models import Complaint, Customer, Ticket
from ._search import complaint_text_filter

__all__ = ["DESCRIPTION_MAX", "create_complaint", "search_complaints"]

DESCRIPTION_MAX = check.NOTE_MAX
MAX_COMPLAINTS = 200


def create_complaint(
    engine: Engine,
    *,
    customer_id: int,
    call_id: str | None,
    recording_ref: str | None,
    category: str,
    description: str,
    by: str,
) -> dict[str, Any]:
    """Record a complaint of `customer_id` (NotFound when there is no such customer).
    `call_id` and `recording_ref` (the call's recording, as the caller of this API
    names it) are None for a complaint not made on a call; `category` is a code."""
    values = {
        "call_id": check.call_id(call_id),
        "recording_ref": check.text("recording_ref", recording_ref, max_len=200, required=False),
        "category": check.code("category", category),
        "description": check.text("description", description, max_len=DESCRIPTION_MAX),
        "created_by": check.username(by),
    }
    with session(engine) as db:
        customer = _customer(db, customer_id)
        complaint = Complaint(customer_id=customer.id, created_at=check.instant(None), **values)
        db.add(complaint)
        db.flush()
        return complaint_record(complaint, customer.name, [])


def search_complaints(
    engine: Engine,
    *,
    customer_id: int | None = None,
    text: str | None = None,
    call_id: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Complaints, newest first, that match every criterion given: of `customer_id`,
    whose description contains `text`, made on the call `call_id`. At least one is
    needed. Each has its tickets ({id, unit, status})."""
    if customer_id is None and not text and not call_id:
        raise InvalidField("text", "give a customer, some text or a call id to search by")
    limit = max(1, min(int(limit), MAX_COMPLAINTS))
    with session(engine) as db:
        statement = select(Complaint, Customer.name).join(
            Customer, Complaint.customer_id == Customer.id
        )
        if customer_id is not None:
            statement = statement.where(Complaint.customer_id == customer_id)
        if call_id:
            statement = statement.where(Complaint.call_id == check.call_id(call_id))
        if text:
            statement = statement.where(complaint_text_filter(db, text))
        rows = list(db.execute(statement.order_by(Complaint.id.desc()).limit(limit)))
        tickets = _tickets_of(db, [complaint.id for complaint, _ in rows])
        return [
            complaint_record(complaint, name, tickets.get(complaint.id, []))
            for complaint, name in rows
        ]


def complaint_of(db: Session, complaint_id: int) -> dict[str, Any]:
    """The complaint with its tickets (for a ticket's record); NotFound."""
    row = db.execute(
        select(Complaint, Customer.name)
        .join(Customer, Complaint.customer_id == Customer.id)
        .where(Complaint.id == complaint_id)
    ).first()
    if row is None:
        raise NotFound(f"there is no complaint {complaint_id!r}")
    complaint, name = row
    return complaint_record(complaint, name, _tickets_of(db, [complaint.id]).get(complaint.id, []))


def _customer(db: Session, customer_id: int) -> Customer:
    valid = isinstance(customer_id, int) and not isinstance(customer_id, bool)
    customer = db.get(Customer, customer_id) if valid else None
    if customer is None:
        raise NotFound(f"there is no customer {customer_id!r}")
    return customer


def _tickets_of(db: Session, complaint_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    if complaint_ids:
        for ticket in db.scalars(
            select(Ticket).where(Ticket.complaint_id.in_(complaint_ids)).order_by(Ticket.id)
        ):
            found.setdefault(ticket.complaint_id, []).append(
                {
                    "id": ticket.id,
                    "unit": ticket.unit,
                    "status": ticket.status,
                    "due_at": utc(ticket.due_at).isoformat(),
                }
            )
    return found
