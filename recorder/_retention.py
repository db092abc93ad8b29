"""Retention: the recordings that ended more than `recording.retention_days` ago go,
files and rows, unless on legal hold (docs/recording.md, "Retention and legal hold")."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bizdata

from ._settings import RecorderSettings

log = logging.getLogger("recorder.retention")


def wav_path(settings: RecorderSettings, row: dict[str, Any]) -> Path:
    """Where a row's file is: voicemail under voicemail.dir, the rest under recording.dir."""
    base = settings.voicemail_dir if row["reason"] == "voicemail" else settings.wav_dir
    return base / str(row["file"])


def apply_retention(
    engine: Any, settings: RecorderSettings, now: datetime | None = None
) -> list[str]:
    """Delete the expired recordings of this recorder's media nodes and mixers (so two recorders
    never race for a row), except voicemail, which its box keeps until someone deletes
    the message; log each deletion (actor `retention`). The refs deleted."""
    days = settings.retention_days
    if days == 0:
        return []
    before = (now or datetime.now(UTC)) - timedelta(days=days)
    served = settings.served
    deleted = []
    for row in bizdata.expired_recordings(engine, before=before):
        if row["media_node"] not in served or row["reason"] == "voicemail":
            continue
        ref = row["ref"]
        try:
            # The row first: it refuses a recording put on hold meanwhile, so a held
            # recording never loses its file (a crash after it leaves a file, not a hole).
            bizdata.delete_recording(engine, ref)
        except (bizdata.InUse, bizdata.NotFound) as exc:
            log.info("retention: %s kept: %s", ref, exc)
            continue
        if row.get("file"):
            wav_path(settings, row).unlink(missing_ok=True)
        bizdata.log_recording_access(engine, ref, actor="retention", action="delete")
        log.info("retention: deleted recording %s (%s)", ref, row.get("file") or "no file")
        deleted.append(ref)
    return deleted
