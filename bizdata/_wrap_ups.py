"""Call wrap-ups: the code and note an agent saves with a call after it (R-AG-4). One
per agent and call; saving again replaces it, in one statement (an upsert), so two
saves racing leave one of them whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from . import _desk_fields as check
from ._desk_records import session, wrap_up_record
from ._models import CallWrapUp

__all__ = ["get_wrap_up", "save_wrap_up"]


def save_wrap_up(
    engine: Engine, *, call_id: str, employee_id: int, username: str, code: str, note: str | None
) -> dict[str, Any]:
    """Save (or replace) agent `employee_id`'s wrap-up of call `call_id`: a code (the
    caller checks it against the configured ones) and a note; the saved wrap-up."""
    call_id = check.call_id(call_id, required=True) or ""
    employee_id = check.positive_int("employee_id", employee_id)
    values = {
        "call_id": call_id,
        "employee_id": employee_id,
        "username": check.username(username, "username"),
        "code": check.code("code", code),
        "note": check.note(note),
        "at": check.instant(None),
    }
    with session(engine) as db:
        dialect = db.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(CallWrapUp).values(**values)
        db.execute(
            statement.on_conflict_do_update(
                index_elements=[CallWrapUp.call_id, CallWrapUp.employee_id],
                set_={k: statement.excluded[k] for k in ("username", "code", "note", "at")},
            )
        )
    found = get_wrap_up(engine, call_id, employee_id)
    assert found is not None
    return found


def get_wrap_up(engine: Engine, call_id: str, employee_id: int) -> dict[str, Any] | None:
    """Agent `employee_id`'s wrap-up of call `call_id`, or None when they saved none."""
    with session(engine) as db:
        wrap_up = db.scalars(
            select(CallWrapUp).where(
                CallWrapUp.call_id == call_id, CallWrapUp.employee_id == employee_id
            )
        ).first()
        return None if wrap_up is None else wrap_up_record(wrap_up)
