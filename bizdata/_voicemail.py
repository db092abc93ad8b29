"""Voicemail messages (docs/recording.md, "Voicemail"): the recorder adds one when it has
stored a message's WAV, the ACD lists, plays, marks heard and deletes them, presence
counts them for the message-waiting lamp. The boxes are configuration: the store keeps
a box's name and knows nothing of which boxes exist."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from . import _desk_fields as check
from ._desk_records import iso, session
from ._errors import InvalidField, NotFound
from ._models import VoicemailMessage
from ._recording_fields import count, hex_id, instant, plain, relative_file

__all__ = [
    "add_voicemail",
    "count_voicemail",
    "delete_voicemail",
    "get_voicemail",
    "list_voicemail",
    "mark_voicemail_heard",
    "voicemail_record",
]


def voicemail_record(row: VoicemailMessage) -> dict[str, Any]:
    return {
        "message_id": row.message_id,
        "box": row.box,
        "caller": row.caller,
        "call_id": row.call_id,
        "recording_ref": row.recording_ref,
        "received_at": iso(row.received_at),
        "duration_ms": row.duration_ms,
        "file": row.file,
        "heard": row.heard,
        "heard_at": iso(row.heard_at),
        "heard_by": row.heard_by,
    }


def _box(value: Any) -> str:
    box = plain("box", value, max_len=100)
    if not box:
        raise InvalidField("box", "must not be empty")
    return box


def add_voicemail(
    engine: Engine,
    *,
    message_id: str,
    box: str,
    caller: str,
    call_id: str,
    recording_ref: str,
    received_at: datetime,
    duration_ms: int,
    file: str,
) -> dict[str, Any]:
    """A new message, not heard; the message already there, unchanged, when this
    message_id was added before (the recorder retrying after a crash)."""
    values: dict[str, Any] = {
        "message_id": hex_id("message_id", message_id),
        "box": _box(box),
        "caller": plain("caller", caller, max_len=64),
        "call_id": check.call_id(call_id, required=True),
        "recording_ref": hex_id("recording_ref", recording_ref),
        "received_at": instant("received_at", received_at),
        "duration_ms": count("duration_ms", duration_ms),
        "file": relative_file(file),
        "heard": False,
    }
    with session(engine) as db:
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        db.execute(insert(VoicemailMessage).values(**values).on_conflict_do_nothing())
        row = db.get(VoicemailMessage, values["message_id"])
        assert row is not None
        return voicemail_record(row)


def list_voicemail(
    engine: Engine, *, boxes: Iterable[str] | None = None, include_heard: bool = False
) -> list[dict[str, Any]]:
    """The messages in `boxes` (None: every box), newest first; the new ones only unless
    `include_heard`."""
    query = select(VoicemailMessage)
    if boxes is not None:
        if isinstance(boxes, str):
            raise InvalidField("boxes", "must be a list of box names, not one name")
        names = [_box(b) for b in boxes]
        if not names:
            return []
        query = query.where(VoicemailMessage.box.in_(names))
    if not include_heard:
        query = query.where(VoicemailMessage.heard.is_(False))
    query = query.order_by(VoicemailMessage.received_at.desc(), VoicemailMessage.message_id)
    with session(engine) as db:
        return [voicemail_record(r) for r in db.scalars(query)]


def count_voicemail(engine: Engine, box: str) -> dict[str, int]:
    """{"new": n, "heard": m}: what the message-waiting indication says (a box nobody
    left a message in: zeros)."""
    box = _box(box)
    with session(engine) as db:
        rows = db.execute(
            select(VoicemailMessage.heard, func.count())
            .where(VoicemailMessage.box == box)
            .group_by(VoicemailMessage.heard)
        )
        counts = {bool(heard): int(n) for heard, n in rows}
    return {"new": counts.get(False, 0), "heard": counts.get(True, 0)}


def get_voicemail(engine: Engine, message_id: str) -> dict[str, Any]:
    with session(engine) as db:
        row = db.get(VoicemailMessage, hex_id("message_id", message_id))
        if row is None:
            raise NotFound(f"no voicemail message {message_id}")
        return voicemail_record(row)


def mark_voicemail_heard(engine: Engine, message_id: str, *, by: str) -> dict[str, Any]:
    """The message, heard by `by` now; one heard before stays as it was (first listener)."""
    by = check.username(by)
    with session(engine) as db:
        row = db.get(VoicemailMessage, hex_id("message_id", message_id), with_for_update=True)
        if row is None:
            raise NotFound(f"no voicemail message {message_id}")
        if not row.heard:
            row.heard = True
            row.heard_at = check.instant(None)
            row.heard_by = by
        return voicemail_record(row)


def delete_voicemail(engine: Engine, message_id: str) -> dict[str, Any]:
    """Delete a message's row (its WAV is the caller's to delete); the row as it was."""
    with session(engine) as db:
        row = db.get(VoicemailMessage, hex_id("message_id", message_id), with_for_update=True)
        if row is None:
            raise NotFound(f"no voicemail message {message_id}")
        record = voicemail_record(row)
        db.execute(delete(VoicemailMessage).where(VoicemailMessage.message_id == row.message_id))
        return record
