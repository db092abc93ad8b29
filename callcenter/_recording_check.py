"""`callcenter check-config` and `up`: a config that records has what the recorder needs
(docs/recording.md, "Running the recorder").

The recorder keeps its index in the business store (`bizdata:`) and reads the event
log named by `acd:` (events_stream, redis_prefix for the disk-full key); without them
it could not run, so the config is refused before anything starts.
"""

from __future__ import annotations

from pathlib import Path

from callcenter._ivr_check import locator
from configuration import CallCenterConfig, ConfigError

__all__ = ["check_recording"]


def check_recording(config: CallCenterConfig, path: Path) -> list[str]:
    """A line describing the recording set-up (none without `recording:`). Raises
    ConfigError naming the `recording:` line when a section it needs is missing."""
    if config.recording is None:
        return []
    where = locator(path)
    problems = [
        f"{where(('recording',))}: recording: needs the `{name}:` section ({why})"
        for name, why, present in (
            ("bizdata", "the recordings' index is in the business store", config.bizdata),
            ("acd", "its events_stream is the event log the recorder reads", config.acd),
        )
        if present is None
    ]
    if problems:
        raise ConfigError("\n".join(problems))
    rec = config.recording
    retention = f"{rec.retention_days} days" if rec.retention_days else "forever"
    return [
        f"recording: spool {rec.spool_dir}, WAVs {rec.dir}, voicemail {config.voicemail.dir},"
        f" kept {retention}, recorder http://{rec.listen}"
        + ("" if rec.managed else " (not managed: started elsewhere)")
    ]
