"""Supervisor commands over acd.v1: ForceLogout/ForceBusy/ForceIdle, Intercept on agents;
Monitor, SwitchMonitor, StopMonitor (listen, whisper, barge); ListVoicemail,
GetVoicemailAudio, MarkVoicemailHeard, DeleteVoicemail on the mailboxes.

Each carries the logged-in supervisor's own credentials as the actor, so the ACD checks
the role again whatever the page did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from dashboards._accounts import Supervisor

# A message of voicemail.boxes' longest max_message_s (3600 s) is 57.6 MB.
VOICEMAIL_CHANNEL_OPTIONS = (("grpc.max_receive_message_length", 64 * 1024 * 1024),)
# What a monitoring session can be started in, and switched to (intercept: the
# supervisor takes the caller over on the leg it has; the session ends with it).
MONITOR_START_MODES = ("listen", "whisper", "barge")
MONITOR_SWITCH_MODES = (*MONITOR_START_MODES, "intercept")


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    message: str
    # What a read returned: the messages of ListVoicemail, the WAV of GetVoicemailAudio.
    data: Any = None


class AcdCommands(Protocol):
    def force_logout(self, agent: str, actor: Supervisor) -> CommandResult: ...
    def force_busy(self, agent: str, reason: str, actor: Supervisor) -> CommandResult: ...
    def force_idle(self, agent: str, actor: Supervisor) -> CommandResult: ...
    def intercept(self, agent: str, supervisor: str, actor: Supervisor) -> CommandResult: ...
    def monitor(
        self, agent: str, supervisor: str, mode: str, record: bool, actor: Supervisor
    ) -> CommandResult: ...
    def switch_monitor(self, session_id: str, mode: str, actor: Supervisor) -> CommandResult: ...
    def stop_monitor(self, session_id: str, actor: Supervisor) -> CommandResult: ...
    def list_voicemail(
        self, actor: Supervisor, box: str = "", include_heard: bool = False
    ) -> CommandResult: ...
    def voicemail_audio(self, actor: Supervisor, message_id: str) -> CommandResult: ...
    def mark_voicemail_heard(self, actor: Supervisor, message_id: str) -> CommandResult: ...
    def delete_voicemail(self, actor: Supervisor, message_id: str) -> CommandResult: ...


class GrpcAcdCommands:
    """Supervisor commands over acd.v1 (ForceLogout/ForceBusy/ForceIdle, Intercept)."""

    def __init__(self, address: str, *, timeout: float = 2.0, token: str | None = None) -> None:
        import grpc  # noqa: PLC0415

        from acd_api.v1 import acd_pb2, acd_pb2_grpc  # noqa: PLC0415
        from acd_client import monitor_mode, service_channel  # noqa: PLC0415

        self._pb = acd_pb2
        self._monitor_mode_of = monitor_mode
        self._grpc = grpc
        # GetSnapshot (to map account to employee ID) needs the service token. A long
        # voicemail's WAV (GetVoicemailAudio: 16 kB a second) is over grpc's 4 MB default.
        self._channel = service_channel(address, token, VOICEMAIL_CHANNEL_OPTIONS)
        self._stub = acd_pb2_grpc.AcdServiceStub(self._channel)
        self._timeout = timeout

    def _actor(self, who: Supervisor) -> Any:
        return self._pb.Actor(
            admin=self._pb.AdminCredentials(username=who.username, password=who.password)
        )

    def _ask(self, method: str, request: Any) -> tuple[Any, CommandResult | None]:
        """The reply, or None and the refusal (the ACD's code and reason, or unreachable)."""
        try:
            reply = getattr(self._stub, method)(request, timeout=self._timeout)
        except self._grpc.RpcError as exc:
            return None, CommandResult(False, f"ACD unreachable: {exc.code().name}")
        if reply.HasField("error") and reply.error.code != 0:
            name = self._pb.ErrorCode.Name(reply.error.code)
            return None, CommandResult(False, f"{name}: {reply.error.message}")
        return reply, None

    def _call(self, method: str, request: Any) -> CommandResult:
        reply, refused = self._ask(method, request)
        if refused is not None:
            return refused
        deferred = getattr(reply, "deferred", False)
        return CommandResult(True, "deferred until the call ends" if deferred else "done")

    def _employee_id(self, agent: str) -> int | None:
        """The live views name agents by account; the ACD's commands take employee IDs."""
        try:
            reply = self._stub.GetSnapshot(self._pb.GetSnapshotRequest(), timeout=self._timeout)
        except self._grpc.RpcError:
            return None
        for a in reply.snapshot.agents:
            if agent in (a.username, str(a.employee_id)):
                return int(a.employee_id)
        return None

    def _force(self, method: str, agent: str, **fields: Any) -> CommandResult:
        eid = self._employee_id(agent)
        if eid is None:
            return CommandResult(
                False, f"agent {agent} is not logged in (or the ACD is unreachable)"
            )
        request = getattr(self._pb, f"{method}Request")(
            actor=self._actor(fields.pop("actor")), employee_id=eid, **fields
        )
        return self._call(method, request)

    def force_logout(self, agent: str, actor: Supervisor) -> CommandResult:
        return self._force("ForceLogout", agent, actor=actor)

    def force_busy(self, agent: str, reason: str, actor: Supervisor) -> CommandResult:
        return self._force("ForceBusy", agent, actor=actor, reason=reason)

    def force_idle(self, agent: str, actor: Supervisor) -> CommandResult:
        return self._force("ForceIdle", agent, actor=actor)

    def intercept(self, agent: str, supervisor: str, actor: Supervisor) -> CommandResult:
        """`supervisor` (an account whose desk is logged in as a supervisor) takes over
        the call `agent` rings or talks on. The ACD resolves the agent's call itself (no
        snapshot read here: the call may have moved on since the page showed it), checks
        everything, and has the call's controller ring the supervisor."""
        request = self._pb.InterceptRequest(
            actor=self._actor(actor), agent=agent, supervisor=supervisor
        )
        try:
            reply = self._stub.Intercept(request, timeout=self._timeout)
        except self._grpc.RpcError as exc:
            return CommandResult(False, f"ACD unreachable: {exc.code().name}")
        if reply.HasField("error") and reply.error.code != 0:
            name = self._pb.ErrorCode.Name(reply.error.code)
            return CommandResult(False, f"{name}: {reply.error.message}")
        return CommandResult(True, f"call {reply.call_id}: ringing {supervisor} to take it over")

    # Monitoring (docs/monitoring.md): the ACD checks the actor, that `supervisor` is
    # logged in with the supervisor role and that the call is in its scope; the call's
    # controller rings the supervisor's phone and reports the session back.
    def _monitor_mode(self, mode: str, allowed: tuple[str, ...]) -> Any:
        if mode not in allowed:
            raise ValueError(f"monitoring mode {mode!r}: one of {', '.join(allowed)}")
        return self._monitor_mode_of(mode)

    def monitor(
        self, agent: str, supervisor: str, mode: str, record: bool, actor: Supervisor
    ) -> CommandResult:
        """`supervisor`'s phone rings to listen, whisper or barge on the call `agent`
        talks on (the ACD resolves the call itself, as for Intercept); `record` records
        the session. `data`: the new session's `session_id` and its `call_id`."""
        request = self._pb.MonitorRequest(
            actor=self._actor(actor),
            agent=agent,
            supervisor=supervisor,
            mode=self._monitor_mode(mode, MONITOR_START_MODES),
            record=record,
        )
        reply, refused = self._ask("Monitor", request)
        if refused is not None:
            return refused
        return CommandResult(
            True,
            f"session {reply.session_id} on call {reply.call_id}: ringing {supervisor}",
            {"session_id": reply.session_id, "call_id": reply.call_id},
        )

    def switch_monitor(self, session_id: str, mode: str, actor: Supervisor) -> CommandResult:
        """A live session to another mode, or handed over to intercept."""
        request = self._pb.SwitchMonitorRequest(
            actor=self._actor(actor),
            session_id=session_id,
            mode=self._monitor_mode(mode, MONITOR_SWITCH_MODES),
        )
        return self._call("SwitchMonitor", request)

    def stop_monitor(self, session_id: str, actor: Supervisor) -> CommandResult:
        """End a session: the supervisor's phone is hung up, the call goes on."""
        request = self._pb.StopMonitorRequest(actor=self._actor(actor), session_id=session_id)
        return self._call("StopMonitor", request)

    # Voicemail: the ACD checks the actor (a supervisor or an admin sees every box) and
    # writes voicemail.heard / voicemail.deleted.
    def list_voicemail(
        self, actor: Supervisor, box: str = "", include_heard: bool = False
    ) -> CommandResult:
        request = self._pb.ListVoicemailRequest(
            actor=self._actor(actor), box=box, include_heard=include_heard
        )
        reply, refused = self._ask("ListVoicemail", request)
        if refused is not None:
            return refused
        messages = [voicemail_row(m) for m in reply.messages]
        return CommandResult(True, f"{len(messages)} messages", messages)

    def voicemail_audio(self, actor: Supervisor, message_id: str) -> CommandResult:
        request = self._pb.GetVoicemailAudioRequest(actor=self._actor(actor), message_id=message_id)
        reply, refused = self._ask("GetVoicemailAudio", request)
        if refused is not None:
            return refused
        return CommandResult(True, "done", bytes(reply.wav))

    def mark_voicemail_heard(self, actor: Supervisor, message_id: str) -> CommandResult:
        request = self._pb.MarkVoicemailHeardRequest(
            actor=self._actor(actor), message_id=message_id
        )
        return self._call("MarkVoicemailHeard", request)

    def delete_voicemail(self, actor: Supervisor, message_id: str) -> CommandResult:
        request = self._pb.DeleteVoicemailRequest(actor=self._actor(actor), message_id=message_id)
        return self._call("DeleteVoicemail", request)


def voicemail_row(message: Any) -> dict[str, Any]:
    """An acd.v1 VoicemailMessage as the page's table row."""
    return {
        "message_id": message.message_id,
        "box": message.box,
        "caller": message.caller,
        "received_at": datetime.fromtimestamp(message.received_at, UTC).isoformat(),
        "duration_s": round(message.duration_ms / 1000, 1),
        "heard": bool(message.heard),
        "call_id": message.call_id,
    }
