"""The acd.v1 gRPC servicer: requests in, the core's commands through the engine, replies out.

On the leader a request runs locally; on a follower it is forwarded. Refusals
come back in the response's `error` (code + message); gRPC status codes are
kept for "retry elsewhere" conditions (UNAVAILABLE) and protocol misuse.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from acd import Account, Acd, ErrorCode, Refusal, Result
from acd_api.v1 import acd_pb2 as pb
from acd_api.v1 import acd_pb2_grpc
from acd_client import LAST_COMMIT_HEADER
from identity import verify_password

from ._convert import (
    AUTH_FAILED,
    actions_to_proto,
    error_to_proto,
    monitor_mode_name,
    monitor_state_name,
    recording_op_name,
    recording_state_name,
    recording_state_to_proto,
    role_name,
    snapshot_to_proto,
)
from ._engine import Engine, NotLeader, Outcome, StoreUnavailable
from ._fanout import Fanout, stream_id
from ._forward import Forwarder, NoLeader
from ._settings import Settings
from ._voicemail import Viewer, Voicemail, VoicemailError

__all__ = ["AcdServicer"]

R = TypeVar("R")
_SIDES = {pb.HANGUP_SIDE_CALLER: "caller", pb.HANGUP_SIDE_AGENT: "agent"}
_MAX_PUSH_INTERVAL = 2.0
_COALESCE = 0.1  # after a change, wait this long so a burst of commits makes one push


def _refusal(code: ErrorCode, message: str) -> Result:
    return Result(error=Refusal(code, message))


class AcdServicer(acd_pb2_grpc.AcdServiceServicer):  # type: ignore[misc]
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        fanout: Fanout,
        forwarder: Forwarder,
        stopping: threading.Event,
        *,
        voicemail: Voicemail,
    ) -> None:
        self._settings = settings
        self._voicemail = voicemail
        self._engine = engine
        self._fanout = fanout
        self._forwarder = forwarder
        self._stopping = stopping

    # ------------------------------------------------------------------ plumbing

    def _serve(self, method: str, request: Any, context: Any, local: Callable[[Any], R]) -> R:
        if self._engine.is_leader:
            try:
                return local(request)
            except NotLeader:
                pass  # lost the lease before committing: nothing happened; forward it
            except StoreUnavailable as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        forwarded: R = self._forwarder.call(method, request, context)
        return forwarded

    def _run(self, command: Callable[[Acd], Result], **touch: Any) -> Outcome:
        return self._engine.execute(command, **touch)

    def _authenticated(self, username: str, password: str) -> Account | Refusal:
        """The account if the password matches its argon2 hash (checked outside the lock)."""
        entry = self._settings.accounts.get(username)
        if entry is None or not verify_password(entry.password_hash, password):
            return Refusal(ErrorCode.PERMISSION_DENIED, "unknown account or wrong password")
        # An admin without a numeric employee ID still acts as an admin.
        return entry.account or Account(username, -1, entry.roles, {})

    def _employee_of(self, username: str) -> int | None:
        """The employee ID of an account (accounts are the config's: no state read)."""
        entry = self._settings.accounts.get(username)
        return entry.account.employee_id if entry is not None and entry.account else None

    # ------------------------------------------------------------------ agent commands

    def Login(self, request: pb.LoginRequest, context: Any) -> pb.LoginResponse:
        return self._serve("Login", request, context, self._login)

    def _login(self, req: pb.LoginRequest) -> pb.LoginResponse:
        entry = self._settings.accounts.get(req.username)
        if entry is None or not verify_password(entry.password_hash, req.password):
            return pb.LoginResponse(
                error=pb.Error(code=AUTH_FAILED, message="unknown account or wrong password")
            )
        account = entry.account
        if account is None:
            return pb.LoginResponse(
                error=pb.Error(
                    code=pb.ERROR_CODE_EMPLOYEE_ID_MISMATCH,
                    message=f"account {req.username!r} has no numeric employee ID",
                )
            )
        skills = {k: int(v) for k, v in req.skills.items()} or None
        out = self._run(
            lambda acd: acd.login(
                account,
                seat=req.seat,
                employee_id=req.employee_id,
                role=role_name(req.role),
                skills=skills,
                ready=not req.start_busy,
            )
        )
        return pb.LoginResponse(
            error=error_to_proto(out.result.error),
            session_id=out.result.session_id or "",
            lease_seconds=self._settings.acd.lease_seconds,
        )

    def Logout(self, request: pb.LogoutRequest, context: Any) -> pb.LogoutResponse:
        def local(req: pb.LogoutRequest) -> pb.LogoutResponse:
            out = self._run(lambda acd: acd.logout(req.employee_id, req.session_id))
            return pb.LogoutResponse(
                error=error_to_proto(out.result.error),
                deferred=out.result.deferred,
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("Logout", request, context, local)

    def Heartbeat(self, request: pb.HeartbeatRequest, context: Any) -> pb.HeartbeatResponse:
        def local(req: pb.HeartbeatRequest) -> pb.HeartbeatResponse:
            out = self._run(
                lambda acd: acd.heartbeat(req.employee_id, req.session_id), agents=[req.employee_id]
            )
            return pb.HeartbeatResponse(
                error=error_to_proto(out.result.error),
                lease_seconds=self._settings.acd.lease_seconds,
            )

        return self._serve("Heartbeat", request, context, local)

    def SetBusy(self, request: pb.SetBusyRequest, context: Any) -> pb.SetBusyResponse:
        def local(req: pb.SetBusyRequest) -> pb.SetBusyResponse:
            out = self._run(lambda acd: acd.go_busy(req.employee_id, req.reason, req.session_id))
            return pb.SetBusyResponse(error=error_to_proto(out.result.error))

        return self._serve("SetBusy", request, context, local)

    def SetIdle(self, request: pb.SetIdleRequest, context: Any) -> pb.SetIdleResponse:
        def local(req: pb.SetIdleRequest) -> pb.SetIdleResponse:
            out = self._run(lambda acd: acd.go_idle(req.employee_id, req.session_id))
            return pb.SetIdleResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("SetIdle", request, context, local)

    def SetPhonePresence(
        self, request: pb.SetPhonePresenceRequest, context: Any
    ) -> pb.SetPhonePresenceResponse:
        def local(req: pb.SetPhonePresenceRequest) -> pb.SetPhonePresenceResponse:
            out = self._run(
                lambda acd: acd.phone_presence(req.employee_id, reachable=req.reachable),
                agents=[req.employee_id],
            )
            return pb.SetPhonePresenceResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("SetPhonePresence", request, context, local)

    # ------------------------------------------------------------------ supervisor commands

    def _supervise(self, actor: pb.Actor, command: Callable[[Acd, Account], Result]) -> Outcome:
        """R-SUP-3: run `command` as the actor, or refuse with PERMISSION_DENIED."""
        which = actor.WhichOneof("identity")
        if which == "admin":
            who = self._authenticated(actor.admin.username, actor.admin.password)
            if isinstance(who, Refusal):
                return Outcome(Result(error=who))
            admin = who
            return self._run(lambda acd: command(acd, admin))
        if which == "desk":
            desk = actor.desk

            def as_desk(acd: Acd) -> Result:
                record = acd.agent(desk.employee_id)
                if record is None or record["session"] != desk.session_id:
                    return _refusal(
                        ErrorCode.PERMISSION_DENIED,
                        f"employee {desk.employee_id} has no such session",
                    )
                entry = self._settings.accounts.get(record["username"])
                if entry is None or entry.account is None:
                    return _refusal(ErrorCode.PERMISSION_DENIED, "the desk's account is gone")
                return command(acd, entry.account)  # the core checks the supervisor role

            return self._run(as_desk)
        return Outcome(_refusal(ErrorCode.PERMISSION_DENIED, "a supervisor command needs an actor"))

    def ForceLogout(self, request: pb.ForceLogoutRequest, context: Any) -> pb.ForceLogoutResponse:
        def local(req: pb.ForceLogoutRequest) -> pb.ForceLogoutResponse:
            out = self._supervise(
                req.actor, lambda acd, who: acd.force_logout(who, req.employee_id)
            )
            return pb.ForceLogoutResponse(
                error=error_to_proto(out.result.error),
                deferred=out.result.deferred,
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("ForceLogout", request, context, local)

    def ForceBusy(self, request: pb.ForceBusyRequest, context: Any) -> pb.ForceBusyResponse:
        def local(req: pb.ForceBusyRequest) -> pb.ForceBusyResponse:
            out = self._supervise(
                req.actor,
                lambda acd, who: acd.force_busy(who, req.employee_id, req.reason or "SUPERVISOR"),
            )
            return pb.ForceBusyResponse(
                error=error_to_proto(out.result.error),
                deferred=out.result.deferred,
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("ForceBusy", request, context, local)

    def ForceIdle(self, request: pb.ForceIdleRequest, context: Any) -> pb.ForceIdleResponse:
        def local(req: pb.ForceIdleRequest) -> pb.ForceIdleResponse:
            out = self._supervise(req.actor, lambda acd, who: acd.force_idle(who, req.employee_id))
            return pb.ForceIdleResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("ForceIdle", request, context, local)

    def Intercept(self, request: pb.InterceptRequest, context: Any) -> pb.InterceptResponse:
        def local(req: pb.InterceptRequest) -> pb.InterceptResponse:
            out = self._supervise(
                req.actor,
                lambda acd, who: acd.intercept(
                    who,
                    req.supervisor,
                    call_id=req.call_id,
                    agent=req.agent,
                    ring_timeout=req.ring_timeout_seconds,
                ),
            )
            actions = actions_to_proto(out.result.actions, out.commit_id)
            # Due timers may have added actions for other calls: the call is the
            # InterceptCall's.
            found = [
                a.intercept_call.call_id
                for a in actions
                if a.WhichOneof("kind") == "intercept_call"
            ]
            return pb.InterceptResponse(
                error=error_to_proto(out.result.error),
                actions=actions,
                call_id=found[0] if found and out.result.ok else "",
            )

        return self._serve("Intercept", request, context, local)

    # ------------------------------------------------------------------ monitoring (R-SUP-1/2)

    def Monitor(self, request: pb.MonitorRequest, context: Any) -> pb.MonitorResponse:
        def local(req: pb.MonitorRequest) -> pb.MonitorResponse:
            out = self._supervise(
                req.actor,
                lambda acd, who: acd.monitor(
                    who,
                    req.supervisor,
                    call_id=req.call_id,
                    agent=req.agent,
                    mode=monitor_mode_name(req.mode),
                    record=req.record,
                    ring_timeout=req.ring_timeout_seconds,
                ),
            )
            actions = actions_to_proto(out.result.actions, out.commit_id)
            # Due timers may have added actions for other calls: the session is the
            # MonitorCall's.
            found = [a.monitor_call for a in actions if a.WhichOneof("kind") == "monitor_call"]
            made = found[0] if found and out.result.ok else None
            return pb.MonitorResponse(
                error=error_to_proto(out.result.error),
                actions=actions,
                session_id=made.session_id if made else "",
                call_id=made.call_id if made else "",
            )

        return self._serve("Monitor", request, context, local)

    def SwitchMonitor(
        self, request: pb.SwitchMonitorRequest, context: Any
    ) -> pb.SwitchMonitorResponse:
        def local(req: pb.SwitchMonitorRequest) -> pb.SwitchMonitorResponse:
            out = self._supervise(
                req.actor,
                lambda acd, who: acd.switch_monitor(
                    who, req.session_id, monitor_mode_name(req.mode)
                ),
            )
            return pb.SwitchMonitorResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("SwitchMonitor", request, context, local)

    def StopMonitor(self, request: pb.StopMonitorRequest, context: Any) -> pb.StopMonitorResponse:
        def local(req: pb.StopMonitorRequest) -> pb.StopMonitorResponse:
            out = self._supervise(req.actor, lambda acd, who: acd.stop_monitor(who, req.session_id))
            return pb.StopMonitorResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("StopMonitor", request, context, local)

    def ReportMonitor(
        self, request: pb.ReportMonitorRequest, context: Any
    ) -> pb.ReportMonitorResponse:
        def local(req: pb.ReportMonitorRequest) -> pb.ReportMonitorResponse:
            out = self._run(
                lambda acd: acd.report_monitor(
                    req.session_id,
                    monitor_state_name(req.state),
                    mode=monitor_mode_name(req.mode),
                    call_id=req.call_id,
                    agent=req.agent,
                    reason=req.reason,
                )
            )
            return pb.ReportMonitorResponse(error=error_to_proto(out.result.error))

        return self._serve("ReportMonitor", request, context, local)

    # ------------------------------------------------------------------ call commands

    def Enqueue(self, request: pb.EnqueueRequest, context: Any) -> pb.EnqueueResponse:
        def local(req: pb.EnqueueRequest) -> pb.EnqueueResponse:
            out = self._run(
                lambda acd: acd.enqueue(
                    req.call_id,
                    req.queue,
                    caller=req.caller,
                    category=req.category,
                    priority=req.priority,
                    source=req.source,
                    skills=dict(req.skills),
                    call_data=dict(req.call_data),
                )
            )
            return pb.EnqueueResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("Enqueue", request, context, local)

    def Answered(self, request: pb.AnsweredRequest, context: Any) -> pb.AnsweredResponse:
        def command(acd: Acd, call_id: str, employee_id: int) -> Result:
            # Idempotent for the agent who answered: a client that retries after a
            # fail-over (its first attempt committed, the reply lost) must not be told
            # CALL_ALREADY_ANSWERED, or it would never hang up and strand the agent.
            record = acd.call(call_id)
            if (
                record is not None
                and record["state"] == "talking"
                and record["agent"] == employee_id
            ):
                return Result()
            return acd.answered(call_id, employee_id)

        def local(req: pb.AnsweredRequest) -> pb.AnsweredResponse:
            out = self._run(lambda acd: command(acd, req.call_id, req.employee_id))
            return pb.AnsweredResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("Answered", request, context, local)

    def NoAnswer(self, request: pb.NoAnswerRequest, context: Any) -> pb.NoAnswerResponse:
        def local(req: pb.NoAnswerRequest) -> pb.NoAnswerResponse:
            out = self._run(lambda acd: acd.no_answer(req.call_id, req.employee_id))
            return pb.NoAnswerResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("NoAnswer", request, context, local)

    def Hangup(self, request: pb.HangupRequest, context: Any) -> pb.HangupResponse:
        def local(req: pb.HangupRequest) -> pb.HangupResponse:
            out = self._run(
                lambda acd: acd.hangup(req.call_id), side=_SIDES.get(req.side, "system")
            )
            return pb.HangupResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("Hangup", request, context, local)

    def Abandon(self, request: pb.AbandonRequest, context: Any) -> pb.AbandonResponse:
        def command(acd: Acd, call_id: str) -> Result:
            record = acd.call(call_id)
            if record is not None and record["state"] == "talking":
                return _refusal(
                    ErrorCode.CALL_ALREADY_ANSWERED, f"call {call_id!r} was answered; use Hangup"
                )
            return acd.hangup(call_id)

        def local(req: pb.AbandonRequest) -> pb.AbandonResponse:
            out = self._run(lambda acd: command(acd, req.call_id), side="caller")
            return pb.AbandonResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("Abandon", request, context, local)

    def TransferToQueue(
        self, request: pb.TransferToQueueRequest, context: Any
    ) -> pb.TransferToQueueResponse:
        def local(req: pb.TransferToQueueRequest) -> pb.TransferToQueueResponse:
            priority = req.priority if req.HasField("priority") else None
            out = self._run(
                lambda acd: acd.transfer(
                    req.call_id, to_queue=req.queue, front=not req.to_back, priority=priority
                )
            )
            return pb.TransferToQueueResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("TransferToQueue", request, context, local)

    def TransferToAgent(
        self, request: pb.TransferToAgentRequest, context: Any
    ) -> pb.TransferToAgentResponse:
        def local(req: pb.TransferToAgentRequest) -> pb.TransferToAgentResponse:
            out = self._run(lambda acd: acd.transfer(req.call_id, to_agent=req.employee_id))
            return pb.TransferToAgentResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("TransferToAgent", request, context, local)

    def ReserveForInternalCall(
        self, request: pb.ReserveForInternalCallRequest, context: Any
    ) -> pb.ReserveForInternalCallResponse:
        def local(req: pb.ReserveForInternalCallRequest) -> pb.ReserveForInternalCallResponse:
            kind = "intercept" if req.kind == pb.CALL_KIND_INTERCEPT else "internal"
            callee = req.employee_id or self._employee_of(req.username)
            if callee is None:
                # Not an account the ACD knows, or one without an employee ID: it can
                # never be logged in, so it can never take a call through the ACD.
                return pb.ReserveForInternalCallResponse(
                    error=pb.Error(
                        code=pb.ERROR_CODE_NOT_LOGGED_IN
                        if req.username
                        else pb.ERROR_CODE_INVALID_ARGUMENT,
                        message=f"no agent account {req.username!r}"
                        if req.username
                        else "give employee_id or username",
                    )
                )
            origin = self._employee_of(req.calling_agent) if req.calling_agent else None
            out = self._run(
                lambda acd: acd.reserve_for_internal_call(
                    callee,
                    req.call_id,
                    caller=req.caller,
                    category=req.category,
                    kind=kind,
                    source=req.source,
                    origin=origin,
                    call_data=dict(req.call_data),
                )
            )
            return pb.ReserveForInternalCallResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("ReserveForInternalCall", request, context, local)

    def Reconcile(self, request: pb.ReconcileRequest, context: Any) -> pb.ReconcileResponse:
        def local(req: pb.ReconcileRequest) -> pb.ReconcileResponse:
            out = self._run(lambda acd: acd.reconcile(list(req.active_call_ids)))
            return pb.ReconcileResponse(
                error=error_to_proto(out.result.error),
                actions=actions_to_proto(out.result.actions, out.commit_id),
            )

        return self._serve("Reconcile", request, context, local)

    def GetCallPosition(
        self, request: pb.GetCallPositionRequest, context: Any
    ) -> pb.GetCallPositionResponse:
        return self._serve("GetCallPosition", request, context, self._call_position)

    def _call_position(self, req: pb.GetCallPositionRequest) -> pb.GetCallPositionResponse:
        def read(acd: Acd) -> dict[str, Any] | str:
            found = acd.call_position(req.call_id)
            if found is not None:
                return found
            gone = acd.ended_at(req.call_id) is not None
            return f"call {req.call_id!r} already ended" if gone else f"no call {req.call_id!r}"

        found = self._engine.read(read)
        if isinstance(found, str):
            return pb.GetCallPositionResponse(
                error=pb.Error(code=pb.ERROR_CODE_UNKNOWN_CALL, message=found)
            )
        reply = pb.GetCallPositionResponse(
            queue=found["queue"],
            waiting=found["waiting"],
            position=found["position"],
            queue_length=found["queue_length"],
            waited_seconds=found["waited"],
            priority=found["priority"],
            skills=found["skills"],
        )
        if found["expected_wait"] is not None:
            reply.expected_wait_seconds = found["expected_wait"]
        return reply

    # ------------------------------------------------------------------ recording (R-AG-8/9)

    def PlayMessage(self, request: pb.PlayMessageRequest, context: Any) -> pb.PlayMessageResponse:
        def local(req: pb.PlayMessageRequest) -> pb.PlayMessageResponse:
            out = self._run(
                lambda acd: acd.play_message(
                    req.employee_id, req.session_id, req.text, req.language
                )
            )
            actions = actions_to_proto(out.result.actions, out.commit_id)
            # Due timers may have added actions for other calls: the call is the message's.
            found = [a.play_message.call_id for a in actions if a.HasField("play_message")]
            return pb.PlayMessageResponse(
                error=error_to_proto(out.result.error),
                actions=actions,
                call_id=found[0] if found and out.result.ok else "",
            )

        return self._serve("PlayMessage", request, context, local)

    def ControlRecording(
        self, request: pb.ControlRecordingRequest, context: Any
    ) -> pb.ControlRecordingResponse:
        def local(req: pb.ControlRecordingRequest) -> pb.ControlRecordingResponse:
            now: dict[str, str] = {}

            def command(acd: Acd) -> Result:
                result = acd.control_recording(
                    req.employee_id, req.session_id, recording_op_name(req.op), req.name
                )
                # The state after it (also after a refusal: the desktop resyncs from it).
                agent = acd.agent(req.employee_id)
                call = acd.call(agent["call"]) if agent and agent["call"] else None
                if call is not None:
                    now["state"] = call.get("recording", "off")
                    now["ref"] = call.get("recording_ref", "")
                return result

            out = self._run(command)
            actions = actions_to_proto(out.result.actions, out.commit_id)
            sent = [a.recording_command for a in actions if a.HasField("recording_command")]
            return pb.ControlRecordingResponse(
                error=error_to_proto(out.result.error),
                actions=actions,
                # STOP: the ref of the recording it stopped.
                ref=sent[0].ref if sent and out.result.ok else now.get("ref", ""),
                state=recording_state_to_proto(now.get("state", "off")),
            )

        return self._serve("ControlRecording", request, context, local)

    def ReportRecording(
        self, request: pb.ReportRecordingRequest, context: Any
    ) -> pb.ReportRecordingResponse:
        def local(req: pb.ReportRecordingRequest) -> pb.ReportRecordingResponse:
            out = self._run(
                lambda acd: acd.report_recording(
                    req.call_id, recording_state_name(req.state), req.ref
                )
            )
            return pb.ReportRecordingResponse(error=error_to_proto(out.result.error))

        return self._serve("ReportRecording", request, context, local)

    # ------------------------------------------------------------------ voicemail (R-VM-1)

    def _viewer(self, actor: pb.Actor) -> Viewer:
        """Who asks for voicemail, or VoicemailError(PERMISSION_DENIED)."""
        which = actor.WhichOneof("identity")
        if which == "admin":
            who = self._authenticated(actor.admin.username, actor.admin.password)
            # A supervisor's or an admin's own credentials (the dashboards' Supervisor
            # page sends them, as for ForceBusy): every box.
            if isinstance(who, Account) and (who.is_admin or "supervisor" in who.roles):
                return Viewer(who.username, everything=True)
            raise VoicemailError(
                pb.ERROR_CODE_PERMISSION_DENIED,
                "unknown account or wrong password"
                if isinstance(who, Refusal)
                else f"{actor.admin.username!r} is neither a supervisor nor an admin",
            )
        if which == "desk":
            desk = actor.desk
            record = self._engine.read(lambda acd: acd.agent(desk.employee_id))
            if record is not None and record["session"] == desk.session_id:
                return Viewer(
                    record["username"],
                    everything=record["role"] == "supervisor",
                    skills=dict(record["skills"]),
                )
            raise VoicemailError(
                pb.ERROR_CODE_PERMISSION_DENIED, f"employee {desk.employee_id} has no such session"
            )
        raise VoicemailError(pb.ERROR_CODE_PERMISSION_DENIED, "voicemail needs an actor")

    def ListVoicemail(
        self, request: pb.ListVoicemailRequest, context: Any
    ) -> pb.ListVoicemailResponse:
        def local(req: pb.ListVoicemailRequest) -> pb.ListVoicemailResponse:
            try:
                messages = self._voicemail.list(self._viewer(req.actor), req.box, req.include_heard)
            except VoicemailError as exc:
                return pb.ListVoicemailResponse(error=exc.to_proto())
            return pb.ListVoicemailResponse(messages=messages)

        return self._serve("ListVoicemail", request, context, local)

    def GetVoicemailAudio(
        self, request: pb.GetVoicemailAudioRequest, context: Any
    ) -> pb.GetVoicemailAudioResponse:
        def local(req: pb.GetVoicemailAudioRequest) -> pb.GetVoicemailAudioResponse:
            try:
                wav, message = self._voicemail.audio(self._viewer(req.actor), req.message_id)
            except VoicemailError as exc:
                return pb.GetVoicemailAudioResponse(error=exc.to_proto())
            return pb.GetVoicemailAudioResponse(wav=wav, message=message)

        return self._serve("GetVoicemailAudio", request, context, local)

    def MarkVoicemailHeard(
        self, request: pb.MarkVoicemailHeardRequest, context: Any
    ) -> pb.MarkVoicemailHeardResponse:
        def local(req: pb.MarkVoicemailHeardRequest) -> pb.MarkVoicemailHeardResponse:
            try:
                self._voicemail.mark_heard(self._viewer(req.actor), req.message_id)
            except VoicemailError as exc:
                return pb.MarkVoicemailHeardResponse(error=exc.to_proto())
            return pb.MarkVoicemailHeardResponse()

        return self._serve("MarkVoicemailHeard", request, context, local)

    def DeleteVoicemail(
        self, request: pb.DeleteVoicemailRequest, context: Any
    ) -> pb.DeleteVoicemailResponse:
        def local(req: pb.DeleteVoicemailRequest) -> pb.DeleteVoicemailResponse:
            try:
                self._voicemail.delete(self._viewer(req.actor), req.message_id)
            except VoicemailError as exc:
                return pb.DeleteVoicemailResponse(error=exc.to_proto())
            return pb.DeleteVoicemailResponse()

        return self._serve("DeleteVoicemail", request, context, local)

    # ------------------------------------------------------------------ live view

    def _local_snapshot(self, _req: object = None) -> pb.GetSnapshotResponse:
        snapshot = self._engine.read(lambda acd: acd.snapshot())
        return pb.GetSnapshotResponse(snapshot=snapshot_to_proto(snapshot, self._settings.node))

    def GetSnapshot(self, request: pb.GetSnapshotRequest, context: Any) -> pb.GetSnapshotResponse:
        return self._serve("GetSnapshot", request, context, self._local_snapshot)

    def _snapshot_anywhere(self) -> pb.Snapshot | None:
        try:
            if self._engine.is_leader:
                return self._local_snapshot().snapshot
            reply: pb.GetSnapshotResponse = self._forwarder.unary(
                "GetSnapshot", pb.GetSnapshotRequest(), timeout=1.0
            )
            return reply.snapshot
        except (NotLeader, NoLeader, grpc.RpcError):
            return None

    def WatchSnapshot(
        self, request: pb.WatchSnapshotRequest, context: Any
    ) -> Iterator[pb.WatchSnapshotResponse]:
        interval = request.max_interval_seconds
        interval = _MAX_PUSH_INTERVAL if not 0 < interval < _MAX_PUSH_INTERVAL else interval
        failures = 0
        while context.is_active() and not self._stopping.is_set():
            version = self._fanout.version
            snapshot = self._snapshot_anywhere()
            if snapshot is None:
                failures += 1
                if failures * 0.2 >= interval:  # no leader for a whole interval
                    context.abort(grpc.StatusCode.UNAVAILABLE, "no ACD leader; reconnect")
                self._stopping.wait(0.2)
                continue
            failures = 0
            yield pb.WatchSnapshotResponse(snapshot=snapshot)
            if self._fanout.wait_change(version, interval) != version:
                self._stopping.wait(_COALESCE)

    def WatchActions(
        self, request: pb.WatchActionsRequest, context: Any
    ) -> Iterator[pb.WatchActionsResponse]:
        sub, last_commit = self._fanout.subscribe(request.employee_id)
        try:
            # Headers now: once the client has them, it is subscribed and misses nothing.
            context.send_initial_metadata(((LAST_COMMIT_HEADER, last_commit),))
            skip = (0, 0)
            if request.after_commit:
                replayed, last = self._fanout.replay(request.after_commit, request.employee_id)
                for action in replayed:
                    yield pb.WatchActionsResponse(action=action)
                skip = stream_id(last)
            while context.is_active() and not self._stopping.is_set():
                try:
                    item = sub.queue.get(timeout=0.25)
                except queue.Empty:
                    continue
                if item is None:
                    context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "watcher fell behind; resume with after_commit",
                    )
                    return
                if stream_id(item.commit_id) > skip:
                    yield pb.WatchActionsResponse(action=item)
        finally:
            self._fanout.unsubscribe(sub)
