"""A monitoring session's own recording: the mixer writes a three-channel WAV (caller,
agent, supervisors) at `<recording.dir>/monitor/<YYYY-MM-DD>/<ref>.wav`, and the
controller writes `recording.started` / `recording.stopped` for the recorder to index
it (docs/monitoring.md, "Recording a session")."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller._monitoring._mixer import MixerError, MixerNode
from controller._monitoring._sessions import AGENT_SLOT, CALLER_SLOT, MonitorSession
from eventlog import RECORDING_STARTED, RECORDING_STOPPED

__all__ = ["SessionRecorder"]

log = logging.getLogger("controller.monitoring")

# (cid, kind, fields): the service's event writer.
Emit = Callable[..., None]


class SessionRecorder:
    """Starts and stops sessions' recordings on their mixer. `directory` None: none."""

    def __init__(
        self,
        directory: Path | None,
        emit: Emit,
        *,
        new_ref: Callable[[], str] = lambda: uuid.uuid4().hex,
        today: Callable[[], str] = lambda: datetime.now(UTC).strftime("%Y-%m-%d"),
    ) -> None:
        self.directory = directory
        self._emit = emit
        self._new_ref = new_ref
        self._today = today

    def start(
        self,
        cid: str,
        node: MixerNode,
        session: MonitorSession,
        supervisors: Sequence[str],
        **facts: str,
    ) -> None:
        """Record the conference into channels caller, agent and `supervisors` (slots);
        `facts`: `caller` and `agent` for `recording.started`."""
        if self.directory is None:
            raise ValueError("no recording directory")
        ref = self._new_ref()
        path = self.directory / "monitor" / self._today() / f"{ref}.wav"
        node.record(cid, str(path), [[CALLER_SLOT], [AGENT_SLOT], list(supervisors)])
        session.recording_ref = ref
        fields: dict[str, Any] = {
            "ref": ref,
            "name": session.session_id,
            "reason": "monitor",
            "media_node": node.name,
            "caller": facts.get("caller", ""),
            "agent": facts.get("agent", ""),
            "queue": "",
            "number": "",
            "caller_port": "",
        }
        self._emit(cid, RECORDING_STARTED, **fields)

    def stop(self, cid: str, node: MixerNode, session: MonitorSession) -> None:
        """`stop record` (the mixer closes the file), then `recording.stopped`."""
        try:
            node.stop_record(cid)
        except MixerError as exc:
            log.warning("cid=%s mixer stop record: %s", cid, exc)
            return
        self._emit(cid, RECORDING_STOPPED, ref=session.recording_ref, segments="1")
