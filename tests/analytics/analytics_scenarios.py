"""Small builders for call scripts used by the analytics tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import eventlog as ev
from analytics import ChdbStore, Records
from analytics._chdb_store import _send
from analytics._columns import rows_to_columns, to_arrow
from analytics._records import Cdr
from eventlog import Event

# 2023-11-15 00:00:00 UTC, a 15-minute boundary, so interval tests read easily.
T0 = 1_700_006_400.0

_DEFAULTS: dict[str, dict[str, str]] = {
    ev.CALL_ARRIVED: {
        "trunk": "cmcc-1",
        "caller": "13800138000",
        "dialled": "95598",
        "category": "billing",
    },
    ev.CALL_ORIGINATED: {"agent": "a1", "number": "13900000000", "caller_id": ""},
    ev.CALL_IVR_STEP: {"ivr_node": "main", "input": ""},
    ev.CALL_IVR_DONE: {"ivr_node": "main", "result": "self_served"},
    ev.CALL_QUEUED: {"queue": "billing", "priority": "0"},
    ev.CALL_RINGING: {"agent": "a1", "seat": "s1", "leg_id": "L1", "attempt": "1"},
    ev.CALL_NO_ANSWER: {"agent": "a1", "leg_id": "L1"},
    ev.CALL_ANSWERED: {"agent": "a1", "seat": "s1", "leg_id": "L1"},
    ev.CALL_TRANSFERRED: {"from_agent": "a1", "to_kind": "agent", "to": "a3", "mode": "blind"},
    ev.CALL_HOLD: {},
    ev.CALL_RESUME: {},
    ev.CALL_OVERFLOW: {"from_queue": "billing", "to": "+861012345"},
    ev.CALL_VOICEMAIL: {},
    ev.RECORDING_STARTED: {
        "ref": "0" * 32,
        "name": "",
        "reason": "always",
        "media_node": "127.0.0.1:2223",
        "caller": "13800138000",
        "agent": "a1",
        "queue": "billing",
        "number": "95598",
        "caller_port": "30000",
    },
    ev.RECORDING_PAUSED: {"ref": "0" * 32, "reason": "agent"},
    ev.RECORDING_RESUMED: {"ref": "0" * 32},
    ev.RECORDING_STOPPED: {"ref": "0" * 32, "segments": "1"},
    ev.RECORDING_STORED: {"ref": "0" * 32, "file": "2023/11/15/x.wav", "duration_ms": "60000"},
    ev.RECORDING_FAILED: {"ref": "0" * 32, "reason": "missing", "detail": ""},
    ev.VOICEMAIL_LEFT: {
        "box": "billing",
        "message_id": "1" * 32,
        "caller": "13800138000",
        "duration_ms": "4000",
        "ref": "0" * 32,
    },
    ev.VOICEMAIL_HEARD: {"box": "billing", "message_id": "1" * 32, "by": "a1"},
    ev.VOICEMAIL_DELETED: {"box": "billing", "message_id": "1" * 32, "by": "a1"},
    ev.CALL_MESSAGE_PLAYED: {"agent": "a1", "repeats": "2"},
    ev.CALL_ENDED: {"cause": "200", "side": "caller"},
    ev.AGENT_STATE: {"agent": "a1", "seat": "s1", "state": "idle", "previous": "", "reason": ""},
}


class Script:
    """Events of one call (or of agents) at offsets from a base time."""

    def __init__(self, cid: str, base: float = T0) -> None:
        self.cid = cid
        self.base = base
        self.events: list[Event] = []

    def __call__(self, dt: float, kind: str, **data: Any) -> Script:
        fields = dict(_DEFAULTS[kind]) | {k: str(v) for k, v in data.items()}
        cid = "" if kind == ev.AGENT_STATE and "cid" not in data else self.cid
        fields.pop("cid", None)
        self.events.append(
            Event(kind=kind, ts=self.base + dt, correlation_id=cid, node="test", data=fields)
        )
        return self


def agent(name: str, base: float, *steps: tuple[float, str, str]) -> list[Event]:
    """agent.state events: (offset, state, tagged call id or "")."""
    out = []
    previous = "logged_out"
    for dt, state, cid in steps:
        out.append(
            Event(
                kind=ev.AGENT_STATE,
                ts=base + dt,
                correlation_id=cid,
                node="acd",
                data={
                    "agent": name,
                    "seat": f"seat-{name}",
                    "state": state,
                    "previous": previous,
                    "reason": "break" if state == "busy" else "",
                },
            )
        )
        previous = state
    return out


# The cdr columns migration 006 added; a store at an older version lacks them.
IVR_OUTCOME_COLUMNS = ("ivr_result", "ivr_exit_node")
# Schema 008: the recording and voicemail columns.
RECORDING_VOICEMAIL_COLUMNS = ("recording_pauses", "voicemail_box", "message_played")


def insert_before_006(store: ChdbStore, records: Records) -> None:
    """Insert records into a store migrated only up to 005 (no IVR outcome columns)."""
    _insert_old_cdrs(store, records.cdrs)
    store.insert_records(Records([], records.legs, records.intervals))


def _insert_old_cdrs(store: ChdbStore, cdrs: Sequence[Cdr]) -> None:
    # migrations 006, 007 and 008
    later = [*IVR_OUTCOME_COLUMNS, "wrap_up_code", *RECORDING_VOICEMAIL_COLUMNS]
    arrow = to_arrow("cdr", rows_to_columns("cdr", cdrs)).drop_columns(later)
    columns = ", ".join(arrow.column_names)
    _send(
        store._session,
        f"INSERT INTO {store.database}.cdr ({columns}) SELECT * FROM Python(arrow)",
        arrow,
    )
