"""The ACD's voicemail RPCs (docs/recording.md, "Voicemail"): who may see which
mailbox, and the messages from the business store's index with their WAV files.

The recorder stores the messages (`voicemail_messages` rows, `voicemail.dir/<box>/
<message id>.wav`); the ACD only lists, plays, marks heard and deletes them, and writes
`voicemail.heard` / `voicemail.deleted` to the event log (presence updates the phones'
message-waiting lamps from them).

Who sees what: an agent at a desk its own box (`agent.<username>`, or a configured box
with `agent: <username>`), the boxes of the queues it serves (the skills it logged in
with meet the queue's) and the boxes whose `notify` names it; a supervisor at a desk
or an admin account every box.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import bizdata
import eventlog
from acd import QueueConfig
from acd_api.v1 import acd_pb2 as pb

from ._engine import StoreUnavailable
from ._settings import Settings

__all__ = ["Viewer", "Voicemail", "VoicemailError", "mailboxes", "may_see"]

log = logging.getLogger(__name__)
_POOL_SIZE = 2  # a few RPCs at a time; the ACD's commands never wait for the store
AGENT_BOX_PREFIX = "agent."


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asks: an account, and either every box or the ones its desk entitles it to."""

    username: str
    everything: bool
    skills: Mapping[str, int] = field(default_factory=dict)  # as logged in (agents)


class VoicemailError(Exception):
    """A refusal, with its acd.v1 code."""

    def __init__(self, code: pb.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code

    def to_proto(self) -> pb.Error:
        return pb.Error(code=self.code, message=str(self))


@dataclass(frozen=True, slots=True)
class Box:
    name: str
    queue: str | None = None
    agent: str | None = None
    notify: tuple[str, ...] = ()


def mailboxes(settings: Settings) -> dict[str, Box]:
    """Every mailbox: the configured ones and `agent.<username>` of each agent account
    (unless configured)."""
    boxes = {
        name: Box(name, spec.queue, spec.agent, tuple(spec.notify))
        for name, spec in settings.voicemail.boxes.items()
    }
    for username, entry in settings.accounts.items():
        name = AGENT_BOX_PREFIX + username
        if "agent" in entry.roles and name not in boxes:
            boxes[name] = Box(name, agent=username)
    return boxes


def may_see(viewer: Viewer, box: Box, queues: Collection[QueueConfig]) -> bool:
    """The module's rule (see its docstring)."""
    if viewer.everything or box.agent == viewer.username or viewer.username in box.notify:
        return True
    if box.queue is None:
        return False
    return any(
        q.name == box.queue and all(viewer.skills.get(s, 0) >= lvl for s, lvl in q.skills.items())
        for q in queues
    )


def message_to_proto(row: Mapping[str, Any]) -> pb.VoicemailMessage:
    received = row.get("received_at") or ""
    return pb.VoicemailMessage(
        message_id=row["message_id"],
        box=row["box"],
        caller=row.get("caller") or "",
        received_at=datetime.fromisoformat(received).timestamp() if received else 0.0,
        duration_ms=int(row.get("duration_ms") or 0),
        heard=bool(row.get("heard")),
        call_id=row.get("call_id") or "",
    )


class Voicemail:
    """The RPCs' work, against the business store (opened on first use)."""

    def __init__(self, settings: Settings, events: eventlog.EventLog) -> None:
        self._settings = settings
        self._events = events
        self._engine: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the RPCs

    def list(self, viewer: Viewer, box: str, include_heard: bool) -> list[pb.VoicemailMessage]:
        boxes = mailboxes(self._settings)
        if box:
            found = boxes.get(box)
            if found is None:
                raise VoicemailError(pb.ERROR_CODE_UNKNOWN_MAILBOX, f"no mailbox {box!r}")
            self._check(viewer, found)
            names: list[str] | None = [box]
        elif viewer.everything:
            names = None  # every box, also one no longer configured that still has messages
        else:
            names = sorted(n for n, b in boxes.items() if self._visible(viewer, b))
        rows = self._store(
            lambda e: bizdata.list_voicemail(e, boxes=names, include_heard=include_heard)
        )
        return [message_to_proto(row) for row in rows]

    def audio(self, viewer: Viewer, message_id: str) -> tuple[bytes, pb.VoicemailMessage]:
        row = self._message(viewer, message_id)
        path = self._file(row)
        try:
            wav = path.read_bytes() if path is not None else None
        except OSError as exc:
            log.error("voicemail %s: cannot read %s: %s", message_id, path, exc)
            wav = None
        if wav is None:
            raise VoicemailError(
                pb.ERROR_CODE_UNKNOWN_MESSAGE, f"message {message_id!r} has no audio file"
            )
        return wav, message_to_proto(row)

    def mark_heard(self, viewer: Viewer, message_id: str) -> None:
        row = self._message(viewer, message_id)
        if row.get("heard"):
            return  # already: no second event
        self._store(lambda e: bizdata.mark_voicemail_heard(e, message_id, by=viewer.username))
        self._log(eventlog.VOICEMAIL_HEARD, row, viewer)

    def delete(self, viewer: Viewer, message_id: str) -> None:
        row = self._message(viewer, message_id)
        gone = self._store(lambda e: bizdata.delete_voicemail(e, message_id))
        path = self._file(gone)
        if path is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # the row is gone: the file is only an orphan now
                log.error("voicemail %s: cannot delete %s: %s", message_id, path, exc)
        self._log(eventlog.VOICEMAIL_DELETED, row, viewer)

    # ------------------------------------------------------------------ helpers

    def _visible(self, viewer: Viewer, box: Box) -> bool:
        return may_see(viewer, box, self._settings.acd.queues)

    def _check(self, viewer: Viewer, box: Box) -> None:
        if not self._visible(viewer, box):
            raise VoicemailError(
                pb.ERROR_CODE_PERMISSION_DENIED, f"{viewer.username!r} may not open {box.name!r}"
            )

    def _message(self, viewer: Viewer, message_id: str) -> dict[str, Any]:
        try:
            row: dict[str, Any] = self._store(lambda e: bizdata.get_voicemail(e, message_id))
        except (bizdata.NotFound, bizdata.InvalidField):  # InvalidField: not a message ID
            raise VoicemailError(
                pb.ERROR_CODE_UNKNOWN_MESSAGE, f"no voicemail message {message_id!r}"
            ) from None
        box = mailboxes(self._settings).get(row["box"]) or Box(row["box"])
        self._check(viewer, box)
        return row

    def _file(self, row: Mapping[str, Any]) -> Path | None:
        """The message's WAV, if the row names one inside voicemail.dir."""
        name = row.get("file") or ""
        if not name:
            return None
        root = self._settings.voicemail_dir.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            log.error("voicemail %s: file %r is outside %s", row["message_id"], name, root)
            return None
        return path

    def _log(self, kind: str, row: Mapping[str, Any], viewer: Viewer) -> None:
        event = eventlog.Event.new(
            kind,
            correlation_id=row.get("call_id") or "",
            node=self._settings.node,
            box=row["box"],
            message_id=row["message_id"],
            by=viewer.username,
        )
        try:
            self._events.append(event)
        except Exception as exc:  # the store changed already; the lamps catch up later
            log.error("voicemail %s: %s not written to the event log: %s", kind, row, exc)

    def _store(self, work: Any) -> Any:
        """Run `work(engine)`; the store's errors other than NotFound and InvalidField
        are raised as StoreUnavailable (the RPC answers UNAVAILABLE: try again)."""
        if self._settings.store_url is None:
            raise VoicemailError(
                pb.ERROR_CODE_RECORDING_DISABLED, "no voicemail store (no `bizdata:` section)"
            )
        with self._lock:
            if self._engine is None:
                self._engine = bizdata.open_engine(
                    self._settings.store_url,
                    password_env=self._settings.store_password_env,
                    pool_size=_POOL_SIZE,
                )
            engine = self._engine
        try:
            return work(engine)
        except (bizdata.NotFound, bizdata.InvalidField):
            raise  # the request's fault, not the store's
        except bizdata.StoreError as exc:
            raise StoreUnavailable(f"voicemail store: {exc}") from exc
        except Exception as exc:  # SQLAlchemy's OperationalError and kin: store unreachable
            log.warning("voicemail store: %s", exc)
            raise StoreUnavailable(f"voicemail store: {type(exc).__name__}") from exc

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
