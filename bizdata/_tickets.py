"""Complaint tickets (R-AG-7): a complaint dispatched to a responsible unit, tracked
through assigned -> in_progress -> resolved -> closed with a history of who did what
and when, in each unit's queue with the overdue ones flagged.

The units are configuration (configuration.TicketUnit): the caller names one and gives
its `overdue_after_h`, the store keeps the code. The moves:

    assigned    -> in_progress            (someone takes it on: they are its assignee)
    in_progress -> resolved
    resolved    -> closed | in_progress   (closed for good, or reopened)
    assigned | in_progress -> assigned with another unit   (dispatched again; due anew)

Anything else is refused with InvalidTransition saying where the ticket can go.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import _desk_fields as check
from ._complaints import complaint_of
from ._desk_records import event_record, iso, session, utc
from ._errors import InvalidField, InvalidTransition, NotFound, VersionConflict
from ._models import TICKET_STATUSES, Complaint, Customer, Ticket, TicketEvent

__all__ = [
    "ACTIVE_STATUSES",
    "MOVES",
    "create_ticket",
    "get_ticket",
    "list_tickets",
    "transition_ticket",
]

# Where a ticket may go from each status (dispatching again aside).
MOVES: dict[str, tuple[str, ...]] = {
    "assigned": ("in_progress",),
    "in_progress": ("resolved",),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}
# A ticket being worked on: it can be dispatched again, and it is overdue past due_at.
ACTIVE_STATUSES = ("assigned", "in_progress")
MAX_TICKETS = 500


def create_ticket(
    engine: Engine,
    *,
    complaint_id: int,
    unit: str,
    overdue_after_h: int,
    by: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Dispatch a complaint to `unit`: a ticket, status assigned, due `overdue_after_h`
    hours from `now`, its history started. NotFound when there is no such complaint."""
    unit = check.code("unit", unit)
    hours = check.positive_int("overdue_after_h", overdue_after_h, maximum=24 * 365)
    by = check.username(by)
    at = check.instant(now)
    with session(engine) as db:
        complaint_of(db, complaint_id)  # NotFound
        ticket = Ticket(
            complaint_id=complaint_id,
            unit=unit,
            status="assigned",
            due_at=at + timedelta(hours=hours),
            created_at=at,
            updated_at=at,
        )
        db.add(ticket)
        db.flush()
        db.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=at,
                by=by,
                from_status=None,
                to_status="assigned",
                unit=unit,
                note=None,
            )
        )
        db.flush()
        return _full_record(db, ticket, at)


def transition_ticket(
    engine: Engine,
    id: int,
    *,
    to: str,
    by: str,
    note: str | None,
    version: int,
    unit: str | None = None,
    overdue_after_h: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move ticket `id`, read at `version`, to status `to` (with `unit` and its
    `overdue_after_h`: dispatch it to that unit, `to` being "assigned"); the history
    gains who, when and `note`. The ticket after, with its history. VersionConflict
    (with `current`) when it changed since; InvalidTransition; NotFound; InvalidField."""
    if to not in TICKET_STATUSES:
        raise InvalidField("to", f"must be one of {', '.join(TICKET_STATUSES)}, not {to!r}")
    by = check.username(by)
    note = check.note(note)
    at = check.instant(now)
    if unit is not None:
        unit = check.code("unit", unit)
        if overdue_after_h is None:
            raise InvalidField("overdue_after_h", "is needed to dispatch to another unit")
        hours = check.positive_int("overdue_after_h", overdue_after_h, maximum=24 * 365)
    try:
        with session(engine) as db:
            ticket = _load(db, id)
            if version != ticket.version:
                raise VersionConflict(
                    f"ticket {id} was changed since you read it (version {version}, now "
                    f"{ticket.version}): reload it and try again",
                    _full_record(db, ticket, at),
                )
            before = ticket.status
            if unit is not None:
                _check_dispatch(ticket, to, unit)
                ticket.unit = unit
                ticket.due_at = at + timedelta(hours=hours)
                ticket.assignee = None
            else:
                _check_move(ticket, to)
                if to == "in_progress":
                    ticket.assignee = by
            ticket.status = to
            ticket.updated_at = at
            db.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    at=at,
                    by=by,
                    from_status=before,
                    to_status=to,
                    unit=ticket.unit,
                    note=note,
                )
            )
            db.flush()
            return _full_record(db, ticket, at)
    except StaleDataError:
        current = get_ticket(engine, id, now=now)
        raise VersionConflict(
            f"ticket {id} was changed by someone else at the same time (now version "
            f"{current['version']}): reload it and try again",
            current,
        ) from None


def _check_move(ticket: Ticket, to: str) -> None:
    allowed = MOVES[ticket.status]
    if to in allowed:
        return
    if to == "assigned" and ticket.status in ACTIVE_STATUSES:
        raise InvalidTransition(
            f"ticket {ticket.id} goes back to assigned only when dispatched to another "
            "unit: name the unit"
        )
    where = " or ".join(allowed) if allowed else "nowhere: it is closed for good"
    raise InvalidTransition(
        f"ticket {ticket.id} is {ticket.status}: it can go to {where}, not to {to}"
    )


def _check_dispatch(ticket: Ticket, to: str, unit: str) -> None:
    if to != "assigned":
        raise InvalidTransition(
            f"dispatching ticket {ticket.id} to another unit makes it assigned, not {to}"
        )
    if ticket.status not in ACTIVE_STATUSES:
        raise InvalidTransition(
            f"ticket {ticket.id} is {ticket.status}: only an assigned or in-progress "
            "ticket is dispatched to another unit (reopen it first)"
        )
    if unit == ticket.unit:
        raise InvalidTransition(f"ticket {ticket.id} is already with {unit}")


def get_ticket(
    engine: Engine,
    id: int,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The ticket with its complaint and its history ({at, by, from, to, unit, note},
    oldest first); `overdue` as of `now`. NotFound."""
    at = check.instant(now)
    with session(engine) as db:
        return _full_record(db, _load(db, id), at)


def list_tickets(
    engine: Engine,
    *,
    unit: str | None = None,
    status: str | None = None,
    overdue_only: bool = False,
    now: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A queue: the tickets of `unit` (every unit: None) in `status` (any: None), or
    only the overdue ones, soonest due first, each with `overdue` as of `now`."""
    if status is not None and status not in TICKET_STATUSES:
        raise InvalidField("status", f"must be one of {', '.join(TICKET_STATUSES)}, not {status!r}")
    if unit is not None:
        unit = check.code("unit", unit)
    at = check.instant(now)
    limit = max(1, min(int(limit), MAX_TICKETS))
    with session(engine) as db:
        statement = (
            select(Ticket, Complaint.customer_id, Complaint.category, Customer.name)
            .join(Complaint, Ticket.complaint_id == Complaint.id)
            .join(Customer, Complaint.customer_id == Customer.id)
        )
        if unit is not None:
            statement = statement.where(Ticket.unit == unit)
        if status is not None:
            statement = statement.where(Ticket.status == status)
        if overdue_only:
            statement = statement.where(Ticket.status.in_(ACTIVE_STATUSES), Ticket.due_at < at)
        rows = db.execute(statement.order_by(Ticket.due_at, Ticket.id).limit(limit))
        return [
            _record(ticket, customer_id, category, name, at)
            for ticket, customer_id, category, name in rows.tuples()
        ]


def _load(db: Session, id: int) -> Ticket:
    ticket = db.get(Ticket, id) if isinstance(id, int) and not isinstance(id, bool) else None
    if ticket is None:
        raise NotFound(f"there is no ticket {id!r}")
    return ticket


def _record(
    ticket: Ticket, customer_id: int, category: str, customer_name: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "complaint_id": ticket.complaint_id,
        "customer_id": customer_id,
        "customer_name": customer_name,
        "category": category,
        "unit": ticket.unit,
        "status": ticket.status,
        "assignee": ticket.assignee,
        "due_at": iso(ticket.due_at),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "version": ticket.version,
        "overdue": ticket.status in ACTIVE_STATUSES and utc(ticket.due_at) < now,
    }


def _full_record(db: Session, ticket: Ticket, now: datetime) -> dict[str, Any]:
    complaint = complaint_of(db, ticket.complaint_id)
    events = db.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return {
        **_record(
            ticket, complaint["customer_id"], complaint["category"], complaint["customer_name"], now
        ),
        "complaint": complaint,
        "history": [event_record(e) for e in events],
    }
