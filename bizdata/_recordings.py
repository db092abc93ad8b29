"""The index of recordings (docs/recording.md, "The index"): the recorder keeps a row per
recording as its events come, the Recordings page searches it, retention deletes it.

A recording's life, and what each function accepts:

    recording_started                      -> recording
    recording  -- paused / resumed         -> recording   (pauses: [{start_ms, end_ms, reason}])
    recording  -- stopped                  -> stopped     (waiting for conversion)
    stopped    -- stored                   -> stored
    recording | stopped -- failed          -> failed

The event log delivers at least once, so the same event again changes nothing:
`recording_started` keeps the first row for a ref, and a pause, resume, stop, store or
failure that repeats what the row already says returns it unchanged. Anything else out
of order is InvalidTransition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import _desk_fields as check
from ._desk_records import iso, session, utc
from ._errors import InUse, InvalidField, InvalidTransition, NotFound
from ._models import (
    RECORDING_ACCESS_ACTIONS,
    RECORDING_REASONS,
    Recording,
    RecordingAccess,
)
from ._recording_fields import count, hex_id, instant, limit_of, one_of, plain, relative_file

__all__ = [
    "PAUSE_REASONS",
    "delete_recording",
    "expired_recordings",
    "get_recording",
    "log_recording_access",
    "recording_access_log",
    "recording_failed",
    "recording_paused",
    "recording_record",
    "recording_resumed",
    "recording_started",
    "recording_stopped",
    "recording_stored",
    "recordings_stopped",
    "search_recordings",
    "set_legal_hold",
]

PAUSE_REASONS = ("agent", "sensitive")


def recording_record(row: Recording) -> dict[str, Any]:
    return {
        "ref": row.ref,
        "call_id": row.call_id,
        "name": row.name,
        "reason": row.reason,
        "media_node": row.media_node,
        "caller": row.caller,
        "agent": row.agent,
        "queue": row.queue,
        "number": row.number,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "duration_ms": row.duration_ms,
        "file": row.file,
        "status": row.status,
        "failure": row.failure,
        "failure_detail": row.failure_detail,
        "pauses": [dict(p) for p in row.pauses],
        "segments": row.segments,
        "legal_hold": row.legal_hold,
        "legal_hold_by": row.legal_hold_by,
    }


def _access_record(row: RecordingAccess) -> dict[str, Any]:
    return {
        "id": row.id,
        "ref": row.ref,
        "actor": row.actor,
        "action": row.action,
        "at": iso(row.at),
    }


def _load(db: Session, ref: Any) -> Recording:
    ref = hex_id("ref", ref)
    row = db.get(Recording, ref, with_for_update=True)
    if row is None:
        raise NotFound(f"no recording {ref}")
    return row


def _offset_ms(row: Recording, at: datetime) -> int:
    offset = round((at - utc(row.started_at)).total_seconds() * 1000)
    if offset < 0:
        raise InvalidField("at", f"{at.isoformat()} is before the recording started")
    return offset


def _refuse(row: Recording, what: str) -> InvalidTransition:
    return InvalidTransition(f"recording {row.ref} is {row.status}: it cannot be {what}")


def recording_started(
    engine: Engine,
    *,
    ref: str,
    call_id: str,
    name: str,
    reason: str,
    media_node: str,
    caller: str,
    agent: str,
    queue: str,
    number: str,
    started_at: datetime,
) -> dict[str, Any]:
    """The row for recording.started (status recording); the row already there, unchanged,
    when this ref was started before (a re-delivered event)."""
    values: dict[str, Any] = {
        "ref": hex_id("ref", ref),
        "call_id": check.call_id(call_id, required=True),
        "name": plain("name", name, max_len=100),
        "reason": one_of("reason", reason, RECORDING_REASONS),
        "media_node": plain("media_node", media_node, max_len=100),
        "caller": plain("caller", caller, max_len=64),
        "agent": plain("agent", agent, max_len=64),
        "queue": plain("queue", queue, max_len=64),
        "number": plain("number", number, max_len=64),
        "started_at": instant("started_at", started_at),
        "status": "recording",
        "pauses": [],
        "legal_hold": False,
    }
    with session(engine) as db:
        insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
        # One statement: two recorders (or a retry) racing leave the first row whole.
        db.execute(insert(Recording).values(**values).on_conflict_do_nothing())
        row = db.get(Recording, values["ref"])
        assert row is not None
        return recording_record(row)


def recording_paused(engine: Engine, ref: str, *, at: datetime, reason: str) -> dict[str, Any]:
    """recording.paused: a pause opens at `at` (its offset from the start, in ms)."""
    at = instant("at", at)
    reason = one_of("reason", reason, PAUSE_REASONS)
    with session(engine) as db:
        row = _load(db, ref)
        start_ms = _offset_ms(row, at)
        last = row.pauses[-1] if row.pauses else None
        if last is not None and last["start_ms"] == start_ms and last["reason"] == reason:
            return recording_record(row)  # this very pause, again
        if row.status != "recording":
            raise _refuse(row, "paused")
        if last is not None and last["end_ms"] is None:
            raise InvalidTransition(f"recording {row.ref} is already paused")
        # A new list: SQLAlchemy sees a JSON column change only when it is assigned.
        row.pauses = [*row.pauses, {"start_ms": start_ms, "end_ms": None, "reason": reason}]
        return recording_record(row)


def recording_resumed(engine: Engine, ref: str, *, at: datetime) -> dict[str, Any]:
    """recording.resumed: the open pause ends at `at`."""
    at = instant("at", at)
    with session(engine) as db:
        row = _load(db, ref)
        end_ms = _offset_ms(row, at)
        last = row.pauses[-1] if row.pauses else None
        if last is not None and last["end_ms"] == end_ms:
            return recording_record(row)  # this very resume, again
        if row.status != "recording":
            raise _refuse(row, "resumed")
        if last is None or last["end_ms"] is not None:
            raise InvalidTransition(f"recording {row.ref} is not paused")
        if end_ms < last["start_ms"]:
            raise InvalidField("at", f"{at.isoformat()} is before the pause began")
        row.pauses = [*row.pauses[:-1], {**last, "end_ms": end_ms}]
        return recording_record(row)


def recording_stopped(engine: Engine, ref: str, *, at: datetime, segments: int) -> dict[str, Any]:
    """recording.stopped: the timeline ends at `at` (duration_ms from the start), with
    `segments` pcap files to convert; a pause still open ends there too."""
    at = instant("at", at)
    segments = count("segments", segments)
    with session(engine) as db:
        row = _load(db, ref)
        duration_ms = _offset_ms(row, at)
        if row.status == "stopped" and (row.duration_ms, row.segments) == (duration_ms, segments):
            return recording_record(row)  # this very stop, again
        if row.status != "recording":
            raise _refuse(row, "stopped")
        if row.pauses and row.pauses[-1]["end_ms"] is None:
            row.pauses = [*row.pauses[:-1], {**row.pauses[-1], "end_ms": duration_ms}]
        row.ended_at = at
        row.duration_ms = duration_ms
        row.segments = segments
        row.status = "stopped"
        return recording_record(row)


def recording_stored(engine: Engine, ref: str, *, file: str, duration_ms: int) -> dict[str, Any]:
    """recording.stored: the WAV is at `file` (relative to recording.dir or voicemail.dir)."""
    file = relative_file(file)
    duration_ms = count("duration_ms", duration_ms)
    with session(engine) as db:
        row = _load(db, ref)
        if row.status == "stored" and row.file == file:
            return recording_record(row)
        if row.status != "stopped":
            raise _refuse(row, "stored")
        row.file = file
        row.duration_ms = duration_ms
        row.status = "stored"
        return recording_record(row)


def recording_failed(
    engine: Engine,
    ref: str,
    *,
    reason: str,
    detail: str,
    file: str | None = None,
    duration_ms: int | None = None,
) -> dict[str, Any]:
    """recording.failed (reason: disk_full, missing, rtpengine, convert, short). A failure
    that still left a WAV (`short`: the pcap ended early) gives its `file` and
    `duration_ms`, so the row points at it while never claiming to be complete."""
    reason = check.code("reason", reason)
    detail_text = check.note(detail, "detail")
    file = None if file is None else relative_file(file)
    duration = None if duration_ms is None else count("duration_ms", duration_ms)
    with session(engine) as db:
        row = _load(db, ref)
        if row.status == "failed" and row.failure == reason:
            return recording_record(row)
        if row.status not in ("recording", "stopped"):
            raise _refuse(row, "failed")
        row.status = "failed"
        row.failure = reason
        row.failure_detail = detail_text
        if file is not None:
            row.file = file
        if duration is not None:
            row.duration_ms = duration
        return recording_record(row)


def recordings_stopped(engine: Engine) -> list[dict[str, Any]]:
    """The recordings stopped and not yet converted (stored or failed), oldest stop first:
    what a recorder picks up again after a restart."""
    with session(engine) as db:
        rows = db.scalars(
            select(Recording)
            .where(Recording.status == "stopped")
            .order_by(Recording.ended_at, Recording.ref)
        )
        return [recording_record(r) for r in rows]


def get_recording(engine: Engine, ref: str) -> dict[str, Any]:
    with session(engine) as db:
        row = db.get(Recording, hex_id("ref", ref))
        if row is None:
            raise NotFound(f"no recording {ref}")
        return recording_record(row)


def search_recordings(
    engine: Engine,
    *,
    call_id: str | None = None,
    agent: str | None = None,
    number: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Recordings matching every criterion given (none: all), newest first, at most
    `limit` (capped at MAX_LIMIT). `number` is the caller's or the dialled number;
    `since` (inclusive) and `until` (exclusive) bound the start."""
    query = select(Recording)
    if call_id is not None:
        query = query.where(Recording.call_id == plain("call_id", call_id, max_len=64))
    if agent is not None:
        query = query.where(Recording.agent == plain("agent", agent, max_len=64))
    if number is not None:
        number = plain("number", number, max_len=64)
        query = query.where((Recording.caller == number) | (Recording.number == number))
    if since is not None:
        query = query.where(Recording.started_at >= instant("since", since))
    if until is not None:
        query = query.where(Recording.started_at < instant("until", until))
    query = query.order_by(Recording.started_at.desc(), Recording.ref).limit(limit_of(limit))
    with session(engine) as db:
        return [recording_record(r) for r in db.scalars(query)]


def set_legal_hold(engine: Engine, ref: str, *, hold: bool, by: str) -> dict[str, Any]:
    """Put a recording on legal hold (retention keeps it; it cannot be deleted) or release
    it; either is logged in the access log (hold / release) in the same transaction."""
    if not isinstance(hold, bool):
        raise InvalidField("hold", f"must be true or false, not {hold!r}")
    by = check.username(by)
    with session(engine) as db:
        row = _load(db, ref)
        row.legal_hold = hold
        row.legal_hold_by = by if hold else None
        db.add(
            RecordingAccess(
                ref=row.ref, actor=by, action="hold" if hold else "release", at=check.instant(None)
            )
        )
        return recording_record(row)


def log_recording_access(engine: Engine, ref: str, *, actor: str, action: str) -> None:
    """One entry in the access log. The recording need not exist any more: retention logs
    its deletions after them."""
    entry = RecordingAccess(
        ref=hex_id("ref", ref),
        actor=check.username(actor, "actor"),
        action=one_of("action", action, RECORDING_ACCESS_ACTIONS),
        at=check.instant(None),
    )
    with session(engine) as db:
        db.add(entry)


def recording_access_log(
    engine: Engine, *, ref: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The access log (one recording's, or everyone's), newest first."""
    query = select(RecordingAccess)
    if ref is not None:
        query = query.where(RecordingAccess.ref == hex_id("ref", ref))
    query = query.order_by(RecordingAccess.id.desc()).limit(limit_of(limit))
    with session(engine) as db:
        return [_access_record(r) for r in db.scalars(query)]


def expired_recordings(engine: Engine, *, before: datetime) -> list[dict[str, Any]]:
    """The stored or failed recordings that ended before `before` (one that failed
    before it stopped: started before) and are not on legal hold, oldest first: what
    retention deletes."""
    before = instant("before", before)
    # A recording that failed before it stopped has no end: its start stands for it.
    ended = func.coalesce(Recording.ended_at, Recording.started_at)
    with session(engine) as db:
        rows = db.scalars(
            select(Recording)
            .where(
                Recording.status.in_(("stored", "failed")),
                ended < before,
                Recording.legal_hold.is_(False),
            )
            .order_by(ended, Recording.ref)
        )
        return [recording_record(r) for r in rows]


def delete_recording(engine: Engine, ref: str) -> dict[str, Any]:
    """Delete a recording's row (its file is the caller's to delete); the row as it was.
    A recording on legal hold is refused (InUse). The caller logs the deletion."""
    with session(engine) as db:
        row = _load(db, ref)
        if row.legal_hold:
            raise InUse(f"recording {row.ref} is on legal hold (by {row.legal_hold_by})")
        record = recording_record(row)
        db.execute(delete(Recording).where(Recording.ref == row.ref))
        return record
