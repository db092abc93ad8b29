"""Customer records, complaints and tickets (R-AG-5..7) over the business data store.
Agents only: a supervisor uses the desktop as a softphone."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from configuration import TicketUnit

from ._errors import ApiError
from ._http import Ctx, api, opt_str, req_int, req_str
from ._records import recording_ref

__all__ = ["record_routes"]

AGENTS = ("agent",)
# Fields the store owns: a client's copy of them is ignored, not trusted.
_SERVER_FIELDS = ("id", "version", "created_at", "updated_at", "updated_by", "accounts")
MAX_RESULTS = 20
TICKET_STATUSES = ("assigned", "in_progress", "resolved", "closed")


def _customer_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _SERVER_FIELDS}


def search_customers(ctx: Ctx) -> dict[str, Any]:
    q = (ctx.query("q") or "").strip()
    if len(q) < 2 or len(q) > 100:
        raise ApiError(422, "invalid", "q: 2..100 characters (name, phone or account)", field="q")
    return {"customers": ctx.desk.records.call("search_customers", q, limit=MAX_RESULTS)}


def get_customer(ctx: Ctx) -> Any:
    return ctx.desk.records.call("get_customer", ctx.path_int("id"))


def create_customer(ctx: Ctx) -> Any:
    ctx.status = 201
    return ctx.desk.records.call("create_customer", _customer_fields(ctx.body), by=ctx.me.username)


def update_customer(ctx: Ctx) -> Any:
    version = req_int(ctx.body.get("version"), "version", low=1)
    return ctx.desk.records.call(
        "update_customer",
        ctx.path_int("id"),
        _customer_fields(ctx.body),
        version=version,
        by=ctx.me.username,
    )


def delete_customer(ctx: Ctx) -> None:
    version = req_int(ctx.query("version"), "version", low=1)
    ctx.desk.records.call("delete_customer", ctx.path_int("id"), version=version)
    ctx.status = 204


def search_complaints(ctx: Ctx) -> dict[str, Any]:
    raw_customer = ctx.query("customer_id")
    customer_id = None if not raw_customer else req_int(raw_customer, "customer_id", low=1)
    q = (ctx.query("q") or "").strip() or None
    if q is not None and len(q) > 100:
        raise ApiError(422, "invalid", "q: at most 100 characters", field="q")
    complaints = ctx.desk.records.call(
        "search_complaints", customer_id=customer_id, text=q, limit=MAX_RESULTS
    )
    return {"complaints": complaints}


def create_complaint(ctx: Ctx) -> Any:
    body = ctx.body
    customer_id = req_int(body.get("customer_id"), "customer_id", low=1)
    call_id = opt_str(body, "call_id", max_len=64)
    category = req_str(body, "category", max_len=32)
    description = req_str(body, "description", max_len=4000)
    ctx.status = 201
    return ctx.desk.records.call(
        "create_complaint",
        customer_id=customer_id,
        call_id=call_id,
        recording_ref=recording_ref(call_id),
        category=category,
        description=description,
        by=ctx.me.username,
    )


def _unit(ctx: Ctx, code: str) -> TicketUnit:
    for unit in ctx.desk.settings.desktop.ticket_units:
        if unit.code == code:
            return unit
    raise ApiError(422, "invalid", f"unit: one of the ticket units, not {code!r}", field="unit")


def create_ticket(ctx: Ctx) -> Any:
    complaint_id = req_int(ctx.body.get("complaint_id"), "complaint_id", low=1)
    unit = _unit(ctx, req_str(ctx.body, "unit", max_len=32))
    ctx.status = 201
    return ctx.desk.records.call(
        "create_ticket",
        complaint_id=complaint_id,
        unit=unit.code,
        overdue_after_h=unit.overdue_after_h,
        by=ctx.me.username,
    )


def list_tickets(ctx: Ctx) -> dict[str, Any]:
    unit = ctx.query("unit") or None
    if unit is not None:
        _unit(ctx, unit)
    status = ctx.query("status") or None
    if status is not None and status not in TICKET_STATUSES:
        raise ApiError(
            422, "invalid", f"status: one of {', '.join(TICKET_STATUSES)}", field="status"
        )
    overdue = ctx.query("overdue") in ("1", "true")
    tickets = ctx.desk.records.call("list_tickets", unit=unit, status=status, overdue_only=overdue)
    return {"tickets": tickets}


def get_ticket(ctx: Ctx) -> Any:
    return ctx.desk.records.call("get_ticket", ctx.path_int("id"))


def transition_ticket(ctx: Ctx) -> Any:
    body = ctx.body
    to = req_str(body, "to", max_len=16)
    if to not in TICKET_STATUSES:
        raise ApiError(422, "invalid", f"to: one of {', '.join(TICKET_STATUSES)}", field="to")
    version = req_int(body.get("version"), "version", low=1)
    note = opt_str(body, "note", max_len=4000)
    raw_unit = opt_str(body, "unit", max_len=32)
    unit = None if raw_unit is None else _unit(ctx, raw_unit)
    return ctx.desk.records.call(
        "transition_ticket",
        ctx.path_int("id"),
        to=to,
        note=note,
        version=version,
        unit=None if unit is None else unit.code,
        overdue_after_h=None if unit is None else unit.overdue_after_h,
        by=ctx.me.username,
    )


def record_routes() -> list[Route]:
    def route(path: str, handler: Any, method: str) -> Route:
        return Route(path, api(handler, roles=AGENTS), methods=[method])

    return [
        route("/api/customers", search_customers, "GET"),
        route("/api/customers", create_customer, "POST"),
        route("/api/customers/{id}", get_customer, "GET"),
        route("/api/customers/{id}", update_customer, "PUT"),
        route("/api/customers/{id}", delete_customer, "DELETE"),
        route("/api/complaints", search_complaints, "GET"),
        route("/api/complaints", create_complaint, "POST"),
        route("/api/tickets", list_tickets, "GET"),
        route("/api/tickets", create_ticket, "POST"),
        route("/api/tickets/{id}", get_ticket, "GET"),
        route("/api/tickets/{id}/transition", transition_ticket, "POST"),
    ]
