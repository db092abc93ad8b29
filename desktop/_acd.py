"""The desktop's side of the ACD (acd.v1 through acd_client): agent commands made with
the desktop's own identity (the service token on the channel) plus the agent's desk
session (employee_id + session_id), the ACD's refusals turned into the API's codes,
and the snapshot for the directory and scope checks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient

from ._errors import ApiError

__all__ = [
    "RECORDING_NAMES",
    "RECORDING_OPS",
    "STATE_NAMES",
    "AcdDesk",
    "AgentLive",
    "LoginResult",
    "acd_refusal",
]

# The ACD's agent states as the page names them.
STATE_NAMES = {
    pb.AGENT_STATE_UNSPECIFIED: "logged_out",
    pb.AGENT_STATE_LOGGED_OUT: "logged_out",
    pb.AGENT_STATE_IDLE: "idle",
    pb.AGENT_STATE_RESERVED: "ringing",
    pb.AGENT_STATE_TALKING: "talking",
    pb.AGENT_STATE_WRAP_UP: "wrap_up",
    pb.AGENT_STATE_BUSY: "busy",
}

# The recording state of the agent's call (AgentView.recording) as the page names it.
RECORDING_NAMES = {
    pb.RECORDING_STATE_UNSPECIFIED: "off",
    pb.RECORDING_STATE_OFF: "off",
    pb.RECORDING_STATE_ON: "on",
    pb.RECORDING_STATE_PAUSED: "paused",
}
# The routes' operations (POST /api/recording/<op>) as acd.v1 RecordingOps.
RECORDING_OPS = {
    "start": pb.RECORDING_OP_START,
    "pause": pb.RECORDING_OP_PAUSE,
    "resume": pb.RECORDING_OP_RESUME,
    "stop": pb.RECORDING_OP_STOP,
}

# ACD error code -> (HTTP status, the contract's code). Codes not listed map to 409 and
# their own name in lower case (unknown_call, agent_not_available, ...).
_REFUSALS: dict[int, tuple[int, str]] = {
    pb.ERROR_CODE_ALREADY_LOGGED_IN: (409, "already_logged_in"),
    pb.ERROR_CODE_SEAT_OCCUPIED: (409, "seat_taken"),
    pb.ERROR_CODE_SKILL_NOT_ALLOWED: (403, "skill_not_allowed"),
    pb.ERROR_CODE_AUTH_FAILED: (401, "bad_credentials"),
    pb.ERROR_CODE_SEAT_OUT_OF_RANGE: (422, "seat_out_of_range"),
    pb.ERROR_CODE_EMPLOYEE_ID_OUT_OF_RANGE: (422, "employee_id_out_of_range"),
    # The account's employee ID is another: to the page, the credentials do not fit.
    pb.ERROR_CODE_EMPLOYEE_ID_MISMATCH: (401, "bad_credentials"),
    pb.ERROR_CODE_ROLE_INVALID: (422, "role_invalid"),
    pb.ERROR_CODE_INVALID_ARGUMENT: (422, "invalid"),
    pb.ERROR_CODE_NOT_LOGGED_IN: (401, "no_session"),
    pb.ERROR_CODE_STALE_SESSION: (401, "no_session"),
    pb.ERROR_CODE_NOT_ON_HOOK: (409, "not_on_hook"),
    pb.ERROR_CODE_PERMISSION_DENIED: (403, "forbidden"),
    pb.ERROR_CODE_UNKNOWN_QUEUE: (404, "unknown_queue"),
    pb.ERROR_CODE_UNKNOWN_CALL: (404, "unknown_call"),
    pb.ERROR_CODE_UNKNOWN_MAILBOX: (404, "unknown_mailbox"),
    pb.ERROR_CODE_UNKNOWN_MESSAGE: (404, "unknown_message"),
}
# Refusals that mean the ACD no longer has this desk session: the web session ends too.
SESSION_GONE = frozenset({pb.ERROR_CODE_NOT_LOGGED_IN, pb.ERROR_CODE_STALE_SESSION})


def acd_refusal(error: Any) -> ApiError:
    code = int(error.code)
    status, name = _REFUSALS.get(
        code, (409, pb.ErrorCode.Name(code).removeprefix("ERROR_CODE_").lower())
    )
    return ApiError(status, name, error.message or name)


class SessionGone(ApiError):
    """The ACD refused the desk session (lease expired, logged out elsewhere)."""


def _check(reply: Any) -> Any:
    if reply.HasField("error") and reply.error.code != pb.ERROR_CODE_UNSPECIFIED:
        if reply.error.code in SESSION_GONE:
            raise SessionGone(401, "no_session", reply.error.message or "session ended")
        raise acd_refusal(reply.error)
    return reply


@dataclass(frozen=True)
class LoginResult:
    session_id: str
    lease_seconds: float


@dataclass(frozen=True)
class AgentLive:
    """One agent as the ACD's snapshot shows it."""

    employee_id: int
    username: str
    seat: int
    state: str
    reason: str
    call_id: str
    time_in_state_s: float
    snapshot_ts: float
    # "off", "on" or "paused": the recording of the agent's call (RECORDING_NAMES).
    recording: str = "off"


class AcdDesk:
    def __init__(
        self,
        addresses: Sequence[str],
        *,
        token: str | None,
        timeout: float = 2.0,
        retry_for: float = 3.0,
        snapshot_max_age_s: float = 0.2,
    ) -> None:
        self.client = AcdClient(list(addresses), timeout=timeout, retry_for=retry_for, token=token)
        self._snapshot: pb.Snapshot | None = None
        self._snapshot_at = 0.0
        self._snapshot_max_age_s = snapshot_max_age_s
        # The snapshot stream's latest (EventHub), when one is running: reads that need
        # not be fresh take it instead of asking the ACD (a heartbeat per agent every
        # few seconds would otherwise cost a whole snapshot each).
        self.streamed: Callable[[], pb.Snapshot | None] = lambda: None

    def close(self) -> None:
        self.client.close()

    def _rpc(self, method: str, request: Any) -> Any:
        try:
            return _check(getattr(self.client, method)(request))
        except grpc.RpcError as exc:
            raise ApiError(503, "acd_unavailable", f"ACD unreachable: {exc.code().name}") from None

    # Agent commands --------------------------------------------------------------
    def login(
        self,
        *,
        username: str,
        password: str,
        seat: int,
        employee_id: int,
        role: str,
        skills: dict[str, int],
        start_busy: bool,
    ) -> LoginResult:
        request = pb.LoginRequest(
            username=username,
            password=password,
            seat=seat,
            employee_id=employee_id,
            role=pb.ROLE_SUPERVISOR if role == "supervisor" else pb.ROLE_AGENT,
            skills=skills,
            start_busy=start_busy,
        )
        reply = self._rpc("login", request)
        return LoginResult(reply.session_id, reply.lease_seconds)

    def heartbeat(self, employee_id: int, session_id: str) -> float:
        reply = self._rpc(
            "heartbeat", pb.HeartbeatRequest(employee_id=employee_id, session_id=session_id)
        )
        return float(reply.lease_seconds)

    def logout(self, employee_id: int, session_id: str) -> bool:
        reply = self._rpc(
            "logout", pb.LogoutRequest(employee_id=employee_id, session_id=session_id)
        )
        return bool(reply.deferred)

    def set_busy(self, employee_id: int, session_id: str, reason: str) -> None:
        self._rpc(
            "set_busy",
            pb.SetBusyRequest(employee_id=employee_id, session_id=session_id, reason=reason),
        )

    def set_idle(self, employee_id: int, session_id: str) -> None:
        self._rpc("set_idle", pb.SetIdleRequest(employee_id=employee_id, session_id=session_id))

    def transfer_to_agent(self, call_id: str, employee_id: int) -> None:
        self._rpc(
            "transfer_to_agent", pb.TransferToAgentRequest(call_id=call_id, employee_id=employee_id)
        )

    def transfer_to_queue(self, call_id: str, queue: str) -> None:
        self._rpc("transfer_to_queue", pb.TransferToQueueRequest(call_id=call_id, queue=queue))

    # Recording, play a message, voicemail (docs/recording.md) ---------------------------
    def control_recording(
        self, employee_id: int, session_id: str, op: str, name: str = ""
    ) -> tuple[str, str]:
        """Start (under `name`), pause, resume or stop recording the agent's call: the
        recording's ref and its state as the ACD now has it ("on", "paused", "off")."""
        reply = self._rpc(
            "control_recording",
            pb.ControlRecordingRequest(
                employee_id=employee_id, session_id=session_id, op=RECORDING_OPS[op], name=name
            ),
        )
        return str(reply.ref), RECORDING_NAMES.get(reply.state, "off")

    def play_message(self, employee_id: int, session_id: str, text: str, language: str) -> str:
        """The caller hears `text` twice, then the call ends; the agent is off it now.
        The call's ID."""
        reply = self._rpc(
            "play_message",
            pb.PlayMessageRequest(
                employee_id=employee_id, session_id=session_id, text=text, language=language
            ),
        )
        return str(reply.call_id)

    @staticmethod
    def _desk_actor(employee_id: int, session_id: str) -> pb.Actor:
        return pb.Actor(desk=pb.DeskSession(employee_id=employee_id, session_id=session_id))

    def list_voicemail(
        self, employee_id: int, session_id: str, *, box: str = "", include_heard: bool = False
    ) -> list[Any]:
        """The messages of the boxes this agent may see (its own, its queues')."""
        reply = self._rpc(
            "list_voicemail",
            pb.ListVoicemailRequest(
                actor=self._desk_actor(employee_id, session_id),
                box=box,
                include_heard=include_heard,
            ),
        )
        return list(reply.messages)

    def voicemail_audio(self, employee_id: int, session_id: str, message_id: str) -> bytes:
        reply = self._rpc(
            "get_voicemail_audio",
            pb.GetVoicemailAudioRequest(
                actor=self._desk_actor(employee_id, session_id), message_id=message_id
            ),
        )
        return bytes(reply.wav)

    def mark_voicemail_heard(self, employee_id: int, session_id: str, message_id: str) -> None:
        self._rpc(
            "mark_voicemail_heard",
            pb.MarkVoicemailHeardRequest(
                actor=self._desk_actor(employee_id, session_id), message_id=message_id
            ),
        )

    def delete_voicemail(self, employee_id: int, session_id: str, message_id: str) -> None:
        self._rpc(
            "delete_voicemail",
            pb.DeleteVoicemailRequest(
                actor=self._desk_actor(employee_id, session_id), message_id=message_id
            ),
        )

    # The live view -----------------------------------------------------------------
    def snapshot(self, *, fresh: bool = False) -> pb.Snapshot:
        """The ACD's snapshot, reused for `snapshot_max_age_s` (a page's burst of
        requests costs one RPC); `fresh` for a scope check right after a change."""
        if not fresh and (streamed := self.streamed()) is not None:
            return streamed
        now = time.monotonic()
        if fresh or self._snapshot is None or now - self._snapshot_at > self._snapshot_max_age_s:
            try:
                self._snapshot = self.client.get_snapshot()
            except grpc.RpcError as exc:
                raise ApiError(
                    503, "acd_unavailable", f"ACD unreachable: {exc.code().name}"
                ) from None
            self._snapshot_at = now
        return self._snapshot

    def agent(self, employee_id: int, *, fresh: bool = False) -> AgentLive | None:
        snapshot = self.snapshot(fresh=fresh)
        for view in snapshot.agents:
            if view.employee_id == employee_id:
                return live_agent(view, snapshot.ts)
        return None

    def agent_by_username(self, username: str) -> AgentLive | None:
        snapshot = self.snapshot(fresh=True)
        for view in snapshot.agents:
            if view.username == username:
                return live_agent(view, snapshot.ts)
        return None


def live_agent(view: Any, ts: float) -> AgentLive:
    return AgentLive(
        employee_id=int(view.employee_id),
        username=view.username,
        seat=int(view.seat),
        state=STATE_NAMES.get(view.state, "logged_out"),
        reason=view.reason,
        call_id=view.call_id,
        time_in_state_s=float(view.time_in_state_seconds),
        snapshot_ts=float(ts),
        recording=RECORDING_NAMES.get(view.recording, "off"),
    )
