"""The recordings index (the business store's `recordings` and `recording_access_log`,
docs/recording.md) and the WAV files under `recording.dir`, for the Recordings page.

Every playback and every legal-hold change is written to the access log by the caller
(`queries.play_recording`, `queries.set_legal_hold`) after the viewer's role is checked:
this module only reads and writes what it is told.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import bizdata

__all__ = ["RecordingFileMissing", "RecordingIndex"]


class RecordingFileMissing(Exception):
    """The index names a file that is not (or no longer) under recording.dir."""


class RecordingIndex:
    """The index in the business store (`store_url`) and the WAV files under
    `recording_dir` (the index's `file` is relative to it)."""

    def __init__(
        self, store_url: str, recording_dir: str | Path, *, password_env: str | None = None
    ) -> None:
        self.store_url = store_url
        self.recording_dir = Path(recording_dir)
        self._password_env = password_env
        self._engine: Any = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                self._engine = bizdata.open_engine(self.store_url, password_env=self._password_env)
            return self._engine

    def search(
        self,
        *,
        call_id: str | None = None,
        agent: str | None = None,
        number: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = bizdata.search_recordings(
            self.engine,
            call_id=call_id or None,
            agent=agent or None,
            number=number or None,
            since=since,
            until=until,
            limit=limit,
        )
        return rows

    def get(self, ref: str) -> dict[str, Any]:
        row: dict[str, Any] = bizdata.get_recording(self.engine, ref)
        return row

    def wav(self, row: dict[str, Any]) -> bytes:
        """The recording's WAV bytes; RecordingFileMissing when it has none (not yet
        stored, failed before a file, deleted) or the file is gone."""
        name = row.get("file") or ""
        if not name:
            raise RecordingFileMissing(f"recording {row.get('ref')} has no file ({row['status']})")
        base = self.recording_dir.resolve()
        path = (base / name).resolve()
        # The index holds paths relative to recording.dir: never read outside it.
        if not path.is_relative_to(base):
            raise RecordingFileMissing(f"recording {row.get('ref')}: {name!r} is outside {base}")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise RecordingFileMissing(f"recording {row.get('ref')}: {exc}") from None

    def log_access(self, ref: str, *, actor: str, action: str) -> None:
        bizdata.log_recording_access(self.engine, ref, actor=actor, action=action)

    def set_legal_hold(self, ref: str, *, hold: bool, by: str) -> dict[str, Any]:
        row: dict[str, Any] = bizdata.set_legal_hold(self.engine, ref, hold=hold, by=by)
        return row

    def access_log(self, *, ref: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = bizdata.recording_access_log(self.engine, ref=ref, limit=limit)
        return rows
