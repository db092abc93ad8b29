"""Consult targets and intercepting supervisors of the calls the ACD drives.

The controller's `consult` and `intercept` commands ring a second agent beside the
call's own. On a call the ACD drives, that agent is reserved at the ACD first, under
an ID of its own (`SideReservation`: `<cid>.consult1`, `<cid>.intercept2`, ...),
because the ACD's calls have one agent each. When the reserved agent takes the caller
over, the call's first ACD call ends (its agent wraps up) and the reservation carries
the call; when it does not, the reservation is undone and, if the agent left
meanwhile, the caller goes back to its queue (docs/call-control.md, "Driven by the ACD").

Threads as in the driver (`_acd_driver.py`): everything runs on the SIP loop except
`command` (the control socket's thread, between two hops onto the loop) and the RPCs
(the driver's RPC chains).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from acd_api.v1 import acd_pb2 as pb
from controller._acd_calls import (
    CAUSE_UNDELIVERED,
    NO_ANSWER,
    AgentRing,
    DrivenCall,
    SideReservation,
    acd_log,
)
from controller._acd_options import AcdOptions, ring_time
from controller._acd_rpc import OK, AcdRpc, code_name, reply_code, rpc_error
from controller._ports import Execute, OnLoop, Post
from controller._rpc_chains import Submit
from eventlog import CALL_ANSWERED, CALL_NO_ANSWER, CALL_RINGING, CALL_TRANSFERRED

__all__ = ["SIDE_KINDS", "SideReservations"]

M = TypeVar("M", bound=Message)

# Commands that ring an agent beside the call's own, and the reservation kind they make.
SIDE_KINDS = {
    "consult": pb.CALL_KIND_INTERNAL,
    "intercept": pb.CALL_KIND_INTERCEPT,
    # A monitoring supervisor takes the caller on the leg it has (docs/monitoring.md).
    "monitor_intercept": pb.CALL_KIND_INTERCEPT,
}
_REPLY_TYPES: dict[str, type[Message]] = {
    "Abandon": pb.AbandonResponse,
    "Hangup": pb.HangupResponse,
    "NoAnswer": pb.NoAnswerResponse,
}


class Send(Protocol):
    """The driver's `_send`: an RPC on the call's chain, its reply handled on the loop."""

    def __call__(
        self,
        call: DrivenCall,
        method: str,
        request: Message,
        reply_type: type[M],
        on_reply: Callable[[DrivenCall, M], None],
    ) -> None: ...


class SideReservations:
    """The side legs of the driver's calls: reserved, rung, answered, taken over, undone.

    It shares the driver's calls (read only here), RPC chains and loop; what it does to
    a call goes through the driver's own steps (`run` a command, `apply` the ACD's
    actions, `send` a report, `hangup`, `parked` for the queue's music)."""

    def __init__(
        self,
        options: AcdOptions,
        rpc: AcdRpc,
        calls: Mapping[str, DrivenCall],
        *,
        stopping: threading.Event,
        post: Post,
        submit: Submit,
        run: Execute,
        apply: Callable[[Sequence[pb.Action]], None],
        send: Send,
        hangup: Callable[[str, str], None],
        parked: Callable[[str, str], None],
        hold_music: Callable[[str], Path | None] = lambda queue: None,
        carrier_changed: Callable[[DrivenCall], None] = lambda call: None,
    ) -> None:
        self.options = options
        self._rpc = rpc
        self._calls = calls
        self._stopping = stopping
        self._post = post
        self._submit = submit
        self._run = run
        self._apply = apply
        self._send = send
        self._hangup = hangup
        self._parked = parked
        self._hold_music = hold_music
        # Told when a reservation takes the call over, before the old ACD call's Hangup
        # is sent (monitoring sessions move to the new ACD call first: docs/monitoring.md).
        self._carrier_changed = carrier_changed
        # The ACD call IDs a call has besides its own (its reservations, and the one
        # that carries it after a takeover) -> the call. Loop-owned; the driver's feed
        # thread only tests membership (a GIL-atomic dict read).
        self.aliases: dict[str, DrivenCall] = {}

    def command(self, request: Mapping[str, Any], on_loop: OnLoop) -> dict[str, Any]:
        """`consult` or `intercept` from outside the loop (the control socket's thread).

        They ring an agent, so on a call the ACD drives they first reserve it at the
        ACD (ReserveForInternalCall, kind internal or intercept): the RPC runs on this
        thread, never on the loop; a refusal is the command's reply and nothing about
        the call changed. `on_loop(fn)` runs `fn` on the loop and returns its result.
        """
        prepared: dict[str, Any] | tuple[DrivenCall, SideReservation] = on_loop(
            partial(self._prepare_side, request)
        )
        if isinstance(prepared, dict):
            return prepared  # refused before the ACD was asked, or no ACD call to guard
        call, side = prepared
        outcome = self._reserve_side(call, side)
        reply: dict[str, Any] | None = on_loop(
            partial(self._start_side, call, side, request, outcome)
        )
        assert reply is not None
        return reply

    def intercept_call(self, call: DrivenCall, action: pb.InterceptCall) -> None:
        """On the loop: a supervisor's Intercept, checked by the ACD, for one of this
        replica's calls. The control socket's `intercept` (`command`) in the same three
        steps, the reservation on the RPC pool (never on the loop or the feed thread);
        nobody waits for a reply, so a refusal is logged. The supervisor is reserved (or
        refused) at the ACD, which its state and the event log show."""
        request: dict[str, Any] = {"cmd": "intercept", "cid": call.cid, "agent": action.username}
        if action.ring_timeout_seconds > 0:
            request["ring_timeout_s"] = action.ring_timeout_seconds
        acd_log(
            call.cid,
            "the ACD asks for an intercept by %s (requested by %s)",
            action.username,
            action.requested_by or "?",
        )
        if action.call_id != call.acd_call or call.acd_gone:
            # A consult target's reservation, or an ACD call another has taken over since.
            self._intercept_refused(call, action, "the call is no longer that ACD call")
            return
        prepared = self._prepare_side(request)
        if isinstance(prepared, dict):
            self._intercept_refused(call, action, str(prepared.get("error")))
            return
        _, side = prepared

        def reserve() -> None:  # on a worker
            outcome = self._reserve_side(call, side)
            self._post(partial(self._intercept_reserved, call, side, request, outcome, action))

        # Keyed by the reservation, not the call: its retries do not hold up the call's
        # own reports; an undo (Abandon) is only sent once this reply is in.
        self._submit(side.rid, reserve)

    def monitor_intercept(self, call: DrivenCall, session_id: str, supervisor: str) -> None:
        """On the loop: a monitoring supervisor intercepts (SwitchMonitor INTERCEPT or
        its `*` key). As `intercept_call`: the supervisor is reserved at the ACD on the
        RPC pool, then `monitor_intercept` hands it the caller on the leg it already
        has; the events are an intercept's, so the reservation carries the call."""
        request: dict[str, Any] = {
            "cmd": "monitor_intercept",
            "cid": call.cid,
            "session": session_id,
            "agent": supervisor,
        }
        acd_log(call.cid, "monitoring session %s: %s intercepts", session_id, supervisor)
        if call.acd_gone:
            self._monitor_intercept_refused(call, supervisor, "the ACD call was taken over")
            return
        prepared = self._prepare_side(request)
        if isinstance(prepared, dict):
            self._monitor_intercept_refused(call, supervisor, str(prepared.get("error")))
            return
        _, side = prepared

        def reserve() -> None:  # on a worker
            outcome = self._reserve_side(call, side)
            self._post(partial(self._monitor_intercept_reserved, call, side, request, outcome))

        self._submit(side.rid, reserve)

    def _monitor_intercept_reserved(
        self,
        call: DrivenCall,
        side: SideReservation,
        request: Mapping[str, Any],
        outcome: pb.ReserveForInternalCallResponse | str,
    ) -> None:
        reply = self._start_side(call, side, request, outcome)
        if not reply.get("ok"):
            self._monitor_intercept_refused(call, side.username, str(reply.get("error")))

    @staticmethod
    def _monitor_intercept_refused(call: DrivenCall, supervisor: str, why: str) -> None:
        acd_log(
            call.cid,
            "intercept by monitoring supervisor %s not carried out: %s",
            supervisor,
            why,
            level=logging.WARNING,
        )

    def _intercept_reserved(
        self,
        call: DrivenCall,
        side: SideReservation,
        request: Mapping[str, Any],
        outcome: pb.ReserveForInternalCallResponse | str,
        action: pb.InterceptCall,
    ) -> None:
        reply = self._start_side(call, side, request, outcome)
        if not reply.get("ok"):
            self._intercept_refused(call, action, str(reply.get("error")))

    @staticmethod
    def _intercept_refused(call: DrivenCall, action: pb.InterceptCall, why: str) -> None:
        acd_log(
            call.cid,
            "intercept by %s (requested by %s) not carried out: %s",
            action.username,
            action.requested_by or "?",
            why,
            level=logging.WARNING,
        )

    def _prepare_side(
        self, request: Mapping[str, Any]
    ) -> dict[str, Any] | tuple[DrivenCall, SideReservation]:
        """On the loop: the command's own checks, then a reservation ID for the target."""
        cmd = str(request.get("cmd"))
        call = self._calls.get(str(request.get("cid")))
        if call is None:
            # Not a call the ACD drives (an originated call, or none at all): the
            # command as it is; its reply says what is wrong, if anything.
            return self._run(request)
        check = self._run({**request, "cmd": f"check_{cmd}"})
        if not check.get("ok"):
            return check
        if call.callee:
            # Its calling agent is an agent too, who would be freed at the ACD when the
            # new party took over while still talking to it.
            return {
                "ok": False,
                "error": f"{cmd} of an internal call (agent to agent) is "
                "not supported with the ACD",
            }
        if call.side is not None or call.acd_done or not call.enqueued:
            return {
                "ok": False,
                "error": f"call {call.cid}: the ACD is not ready for a {cmd} now; try again",
            }
        call.sides += 1
        side = SideReservation(f"{call.cid}.{cmd}{call.sides}", cmd, str(request.get("agent")))
        if cmd == "monitor_intercept":
            # Nothing rings: the supervisor's leg exists (its call.answered names it).
            side.leg_id = str(check.get("result", {}).get("leg_id", ""))
        call.side = side
        # Before the RPC: the registry lists it from now on (the reconciler would end a
        # reservation of this replica that it does not list), and the feed lets its
        # actions through.
        self.aliases[side.rid] = call
        return call, side

    def _reserve_side(
        self, call: DrivenCall, side: SideReservation
    ) -> pb.ReserveForInternalCallResponse | str:
        """Off the loop: reserve the target. The reply, or why there is none."""
        kind = SIDE_KINDS[side.command]
        agent = call.agent.username if call.agent is not None else ""
        request = pb.ReserveForInternalCallRequest(
            call_id=side.rid,
            username=side.username,
            kind=kind,
            source=self.options.source,
            # What the target's desk shows: the consulting agent, or the customer.
            caller=agent if side.command == "consult" else call.caller,
            category=call.category,
            # The IVR path and account, for the desk of whoever may take the caller over.
            call_data=call.call_data,
        )
        try:
            return self._rpc.call(
                "ReserveForInternalCall",
                request,
                pb.ReserveForInternalCallResponse,
                retry_for=self.options.enqueue_timeout_s,
                cancelled=self._stopping.is_set,
            )
        except grpc.RpcError as exc:
            return rpc_error(exc)

    def _side_command(
        self,
        call: DrivenCall,
        side: SideReservation,
        request: Mapping[str, Any],
        outcome: pb.ReserveForInternalCallResponse,
    ) -> dict[str, Any]:
        """The command that rings the reserved target: the request, with the ACD's
        reservation ID, a ring timer shorter than the ACD's, and for a consult the
        queue's music for the parked caller."""
        ring_s: float | None = None
        for action in outcome.actions:
            if action.WhichOneof("kind") == "offer" and action.offer.call_id == side.rid:
                side.employee_id = action.offer.employee_id
                ring_s = ring_time(action.offer.ring_timeout_seconds, self.options.ring_margin_s)
        run = dict(request)
        run["acd_call_id"] = side.rid  # the target's phone pairs it with this offer
        if side.command == "consult" and not request.get("hold_file"):
            # The caller parked by a consult hears its queue's music, as while it waited
            # (a desk's consult names no file: it cannot know the rtpengine host's).
            music = self._hold_music(call.queue)
            if music is not None:
                run["hold_file"] = str(music)
        if ring_s is not None:
            # The controller's ring timer fires before the ACD's (as for an Offer).
            given = request.get("ring_timeout_s")
            if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
                ring_s = min(ring_s, float(given))
            run["ring_timeout_s"] = ring_s
        return run

    def _start_side(
        self,
        call: DrivenCall,
        side: SideReservation,
        request: Mapping[str, Any],
        outcome: pb.ReserveForInternalCallResponse | str,
    ) -> dict[str, Any]:
        """On the loop: ring the reserved target (the command itself), or report why not."""
        cmd, agent = side.command, side.username
        code = OK if isinstance(outcome, str) else reply_code(outcome)
        if isinstance(outcome, str) or code == pb.ERROR_CODE_CALL_EXISTS:
            # No answer, or a retry whose first attempt may have committed: the ACD may
            # hold the reservation, so it is undone.
            self._drop_side(call, side, abandon=True)
            why = outcome if isinstance(outcome, str) else "reservation uncertain"
            return {
                "ok": False,
                "error": f"the ACD did not reserve {agent} for the {cmd} "
                f"({why}); nothing changed, try again",
            }
        if code != OK:
            self._drop_side(call, side, abandon=False)
            acd_log(
                call.cid,
                "the ACD refused %s for the %s (%s: %s)",
                agent,
                cmd,
                code_name(code),
                outcome.error.message,
                level=logging.WARNING,
            )
            return {
                "ok": False,
                "error": f"the ACD refused {agent} for the {cmd}: "
                f"{code_name(code)} ({outcome.error.message})",
                "acd_error": code_name(code),
            }
        if self._calls.get(call.cid) is not call or call.side is not side:
            self._drop_side(call, side, abandon=True)
            return {"ok": False, "error": f"no such call {call.cid}"}
        if side.acd_dropped:  # its CancelRing came on the feed before this reply
            self._drop_side(call, side, abandon=False)
            return {"ok": False, "error": f"the ACD took {agent} back at once; try again"}
        run = self._side_command(call, side, request, outcome)
        ringing = call.ring
        if cmd == "intercept" and ringing is not None:
            # The agent's ring is cancelled by the intercept: its no-answer is not the
            # queue's to count, nor a reason to offer the call to someone else.
            call.ring = None
        reply = self._run(run)
        if not reply.get("ok"):
            call.ring = ringing
            self._drop_side(call, side, abandon=True)
            return reply
        side.started = True
        acd_log(
            call.cid,
            "the ACD reserved %s (employee %s) for the %s as %s",
            agent,
            side.employee_id,
            cmd,
            side.rid,
        )
        if ringing is not None and call.ring is None:
            # The ACD's call for the ringing agent ends here (the agent back to idle, not
            # a no-answer); the supervisor's reservation carries the call from now on.
            call.agent_left = True
            call.acd_gone = True
            self._submit(
                call.cid,
                partial(
                    self._side_rpc, call.cid, "Abandon", pb.AbandonRequest(call_id=call.acd_call)
                ),
            )
        self._apply(outcome.actions)
        return reply

    def _drop_side(self, call: DrivenCall, side: SideReservation, *, abandon: bool) -> None:
        if call.side is side:
            call.side = None
        self.aliases.pop(side.rid, None)
        if abandon:
            self._submit(
                call.cid,
                partial(self._side_rpc, call.cid, "Abandon", pb.AbandonRequest(call_id=side.rid)),
            )

    def event(
        self, call: DrivenCall, side: SideReservation, kind: str, data: Mapping[str, str]
    ) -> bool:
        """The call's events that concern its side leg; True if consumed."""
        if kind == CALL_RINGING and side.leg_id is None and data.get("agent") == side.username:
            side.leg_id = data.get("leg_id", "")
            return True
        if kind == CALL_TRANSFERRED and data.get("to") == side.username:
            # The agent left (completed transfer, hang up to transfer, the supervisor
            # answered): whoever has the side leg takes the caller.
            call.agent_left = True
            if side.answered:
                self._side_took_call(call, side)
            return True
        if side.leg_id is None or data.get("leg_id") != side.leg_id:
            return False
        if kind == CALL_ANSWERED:
            self._side_answered(call, side)
            return True
        if kind == CALL_NO_ANSWER:
            self._side_gone(call, side)
            return True
        return False

    def consult_answered(self, cid: str, leg_id: str, agent: str) -> None:
        """The service's hook (`CallService.on_consult_answered`): the consult target
        talks with the agent. On the loop."""
        call = self._calls.get(cid)
        side = call.side if call is not None else None
        if call is not None and side is not None and side.leg_id == leg_id:
            self._side_answered(call, side)

    def _side_answered(self, call: DrivenCall, side: SideReservation) -> None:
        if not side.answered:
            side.answered = True
            self._send(
                call,
                "Answered",
                pb.AnsweredRequest(call_id=side.rid, employee_id=side.employee_id),
                pb.AnsweredResponse,
                partial(self._side_answered_reply, side),
            )
        if call.agent_left:
            self._side_took_call(call, side)

    def _side_answered_reply(
        self, side: SideReservation, call: DrivenCall, reply: pb.AnsweredResponse
    ) -> None:
        code = reply_code(reply)
        if code != OK:
            acd_log(
                call.cid,
                "the ACD refused Answered by %s (%s: %s): it does not count it as talking",
                side.username,
                code_name(code),
                reply.error.message,
                level=logging.ERROR,
            )
        self._apply(reply.actions)

    def _side_took_call(self, call: DrivenCall, side: SideReservation) -> None:
        """The side leg has the caller and the agent is gone: the agent's ACD call ends
        (it wraps up as after a hang-up) and the reservation carries the call."""
        old, old_gone = call.acd_call, call.acd_gone
        if call.acd_id:
            self.aliases.pop(call.acd_id, None)
        acd_log(call.cid, "%s took the call over; the ACD call is now %s", side.username, side.rid)
        call.acd_id, call.acd_gone = side.rid, False
        call.agent = AgentRing(side.employee_id, side.username, side.leg_id)
        call.ring, call.side, call.agent_left = None, None, False
        self._carrier_changed(call)
        if not old_gone:
            self._submit(
                call.cid,
                partial(
                    self._side_rpc,
                    call.cid,
                    "Hangup",
                    pb.HangupRequest(call_id=old, side=pb.HANGUP_SIDE_AGENT),
                ),
            )

    def _side_gone(self, call: DrivenCall, side: SideReservation) -> None:
        """The side leg ended without taking the caller (no answer, refused, cancelled,
        hung up after the consult)."""
        call.side = None
        self.aliases.pop(side.rid, None)
        if side.answered:
            self._submit(
                call.cid,
                partial(
                    self._side_rpc,
                    call.cid,
                    "Hangup",
                    pb.HangupRequest(call_id=side.rid, side=pb.HANGUP_SIDE_AGENT),
                ),
            )
        elif not side.acd_dropped:
            # Its Undelivered is dropped: the reservation has no caller of its own.
            self._submit(
                call.cid,
                partial(
                    self._side_rpc,
                    call.cid,
                    "NoAnswer",
                    pb.NoAnswerRequest(call_id=side.rid, employee_id=side.employee_id),
                ),
            )
        if call.agent_left:
            call.agent_left = False
            self._nobody_took_call(call, side)

    def _nobody_took_call(self, call: DrivenCall, side: SideReservation) -> None:
        """The agent left for a target or supervisor that did not answer: the caller
        waits parked. Back to the front of its queue, as a transfer to an agent who does
        not answer goes (the agent wraps up); without a queue, or without an ACD call
        left to move, the caller is hung up."""
        if call.acd_gone or not call.queue:
            acd_log(
                call.cid,
                "%s did not take the call and it has no queue to go back to; hanging up",
                side.username,
                level=logging.WARNING,
            )
            if call.acd_gone:
                call.acd_done = True
            # Posted: this runs inside the service's publish of the no-answer.
            self._post(partial(self._hangup, call.cid, f"{CAUSE_UNDELIVERED}:{NO_ANSWER}"))
            return
        acd_log(call.cid, "%s did not take the call; back to queue %s", side.username, call.queue)
        call.agent = None  # its Release in the reply is no news: its leg is gone
        request = pb.TransferToQueueRequest(call_id=call.acd_call, queue=call.queue)

        def done(call: DrivenCall, reply: pb.TransferToQueueResponse) -> None:
            code = reply_code(reply)
            if code != OK:
                acd_log(
                    call.cid,
                    "the ACD refused to queue the call again (%s: %s); hanging up",
                    code_name(code),
                    reply.error.message,
                    level=logging.ERROR,
                )
                self._hangup(call.cid, f"{CAUSE_UNDELIVERED}:{NO_ANSWER}")
                return
            self._parked(call.cid, call.queue)
            self._apply(reply.actions)

        self._send(call, "TransferToQueue", request, pb.TransferToQueueResponse, done)

    def action(self, call: DrivenCall, side: SideReservation, which: str, body: Any) -> None:
        if which == "offer":
            side.employee_id = side.employee_id or body.employee_id
            return
        if which not in ("cancel_ring", "undelivered") or side.answered:
            return
        if not side.started:
            side.acd_dropped = True  # nothing rings yet: _start_side gives up
            return
        # The ACD takes the reservation back while it rings (the target logged out, a
        # supervisor made it busy, the ACD's ring timer): stop ringing it.
        side.acd_dropped = True
        acd_log(
            call.cid,
            "the ACD takes %s back (%s); stopping its ring",
            side.username,
            getattr(body, "reason", ""),
        )
        state = self._run({"cmd": "call", "cid": call.cid}).get("result", {}).get("state")
        cmd = {
            "consult_ringing": "cancel_consult",
            "intercepting": "cancel_intercept",
            "ringing": "release",
        }.get(str(state))
        reply = self._run({"cmd": cmd, "cid": call.cid}) if cmd else {"ok": False}
        if not reply.get("ok"):
            acd_log(
                call.cid,
                "cannot stop ringing %s (%s)",
                side.username,
                reply.get("error"),
                level=logging.WARNING,
            )

    def call_ended(self, call: DrivenCall) -> None:
        """The call ended: a side leg still there leaves the ACD too, and the call's
        other ACD call IDs are forgotten (but for a pending reservation's: _start_side)."""
        self._end_side(call)
        for alias in [a for a, c in self.aliases.items() if c is call]:
            if call.side is None or alias != call.side.rid:  # a pending one: _start_side
                del self.aliases[alias]

    def _end_side(self, call: DrivenCall) -> None:
        side = call.side
        if side is None or not side.started:
            return  # none, or its reservation still on its way (_start_side undoes it)
        call.side = None
        self.aliases.pop(side.rid, None)
        if side.answered:
            request: Message = pb.HangupRequest(call_id=side.rid, side=pb.HANGUP_SIDE_SYSTEM)
            self._submit(call.cid, partial(self._side_rpc, call.cid, "Hangup", request))
        elif not side.acd_dropped:
            self._submit(
                call.cid,
                partial(self._side_rpc, call.cid, "Abandon", pb.AbandonRequest(call_id=side.rid)),
            )

    def _side_rpc(self, cid: str, method: str, request: Message) -> None:
        """On a worker: one report about a reservation or a call handed over; its reply
        carries nothing to act on (an Undelivered for a reservation is no news)."""
        reply_type = _REPLY_TYPES[method]
        reply: Any
        try:
            reply = self._rpc.call(
                method,
                request,
                reply_type,
                retry_for=self.options.retry_s,
                cancelled=self._stopping.is_set,
            )
        except grpc.RpcError as exc:
            acd_log(
                cid,
                "%s(%s) not delivered to the ACD (%s): the agent's state stays wrong "
                "there until Reconcile",
                method,
                getattr(request, "call_id", ""),
                rpc_error(exc),
                level=logging.ERROR,
            )
            return
        code = reply_code(reply)
        if code not in (OK, pb.ERROR_CODE_UNKNOWN_CALL, pb.ERROR_CODE_NOT_RINGING):
            acd_log(
                cid,
                "the ACD refused %s(%s) (%s: %s)",
                method,
                getattr(request, "call_id", ""),
                code_name(code),
                reply.error.message,
                level=logging.WARNING,
            )
        else:
            acd_log(cid, "%s(%s) at the ACD", method, getattr(request, "call_id", ""))
