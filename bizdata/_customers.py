"""Customer records as agents see and edit them (R-AG-5, R-AG-6): the screen pop's
lookup, and create, read, update, delete with a version check.

Every edit names the version it was made on. A different version is refused with the
record as it is now (VersionConflict), and SQLAlchemy's version counter catches the
edit that lands between our read and our write, so no edit ever overwrites another
silently. Accounts come with the record but are not edited here: they are billing's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import _desk_fields as check
from ._desk_records import customer_record, session
from ._errors import InUse, NotFound, VersionConflict
from ._models import OPEN_TICKET_STATUSES, Account, Complaint, Customer, Ticket, TicketEvent

__all__ = [
    "create_customer",
    "delete_customer",
    "find_customer_for_call",
    "get_customer",
    "update_customer",
]


def find_customer_for_call(
    engine: Engine, *, account: str | None, phone: str | None
) -> dict[str, Any] | None:
    """The screen pop: the customer who owns `account` (the number the caller entered
    in the IVR), else the first customer with `phone` (the calling number, as the edge
    normalises it); None when neither finds one. The record has its accounts, and
    `matched_by`: "account" or "phone"."""
    account = (account or "").strip()
    phone = (phone or "").strip()
    with session(engine) as db:
        customer = None
        matched_by = "account"
        if account:
            customer = db.scalars(
                select(Customer).join(Account).where(Account.account_number == account)
            ).first()
        if customer is None and phone:
            matched_by = "phone"
            customer = db.scalars(
                select(Customer).where(Customer.phone == phone).order_by(Customer.id).limit(1)
            ).first()
        if customer is None:
            return None
        return {**_record(db, customer), "matched_by": matched_by}


def get_customer(engine: Engine, id: int) -> dict[str, Any]:
    """The customer with its accounts; NotFound when there is none."""
    with session(engine) as db:
        return _record(db, _load(db, id))


def create_customer(engine: Engine, fields: Mapping[str, Any], *, by: str) -> dict[str, Any]:
    """A new customer from `fields` (name and phone required; language zh and
    customer_type resident by default; address, email, notes optional), at version 1.
    InvalidField names the first field refused."""
    clean = check.customer_fields(fields, creating=True)
    clean["updated_by"] = check.username(by)
    with session(engine) as db:
        customer = Customer(**clean)
        db.add(customer)
        db.flush()
        return customer_record(customer, [])


def update_customer(
    engine: Engine, id: int, fields: Mapping[str, Any], *, version: int, by: str
) -> dict[str, Any]:
    """Change the given fields of a customer read at `version`; the record after, its
    version one more (unchanged if nothing changed). VersionConflict (with `current`)
    when it changed since; NotFound; InvalidField."""
    clean = check.customer_fields(fields, creating=False)
    by = check.username(by)
    try:
        with session(engine) as db:
            customer = _load(db, id)
            _check_version(db, customer, version)
            changed = {k: v for k, v in clean.items() if getattr(customer, k) != v}
            if changed:
                for name, value in changed.items():
                    setattr(customer, name, value)
                customer.updated_by = by
                db.flush()
            return _record(db, customer)
    except StaleDataError:
        raise _raced(engine, id) from None


def delete_customer(engine: Engine, id: int, *, version: int) -> None:
    """Delete a customer read at `version`, with their complaints and closed tickets.
    InUse while they have accounts (billing's records) or tickets not yet closed;
    VersionConflict when the record changed since; NotFound."""
    try:
        with session(engine) as db:
            customer = _load(db, id)
            _check_version(db, customer, version)
            accounts = db.scalar(select(func.count()).where(Account.customer_id == id)) or 0
            open_tickets = (
                db.scalar(
                    select(func.count())
                    .select_from(Ticket)
                    .join(Complaint, Ticket.complaint_id == Complaint.id)
                    .where(Complaint.customer_id == id, Ticket.status.in_(OPEN_TICKET_STATUSES))
                )
                or 0
            )
            if accounts or open_tickets:
                held = [
                    *([f"{accounts} account(s)"] if accounts else []),
                    *([f"{open_tickets} ticket(s) not closed"] if open_tickets else []),
                ]
                raise InUse(
                    f"customer {id} cannot be deleted: they still have {' and '.join(held)}"
                )
            complaints = select(Complaint.id).where(Complaint.customer_id == id)
            tickets = select(Ticket.id).where(Ticket.complaint_id.in_(complaints))
            db.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(tickets)))
            db.execute(delete(Ticket).where(Ticket.complaint_id.in_(complaints)))
            db.execute(delete(Complaint).where(Complaint.customer_id == id))
            db.delete(customer)
    except StaleDataError:
        raise _raced(engine, id) from None


def _load(db: Session, id: int) -> Customer:
    customer = db.get(Customer, id) if isinstance(id, int) and not isinstance(id, bool) else None
    if customer is None:
        raise NotFound(f"there is no customer {id!r}")
    return customer


def _record(db: Session, customer: Customer) -> dict[str, Any]:
    accounts = list(db.scalars(select(Account).where(Account.customer_id == customer.id)))
    return customer_record(customer, accounts)


def _check_version(db: Session, customer: Customer, version: int) -> None:
    if version != customer.version:
        raise VersionConflict(
            f"customer {customer.id} was changed by {customer.updated_by or 'someone'} "
            f"since you read it (version {version}, now {customer.version}): "
            "reload it and make your change again",
            _record(db, customer),
        )


def _raced(engine: Engine, id: int) -> VersionConflict:
    """Someone else's write landed between our read and our write."""
    current = get_customer(engine, id)
    return VersionConflict(
        f"customer {id} was changed by {current['updated_by'] or 'someone'} at the same "
        f"time (now version {current['version']}): reload it and make your change again",
        current,
    )
