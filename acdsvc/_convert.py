"""Between the core's Python values and the acd.v1 messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from acd import (
    Action,
    CancelRing,
    ErrorCode,
    InterceptCall,
    MonitorCall,
    MonitorCommand,
    Offer,
    PlayMessageCall,
    RecordingCommand,
    Refusal,
    Release,
    Route,
    Undelivered,
)
from acd_api.v1 import acd_pb2 as pb
from acd_client import MONITOR_MODE_NAMES, MONITOR_STATE_NAMES, monitor_mode, monitor_state

__all__ = [
    "AUTH_FAILED",
    "action_from_dict",
    "action_to_proto",
    "error_to_proto",
    "monitor_mode_name",
    "monitor_state_name",
    "recording_op_name",
    "recording_state_name",
    "recording_state_to_proto",
    "role_name",
    "snapshot_to_proto",
]

AUTH_FAILED = pb.ERROR_CODE_AUTH_FAILED
_ROLES = {pb.ROLE_AGENT: "agent", pb.ROLE_SUPERVISOR: "supervisor"}
_ROLE_ENUM = {name: value for value, name in _ROLES.items()}
_STATES = {
    "logged_out": pb.AGENT_STATE_LOGGED_OUT,
    "idle": pb.AGENT_STATE_IDLE,
    "reserved": pb.AGENT_STATE_RESERVED,
    "talking": pb.AGENT_STATE_TALKING,
    "wrap_up": pb.AGENT_STATE_WRAP_UP,
    "busy": pb.AGENT_STATE_BUSY,
}

# The core's recording ops and states (acd/_recording.py) and their acd.v1 enums.
_OPS = {
    pb.RECORDING_OP_START: "start",
    pb.RECORDING_OP_PAUSE: "pause",
    pb.RECORDING_OP_RESUME: "resume",
    pb.RECORDING_OP_STOP: "stop",
}
_OP_ENUM = {name: value for value, name in _OPS.items()}
_RECORDING_STATES = {
    pb.RECORDING_STATE_OFF: "off",
    pb.RECORDING_STATE_ON: "on",
    pb.RECORDING_STATE_PAUSED: "paused",
}
_RECORDING_ENUM = {name: value for value, name in _RECORDING_STATES.items()}

# Same names by design; a unit test checks that every core code has its proto value.
_CODES: dict[ErrorCode, pb.ErrorCode] = {
    code: getattr(pb, f"ERROR_CODE_{code.value}") for code in ErrorCode
}


def code_to_proto(code: ErrorCode) -> pb.ErrorCode:
    return _CODES[code]


def error_to_proto(refusal: Refusal | None) -> pb.Error | None:
    if refusal is None:
        return None
    return pb.Error(code=code_to_proto(refusal.code), message=refusal.message)


def role_name(role: pb.Role) -> str:
    """The core's role name; "" for ROLE_UNSPECIFIED, which the core refuses (ROLE_INVALID)."""
    return _ROLES.get(role, "")


def recording_op_name(op: pb.RecordingOp) -> str:
    """The core's op; "" for RECORDING_OP_UNSPECIFIED, which the core refuses."""
    return _OPS.get(op, "")


def recording_state_name(state: pb.RecordingState) -> str:
    """The core's state; "" for RECORDING_STATE_UNSPECIFIED, which the core refuses."""
    return _RECORDING_STATES.get(state, "")


def recording_state_to_proto(state: str) -> pb.RecordingState:
    return _RECORDING_ENUM.get(state, pb.RECORDING_STATE_UNSPECIFIED)


def monitor_mode_name(mode: pb.MonitorMode) -> str:
    """The core's mode; "" for MONITOR_MODE_UNSPECIFIED, which the core refuses."""
    return MONITOR_MODE_NAMES.get(mode, "")


def monitor_state_name(state: pb.MonitorState) -> str:
    """The core's state; "" for MONITOR_STATE_UNSPECIFIED, which the core refuses."""
    return MONITOR_STATE_NAMES.get(state, "")


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """An action as stored in the commit stream (`Action.to_dict()`)."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    kind = data["kind"]
    if kind == "offer":
        return Offer(**fields)
    if kind == "cancel_ring":
        return CancelRing(**fields)
    if kind == "route":
        return Route(**fields)
    if kind == "undelivered":
        return Undelivered(**fields)
    if kind == "release":
        return Release(**fields)
    if kind == "intercept_call":
        return InterceptCall(**fields)
    if kind == "play_message":
        return PlayMessageCall(**fields)
    if kind == "recording_command":
        return RecordingCommand(**fields)
    if kind == "monitor_call":
        return MonitorCall(**fields)
    if kind == "monitor_command":
        return MonitorCommand(**fields)
    raise ValueError(f"unknown action kind {kind!r}")


def action_to_proto(action: Action, commit_id: str) -> pb.Action:
    if isinstance(action, Offer):
        return pb.Action(
            commit_id=commit_id,
            offer=pb.Offer(
                call_id=action.call_id,
                employee_id=action.agent,
                seat=action.seat,
                caller=action.caller,
                category=action.category,
                queue=action.queue or "",
                ring_timeout_seconds=action.ring_timeout,
                username=action.username,
                call_data=action.call_data,
            ),
        )
    if isinstance(action, CancelRing):
        return pb.Action(
            commit_id=commit_id,
            cancel_ring=pb.CancelRing(
                call_id=action.call_id,
                employee_id=action.agent,
                seat=action.seat,
                reason=action.reason,
                username=action.username,
            ),
        )
    if isinstance(action, Route):
        return pb.Action(
            commit_id=commit_id,
            route=pb.Route(call_id=action.call_id, target=action.target, reason=action.reason),
        )
    if isinstance(action, Release):
        return pb.Action(
            commit_id=commit_id,
            release=pb.Release(
                call_id=action.call_id,
                employee_id=action.agent,
                seat=action.seat,
                reason=action.reason,
                username=action.username,
                queue=action.queue or "",
            ),
        )
    if isinstance(action, InterceptCall):
        return pb.Action(
            commit_id=commit_id,
            intercept_call=pb.InterceptCall(
                call_id=action.call_id,
                username=action.username,
                employee_id=action.employee_id,
                ring_timeout_seconds=action.ring_timeout,
                requested_by=action.requested_by,
            ),
        )
    if isinstance(action, PlayMessageCall):
        return pb.Action(
            commit_id=commit_id,
            play_message=pb.PlayMessageCall(
                call_id=action.call_id,
                text=action.text,
                language=action.language,
                repeats=action.repeats,
                username=action.username,
                employee_id=action.employee_id,
            ),
        )
    if isinstance(action, RecordingCommand):
        return pb.Action(
            commit_id=commit_id,
            recording_command=pb.RecordingCommand(
                call_id=action.call_id,
                op=_OP_ENUM.get(action.op, pb.RECORDING_OP_UNSPECIFIED),
                ref=action.ref,
                name=action.name,
                requested_by=action.requested_by,
            ),
        )
    if isinstance(action, MonitorCall):
        return pb.Action(
            commit_id=commit_id,
            monitor_call=pb.MonitorCall(
                session_id=action.session_id,
                call_id=action.call_id,
                username=action.username,
                employee_id=action.employee_id,
                mode=monitor_mode(action.mode),
                ring_timeout_seconds=action.ring_timeout,
                record=action.record,
                requested_by=action.requested_by,
                agent=action.agent,
            ),
        )
    if isinstance(action, MonitorCommand):
        return pb.Action(
            commit_id=commit_id,
            monitor_command=pb.MonitorCommand(
                session_id=action.session_id,
                call_id=action.call_id,
                mode=monitor_mode(action.mode),  # "" (stop): UNSPECIFIED
                requested_by=action.requested_by,
            ),
        )
    return pb.Action(
        commit_id=commit_id,
        undelivered=pb.Undelivered(call_id=action.call_id, reason=action.reason),
    )


def actions_to_proto(actions: Iterable[Action], commit_id: str) -> list[pb.Action]:
    return [action_to_proto(a, commit_id) for a in actions]


def snapshot_to_proto(snapshot: Mapping[str, Any], node: str) -> pb.Snapshot:
    return pb.Snapshot(
        ts=snapshot["ts"],
        node=node,
        agents=[
            pb.AgentView(
                employee_id=a["employee_id"],
                username=a["username"],
                seat=a["seat"],
                role=_ROLE_ENUM.get(a["role"], pb.ROLE_UNSPECIFIED),
                state=_STATES.get(a["state"], pb.AGENT_STATE_UNSPECIFIED),
                reason=a["reason"] or "",
                call_id=a["call"] or "",
                time_in_state_seconds=a["time_in_state"],
                calls=a["calls"],
                pending=a["pending"] or "",
                phone_ok=a["phone_ok"],
                recording=recording_state_to_proto(a.get("recording", "off")),
            )
            for a in snapshot["agents"]
        ],
        queues=[
            pb.QueueView(
                name=q["name"],
                waiting=q["waiting"],
                longest_wait_seconds=q["longest_wait"],
                ringing=q["ringing"],
                talking=q["talking"],
                agents_logged_in=q["agents_logged_in"],
                agents_idle=q["agents_idle"],
            )
            for q in snapshot["queues"]
        ],
        monitors=[
            pb.MonitorView(
                session_id=m["session_id"],
                supervisor=m["supervisor"],
                agent=m["agent"],
                call_id=m["call_id"],
                mode=monitor_mode(m["mode"]),
                state=monitor_state(m["state"]),
                since_seconds=m["since"],
            )
            for m in snapshot.get("monitors", ())
        ],
    )
