"""The ACD drives the call controller (docs/call-control.md, "Driven by the ACD").

A call that reaches this replica is answered (parked) and enqueued at the ACD;
the ACD's `Offer` makes the controller ring that agent (`connect`), and what the
agent's leg does (answered, not answered, hung up) goes back to the ACD. An
internal call (an agent's phone dialled another agent; the edge's category
`internal`) reserves the callee instead (`ReserveForInternalCall`) before the
calling agent is answered, and a transfer the ACD makes (`Release`, then usually an
`Offer`) drops the agent's leg and rings the next one. The controller's own `consult`
and `intercept` commands, which ring a second agent beside the call's, reserve it
first too, under an ID of its own (`_side_reservations.py`); when it takes the caller
over, the call's first ACD call ends (its agent wraps up) and the reservation carries
the call.

Another component may take calls before the driver sees them: `claim_arrivals` (the
IVR host answers and serves the caller itself). When it wants an agent it hands the
answered, parked call over with `enqueue_answered`, and from then on the call is
the driver's like any other.

The controller itself is only used through its public surface: commands
(`Commands.execute`) and the call events it publishes. `EventTap` wraps the
configured `EventPublisher`: it forwards every event and lets `AcdDriver`
react to it (`_event_tap.py`). The options are in `_acd_options.py`, the state kept
per call in `_acd_calls.py`.

Threads. Every piece of state here belongs to the SIP loop (Sippy's ED2, the
main thread); the loop is never blocked on the ACD:
- RPCs to the ACD run on a small pool, in order per call (`_rpc_chains.py`), so a
  retry for one call (an ACD fail-over) does not hold up the others;
- one thread consumes WatchActions (`acd_client.ActionFeed`: resumes after the last
  commit it saw, backs off while the ACD is unreachable);
- both hand their results to the loop with `post` (ED2.callFromThread). A
  command is never run from inside a publish call either: the service is in the
  middle of its own work there, so reactions are posted too;
- a consult's or intercept's reservation runs on the control socket's thread that
  brought the command (`AcdDriver.command`), between two hops onto the loop, so its
  refusal can be the command's reply. A supervisor's intercept asked at the ACD (its
  `InterceptCall` action, acd.v1 `Intercept`) takes the same three steps, with the
  reservation on the RPC pool instead; a refusal there is logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

import prompts
from acd import call_data_problem, call_skills_problem
from acd_api.v1 import acd_pb2 as pb
from controller._acd_calls import (
    CAUSE_ACD_REFUSED,
    CAUSE_ACD_UNAVAILABLE,
    CAUSE_NO_QUEUE,
    CAUSE_OVERFLOW,
    CAUSE_UNDELIVERED,
    AgentRing,
    DrivenCall,
    acd_log,
)
from controller._acd_options import AcdOptions, ring_time
from controller._acd_rpc import OK, AcdRpc, code_name, reply_code, rpc_error
from controller._call import InvalidTransitionError
from controller._event_tap import EventTap
from controller._media import MediaError
from controller._monitoring import MixerError, Monitoring, MonitorReport, UnknownSessionError
from controller._play_message import CAUSE_MESSAGE_PLAYED, MessagePlayer
from controller._ports import EventPublisher, Execute, Later, OnLoop, Post
from controller._recording import CallRecorder
from controller._rpc_chains import RpcChains, Submit
from controller._service import UnknownCallError
from controller._side_reservations import SIDE_KINDS, SideReservations
from controller._sippy_loop import sippy_later
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_NO_ANSWER,
    CALL_RINGING,
    Event,
)
from prompts import Language

__all__ = ["AcdDriver", "ArrivalClaim", "HoldMedia", "sippy_driver"]

log = logging.getLogger("controller.acd")
M = TypeVar("M", bound=Message)

# The edge's X-CC-Category of a call an agent's phone placed to another agent's account
# (routing/_decide.py): the dialled number is the callee's account, the caller the
# calling agent's. Config validation keeps every number's category different.
INTERNAL_CATEGORY = "internal"

# The ACD's monitoring modes and the controller's names of them (docs/monitoring.md).
_MODE_NAMES = {
    pb.MONITOR_MODE_LISTEN: "listen",
    pb.MONITOR_MODE_WHISPER: "whisper",
    pb.MONITOR_MODE_BARGE: "barge",
}
_MONITOR_MODES = {name: mode for mode, name in _MODE_NAMES.items()}

_RECORDING_STATES = {
    "off": pb.RECORDING_STATE_OFF,
    "on": pb.RECORDING_STATE_ON,
    "paused": pb.RECORDING_STATE_PAUSED,
}

_SIDES = {
    "caller": pb.HANGUP_SIDE_CALLER,
    "agent": pb.HANGUP_SIDE_AGENT,
    "system": pb.HANGUP_SIDE_SYSTEM,
}


# ---------------------------------------------------------------- ports


class Feed(Protocol):
    def close(self) -> None: ...


class HoldMedia(Protocol):
    """Music on hold for parked callers (`controller/_queue_media.py`), on the loop.
    `language`: the caller's, for the announcements; None: the queue's."""

    def parked(self, cid: str, queue: str, language: Language | None = None) -> None: ...
    def forget(self, cid: str) -> None: ...
    def music(self, queue: str) -> Path | None: ...
    def observe(self, event: Event) -> None: ...
    def close(self) -> None: ...


FeedFactory = Callable[[Callable[[pb.Action], None]], Feed]
# Asked on every `call.arrived` (cid, the event's fields): True takes the call away from
# the driver (`AcdDriver.claim_arrivals`).
ArrivalClaim = Callable[[str, Mapping[str, str]], bool]
# A call's own skill requirements: as many as the ACD takes (acd.v1 EnqueueRequest).
# Priorities and skill levels travel as protobuf int32.
_INT32 = range(-(2**31), 2**31)


def call_skills(value: object) -> dict[str, int]:
    """`skills` of `enqueue_answered` and the `enqueue` command (skill -> minimum level
    >= 1) as a plain dict; ValueError saying what is wrong. None is no requirement.
    The rule is the ACD's (`acd.call_skills_problem`), asked here so that the IVR host
    hears a refusal at once; levels must also fit the wire's int32."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"skills must map skill names to levels, not {value!r}")
    skills = dict(value)
    problem = call_skills_problem(skills) or next(
        (
            f"skill {name!r} needs an integer level >= 1 that fits int32, not {level}"
            for name, level in skills.items()
            if level not in _INT32
        ),
        None,
    )
    if problem is not None:
        raise ValueError(problem)
    return skills


def checked_call_data(value: object) -> dict[str, str]:
    """`call_data` of `enqueue_answered` and the `enqueue` command (key -> text, for the
    agent who takes the call) as a plain dict; ValueError saying what is wrong. None is
    none. The rule is the ACD's (`acd.call_data_problem`), asked here so that the IVR
    host hears a refusal at once."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"call_data must map keys to texts, not {value!r}")
    data = dict(value)
    problem = call_data_problem(data)
    if problem is not None:
        raise ValueError(problem)
    return data


def _text_arg(request: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = request.get(name)
    if required and not value:
        raise ValueError(f"missing argument {name!r}")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, not {value!r}")
    return value


def prompt_language(value: str | None) -> Language | None:
    """A caller's language for the queue announcements; None or "": the queue's own."""
    if not value:
        return None
    if prompts.is_language(value):
        return value
    raise ValueError(
        f"language must be one of {', '.join(prompts.LANGUAGES)} (or none), not {value!r}"
    )


def _commit_key(commit_id: str) -> tuple[int, int]:
    """A commit (Redis stream) id as a comparable pair; malformed ids sort first."""
    ms, _, seq = commit_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


# ---------------------------------------------------------------- the driver


class AcdDriver:
    """Enqueues this replica's calls and acts on the ACD's actions for them."""

    def __init__(
        self,
        options: AcdOptions,
        rpc: AcdRpc,
        *,
        post: Post,
        later: Later,
        feed: FeedFactory | None = None,
        on_close: Callable[[], None] | None = None,
        submit: Submit | None = None,
    ) -> None:
        """`submit(cid, job)` runs RPC jobs in order per call (default: an `RpcChains`
        pool of `options.workers` threads; unit tests run them by hand)."""
        self.options = options
        self._rpc = rpc
        self._post = post
        self._later = later
        self._feed_factory = feed
        self._on_close = on_close
        self._feed: Feed | None = None
        self._execute: Execute | None = None
        self._chains: RpcChains | None = None
        if submit is None:
            self._chains = RpcChains(options.workers)
            submit = self._chains.submit
        self._submit = submit
        # Set at shutdown once the flush time is over: retries stop, so the process exits.
        self._stopping = threading.Event()
        # Loop-owned. The feed thread only tests membership (a GIL-atomic dict read):
        # an action for a call can only follow its Enqueue, which follows registration.
        self._calls: dict[str, DrivenCall] = {}
        self._sides = SideReservations(
            options,
            rpc,
            self._calls,
            stopping=self._stopping,
            post=post,
            submit=submit,
            run=self._run,
            apply=self._apply,
            send=self._send,
            hangup=self._hangup,
            parked=self._parked,
            hold_music=self._hold_music,
            carrier_changed=self._monitors_moved,
        )
        # The ACD call IDs a call has besides its own (its consult and intercept
        # reservations) -> the call; the side reservations' own dict, which the feed
        # thread tests as it does `_calls`.
        self._aliases = self._sides.aliases
        self._causes: dict[str, str] = {}  # cid -> cause of a hang-up made here
        self.hold: HoldMedia | None = None  # music on hold while a call waits (optional)
        # Who else takes arriving calls (the IVR host); None: the driver takes them all.
        self._claim: ArrivalClaim | None = None
        # A file rtpengine plays to the calling agent of an internal call while the
        # callee rings (controller/_ringback.py); None: it hears silence.
        self.ringback: str | None = None
        # Where a call the ACD routes to `voicemail` goes (the voicemail host's
        # `to_voicemail`: False if the queue has no box); None: such calls are hung up.
        self.to_voicemail: Callable[[DrivenCall], bool] | None = None
        # The calls' recordings (RecordingCommand) and the messages played before a
        # hang-up (PlayMessageCall); None: such actions are logged and dropped.
        self.recorder: CallRecorder | None = None
        self.messages: MessagePlayer | None = None
        # Supervisor monitoring on this replica (MonitorCall, MonitorCommand); None: none.
        self.monitoring: Monitoring | None = None
        # The monitoring sessions the ACD made (MonitorCall), live here: only those are
        # reported (an operator's `monitor` on the control socket is not the ACD's).
        self._acd_sessions: set[str] = set()

    # ------------------------------------------------------------ life

    def tap(self, inner: EventPublisher) -> EventTap:
        return EventTap(inner, self)

    def bind(self, execute: Execute) -> None:
        """The controller's command entry point (`Commands.execute`), run on the loop."""
        self._execute = execute

    def claim_arrivals(self, fn: ArrivalClaim | None) -> None:
        """`fn(cid, data)` is asked on every `call.arrived` (data: the event's fields,
        `dialled`, `caller`, `category`, ...) before the driver's own handling. True:
        the caller takes the call (the IVR host): the driver neither answers nor enqueues
        it and keeps nothing for it, until `enqueue_answered` hands it over. It runs on
        the loop inside the service's publish, so it must not run commands there (post
        them). One that raises is logged and the driver handles the call as usual, so the
        caller still reaches a queue. None: the driver takes every call again."""
        self._claim = fn

    def enqueue_answered(
        self,
        cid: str,
        *,
        queue: str,
        caller: str,
        category: str,
        priority: int = 0,
        skills: Mapping[str, int] | None = None,
        language: str | None = None,
        call_data: Mapping[str, str] | None = None,
    ) -> None:
        """Enqueue a call someone else (the IVR host) answered and parked, on the loop.

        `call_data` (acd.v1 EnqueueRequest.call_data: `ivr_path`, `account`) goes to the
        ACD with the Enqueue, which puts it on every Offer of the call.

        From here on it is the driver's as if it had answered it itself: the Enqueue
        (with `priority` and `skills`, the call's own requirements on top of the
        queue's) goes out with the same deadline and guard, the queue's music and
        announcements start (in `language`, the caller's, when given; None: the
        queue's), Offers ring agents, hang-ups are reported, and a refusal or an ACD
        that does not answer hangs the caller up with the usual causes. The deadline
        (`--acd-enqueue-timeout`) runs from this call, not from the arrival.

        Raises ValueError, changing nothing, for bad arguments, for a call the
        controller does not have or has not answered and parked (not while an agent
        rings or talks), and for a call the driver already drives.
        """
        if not queue:
            raise ValueError("enqueue needs a queue")
        if isinstance(priority, bool) or not isinstance(priority, int) or priority not in _INT32:
            raise ValueError(f"priority must be a 32-bit integer, not {priority!r}")
        needs = call_skills(skills)
        data = checked_call_data(call_data)
        spoken = prompt_language(language)
        if cid in self._calls:
            raise ValueError(f"call {cid} is already queued at the ACD")
        reply = self._run({"cmd": "call", "cid": cid})
        if not reply.get("ok"):
            raise ValueError(str(reply.get("error") or f"no such call {cid}"))
        state = reply["result"].get("state")
        if state != "parked":
            raise ValueError(
                f"call {cid} is {state}: only an answered caller who waits parked can be queued"
            )
        call = DrivenCall(
            cid,
            queue,
            caller,
            category,
            deadline=time.monotonic() + self.options.enqueue_timeout_s,
            priority=priority,
            skills=needs,
            language=spoken,
            call_data=data,
        )
        self._calls[cid] = call
        acd_log(
            cid,
            "handed over answered; enqueueing in %s (priority %s, skills %s, language %s)",
            queue,
            priority,
            ",".join(f"{k}={v}" for k, v in sorted(needs.items())) or "-",
            spoken or "the queue's",
        )
        self._enqueue(call)

    def play_messages(
        self, cache_dir: Path | None, events: EventPublisher, node: str
    ) -> MessagePlayer:
        """Carry out PlayMessageCall: render into `cache_dir` (the prompt cache, which
        rtpengine reads), publish `call.message_played` to `events`."""
        self.messages = MessagePlayer(
            run=self._run,
            post=self._post,
            later=self._later,
            hangup=self._hangup,
            events=events,
            cache_dir=cache_dir,
            node=node,
        )
        return self.messages

    def queue_of(self, cid: str) -> str:
        """The ACD queue the call is in now ("" for a call the ACD does not drive)."""
        call = self._calls.get(cid)
        return "" if call is None else call.queue

    def report_recording(self, cid: str, state: str, ref: str) -> None:
        """`CallRecorder.report`: tell the ACD a recording state the controller set by
        itself (ReportRecording), in order with the call's other requests."""
        call = self._calls.get(cid)
        if call is None or call.acd_done or call.acd_gone:
            return  # not the ACD's call (an IVR's, a voicemail), or no longer
        request = pb.ReportRecordingRequest(
            call_id=call.acd_call, state=_RECORDING_STATES[state], ref=ref
        )

        def done(call: DrivenCall, reply: pb.ReportRecordingResponse) -> None:
            code = reply_code(reply)
            if code != OK:
                acd_log(
                    call.cid,
                    "the ACD refused ReportRecording (%s: %s)",
                    code_name(code),
                    reply.error.message,
                    level=logging.WARNING,
                )

        self._send(call, "ReportRecording", request, pb.ReportRecordingResponse, done)

    def start(self) -> AcdDriver:
        if self._feed_factory is not None:
            self._feed = self._feed_factory(self._on_feed_action)
        log.info(
            "ACD %s: queues %s, default queue %s; internal calls reserve through it",
            ",".join(self.options.addresses),
            ",".join(f"{n}={q}" for n, q in sorted(self.options.queue_for.items())) or "-",
            self.options.default_queue or "- (other numbers are hung up)",
        )
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Send what is queued (the Hangup/Abandon of calls ended at shutdown), then stop."""
        if self._feed is not None:
            self._feed.close()
        flushed = self._chains.close(timeout_s) if self._chains is not None else True
        self._stopping.set()
        if not flushed:
            log.warning("ACD requests still queued at shutdown were dropped")
        if self.hold is not None:
            self.hold.close()
        if self.messages is not None:
            self.messages.close()
        if self._on_close is not None:
            self._on_close()

    @property
    def calls(self) -> Mapping[str, DrivenCall]:
        return self._calls

    def acd_call_ids(self) -> list[str]:
        """The ACD call IDs this replica holds besides its calls' own: the registry
        lists them too, or the ACD's reconciler would end a reservation as lost."""
        return list(self._aliases)

    def waiting_queue(self, cid: str) -> str | None:
        """The queue `cid` waits in, with no agent rung or talking and nothing beside it
        (the ACD took its Enqueue); None otherwise."""
        call = self._calls.get(cid)
        if (
            call is None
            or not call.enqueued
            or call.acd_done
            or call.ring is not None
            or call.agent is not None
            or call.side is not None
            or call.callee
        ):
            return None
        return call.queue

    def leave_queue(self, cid: str) -> DrivenCall | None:
        """Take a waiting caller out of its queue (the voicemail escape key): the ACD
        hears `Abandon`, the queue media stops, and the driver lets the call go (the
        caller stays answered and parked). None, changing nothing, if it does not wait."""
        if self.waiting_queue(cid) is None:
            return None
        call = self._calls[cid]
        self._detach(call)
        acd_log(cid, "the caller leaves queue %s; abandoning at the ACD", call.queue)
        self._submit(cid, partial(self._abandon_job, call, "caller"))
        return call

    def _detach(self, call: DrivenCall) -> None:
        """The driver holds nothing of the call any more; it goes on without the ACD."""
        self._calls.pop(call.cid, None)
        call.gone.set()
        if call.guard is not None:
            call.guard.cancel()
        self._sides.call_ended(call)
        if self.hold is not None:
            self.hold.forget(call.cid)

    # ------------------------------------------------------------ events (SIP loop)

    def rewrite(self, event: Event) -> Event:
        """`call.ended` of a hang-up made here carries its reason (e.g. `overflow:voicemail`)
        instead of the `hangup` command's generic 200/480."""
        if event.kind != CALL_ENDED:
            return event
        cause = self._causes.pop(event.correlation_id, None)
        if cause is None or event.data.get("side") != "system":
            return event
        return dataclasses.replace(event, data={**event.data, "cause": cause})

    def observe(self, event: Event) -> None:
        cid, kind, data = event.correlation_id, event.kind, event.data
        if kind == CALL_ARRIVED:
            self._arrived(cid, data)
            return
        call = self._calls.get(cid)
        if call is None:
            return
        if call.side is not None and self._sides.event(call, call.side, kind, data):
            return
        if kind == CALL_RINGING:
            ring = call.ring
            if ring is not None and ring.leg_id is None and data.get("agent") == ring.username:
                ring.leg_id = data.get("leg_id", "")
        elif kind == CALL_ANSWERED:
            self._answered(call, data)
        elif kind == CALL_NO_ANSWER:
            self._no_answer(call, data)
        elif kind == CALL_ENDED:
            self._ended(call, data)

    def _arrived(self, cid: str, data: Mapping[str, str]) -> None:
        if self._claimed(cid, data):
            return
        dialled = data.get("dialled", "")
        if data.get("category") == INTERNAL_CATEGORY:
            call = DrivenCall(
                cid,
                "",
                data.get("caller", ""),
                INTERNAL_CATEGORY,
                deadline=time.monotonic() + self.options.enqueue_timeout_s,
                callee=dialled,
            )
            self._calls[cid] = call
            self._post(partial(self._reserve, call))
            return
        queue = self.options.queue_for.get(dialled, self.options.default_queue)
        if queue is None:
            acd_log(
                cid,
                "dialled number %r has no ACD queue (--queue-for, --default-queue); hanging up",
                dialled,
                level=logging.WARNING,
            )
            self._post(partial(self._hangup, cid, CAUSE_NO_QUEUE))
            return
        call = DrivenCall(
            cid,
            queue,
            data.get("caller", ""),
            data.get("category", ""),
            deadline=time.monotonic() + self.options.enqueue_timeout_s,
        )
        self._calls[cid] = call
        self._post(partial(self._answer_and_enqueue, call))

    def _claimed(self, cid: str, data: Mapping[str, str]) -> bool:
        if self._claim is None:
            return False
        try:
            taken = bool(self._claim(cid, data))
        except Exception:
            log.exception("cid=%s the arrival claim failed; the ACD driver takes the call", cid)
            return False
        if taken:
            acd_log(cid, "claimed on arrival by another component; not enqueued here")
        return taken

    def _answer_and_enqueue(self, call: DrivenCall) -> None:
        if self._calls.get(call.cid) is not call:
            return  # the caller left before we got here
        reply = self._run({"cmd": "answer", "cid": call.cid})
        if not reply.get("ok"):
            acd_log(
                call.cid,
                "cannot answer the caller (%s); hanging up",
                reply.get("error"),
                level=logging.WARNING,
            )
            call.acd_done = True
            self._hangup(call.cid, None)
            return
        acd_log(call.cid, "parked; enqueueing in %s", call.queue)
        self._enqueue(call)

    def _enqueue(self, call: DrivenCall) -> None:
        """Send the Enqueue of an answered, parked call, and start its music."""
        # The worker gives up at the deadline; this timer also covers a worker that never
        # got to the call (every thread busy retrying during an outage).
        call.guard = self._later(
            max(0.0, call.deadline - time.monotonic()) + self.options.rpc_timeout_s,
            partial(self._enqueue_overdue, call),
        )
        self._submit(call.cid, partial(self._enqueue_job, call))
        # After the Enqueue is on its way: music never delays it.
        self._parked(call.cid, call.queue)

    def _reserve(self, call: DrivenCall) -> None:
        """An internal call: reserve the callee at the ACD before anything else. The
        calling agent is not answered yet, so a refusal is a final response to its
        INVITE (480), not a call that connects and drops; the Offer's `connect`
        answers it (the controller cannot ring a leg for an unanswered caller)."""
        if self._calls.get(call.cid) is not call:
            return  # the calling agent gave up before we got here
        acd_log(
            call.cid,
            "internal call from %s to %s; reserving %s at the ACD",
            call.caller,
            call.callee,
            call.callee,
        )
        call.guard = self._later(
            max(0.0, call.deadline - time.monotonic()) + self.options.rpc_timeout_s,
            partial(self._enqueue_overdue, call),
        )
        self._submit(call.cid, partial(self._reserve_job, call))

    def _answered(self, call: DrivenCall, data: Mapping[str, str]) -> None:
        ring = call.ring
        if ring is None or data.get("leg_id") != ring.leg_id:
            if call.agent is not None and data.get("leg_id") == call.agent.leg_id:
                return  # a consult target that took the call over: reported already
            acd_log(
                call.cid,
                "agent %s answered but was not offered the call by the ACD; not reported",
                data.get("agent"),
                level=logging.WARNING,
            )
            return
        call.ring, call.agent = None, ring
        request = pb.AnsweredRequest(call_id=call.cid, employee_id=ring.employee_id)
        self._send(
            call, "Answered", request, pb.AnsweredResponse, partial(self._answered_reply, ring)
        )

    def _answered_reply(
        self, ring: AgentRing, call: DrivenCall, reply: pb.AnsweredResponse
    ) -> None:
        code = reply_code(reply)
        if code != OK:
            # The caller keeps talking to the agent (hanging up on a person who answered
            # would be worse); the ACD's view of the agent is wrong until the call's
            # Hangup, and an Offer it makes meanwhile is ignored (see _offer).
            acd_log(
                call.cid,
                "the ACD refused Answered by agent %s (%s: %s): the call goes on, "
                "the ACD does not count the agent as talking",
                ring.username,
                code_name(code),
                reply.error.message,
                level=logging.ERROR,
            )
        self._apply(reply.actions)

    def _no_answer(self, call: DrivenCall, data: Mapping[str, str]) -> None:
        ring = call.ring
        if ring is None or data.get("leg_id") != ring.leg_id:
            return  # a ring the ACD cancelled itself (CancelRing): nothing to report
        call.ring = None
        acd_log(call.cid, "agent %s did not answer; telling the ACD", ring.username)
        self._report_no_answer(call, ring.employee_id)

    def _report_no_answer(self, call: DrivenCall, employee_id: int) -> None:
        request = pb.NoAnswerRequest(call_id=call.cid, employee_id=employee_id)

        def done(call: DrivenCall, reply: pb.NoAnswerResponse) -> None:
            code = reply_code(reply)
            if code != OK:  # e.g. NOT_RINGING: the ACD's ring timer was first
                acd_log(
                    call.cid,
                    "the ACD refused NoAnswer for %s (%s: %s)",
                    employee_id,
                    code_name(code),
                    reply.error.message,
                    level=logging.DEBUG,
                )
            self._apply(reply.actions)

        self._send(call, "NoAnswer", request, pb.NoAnswerResponse, done)

    def _ended(self, call: DrivenCall, data: Mapping[str, str]) -> None:
        del self._calls[call.cid]
        call.gone.set()
        if call.guard is not None:
            call.guard.cancel()
        self._sides.call_ended(call)
        if call.acd_done or call.acd_gone:
            return
        side = data.get("side", "system")
        if call.agent is None:
            self._submit(call.cid, partial(self._abandon_job, call, side))
        else:
            self._submit(call.cid, partial(self._hangup_job, call, side))

    # ------------------------------------------------------------ actions (SIP loop)

    def _on_feed_action(self, action: pb.Action) -> None:
        """On the feed thread: only this replica's calls go to the loop."""
        which = action.WhichOneof("kind")
        if which is not None and (
            getattr(action, which).call_id in self._calls
            or getattr(action, which).call_id in self._aliases
        ):
            self._post(partial(self._apply, [action]))

    def _apply(self, actions: Sequence[pb.Action]) -> None:
        """Actions from WatchActions or a command's reply (the same ones come both ways)."""
        for action in actions:
            which = action.WhichOneof("kind")
            if which is None:
                continue
            body = getattr(action, which)
            call = self._calls.get(body.call_id) or self._aliases.get(body.call_id)
            if call is None:
                continue  # another replica's call, or one that has ended here
            commit = _commit_key(action.commit_id)
            key = (action.commit_id, which, int(getattr(body, "employee_id", 0)))
            if commit < call.last_commit or key in call.seen:
                continue  # seen already (reply and feed), or older than what we acted on
            if commit > call.last_commit:
                call.last_commit = commit
                call.seen.clear()
            call.seen.add(key)
            if which == "intercept_call":
                # Whichever of the call's ACD calls it names: _intercept_call checks.
                self._sides.intercept_call(call, body)
            elif body.call_id != call.acd_call or call.acd_gone:
                # A consult or intercept reservation, or the call's first ACD call after
                # another took over.
                if call.side is not None and body.call_id == call.side.rid:
                    self._sides.action(call, call.side, which, body)
            else:
                self._own_action(call, which, body)

    def _own_action(self, call: DrivenCall, which: str, body: Any) -> None:
        """An action for the ACD call that carries the call now."""
        if which == "offer":
            self._offer(call, body)
        elif which == "cancel_ring":
            self._cancel_ring(call, body)
        elif which == "release":
            self._release(call, body)
        elif which == "route" and body.target == "voicemail" and self._voicemail_route(call):
            return
        elif which == "route":
            acd_log(
                call.cid,
                "the ACD routes the call to %s (%s); hanging up (no route targets yet)",
                body.target,
                body.reason,
                level=logging.WARNING,
            )
            call.acd_done = True
            self._hangup(call.cid, f"{CAUSE_OVERFLOW}:{body.target}")
        elif which == "recording_command":
            self._recording_command(call, body)
        elif which == "monitor_call":
            self._monitor_call(call, body)
        elif which == "monitor_command":
            self._monitor_command(call, body)
        elif which == "play_message":
            self._play_message(call, body)
        elif which == "undelivered":
            acd_log(
                call.cid,
                "the ACD gave up on the call (%s); hanging up",
                body.reason,
                level=logging.WARNING,
            )
            call.acd_done = True
            self._hangup(call.cid, f"{CAUSE_UNDELIVERED}:{body.reason}")

    def _voicemail_route(self, call: DrivenCall) -> bool:
        """The ACD routed the call to voicemail (its queue's overflow_target): the ACD
        is done with it; the voicemail host takes it into the queue's box."""
        if self.to_voicemail is None or call.agent is not None or call.ring is not None:
            return False
        call.acd_done = True
        self._detach(call)
        if self.to_voicemail(call):
            acd_log(call.cid, "routed to voicemail from queue %s", call.queue)
            return True
        return False  # no box: hung up like any other route

    def _offer(self, call: DrivenCall, offer: pb.Offer) -> None:
        if call.agent is not None:
            # Only if the ACD lost our Answered: its own ring timer re-offered the call.
            acd_log(
                call.cid,
                "offer to %s ignored: agent %s already answered",
                offer.employee_id,
                call.agent.username,
                level=logging.WARNING,
            )
            return
        if call.ring is not None:
            if call.ring.employee_id == offer.employee_id:
                return
            # One agent rings at a time (no forking yet, so no ring_all): the ACD gets
            # a no-answer for the others at once and moves on without them.
            acd_log(
                call.cid,
                "offer to %s refused: agent %s is ringing (the controller rings "
                "one agent at a time)",
                offer.employee_id,
                call.ring.username,
                level=logging.WARNING,
            )
            self._report_no_answer(call, offer.employee_id)
            return
        username = offer.username or str(offer.employee_id)
        ring = AgentRing(offer.employee_id, username)
        call.ring = ring
        request: dict[str, Any] = {
            "cmd": "connect",
            "cid": call.cid,
            "agents": [username],
            "seats": {username: str(offer.seat)},
            # The phone's X-Huaan-Call-Id: the desktop's offer has this call ID.
            "acd_call_id": offer.call_id or call.acd_call,
        }
        timeout = ring_time(offer.ring_timeout_seconds, self.options.ring_margin_s)
        if timeout is not None:
            request["ring_timeout_s"] = timeout
        acd_log(
            call.cid,
            "ACD offers the call to %s (employee %s, seat %s)",
            username,
            offer.employee_id,
            offer.seat,
        )
        reply = self._run(request)
        if self._calls.get(call.cid) is not call or call.ring is not ring:
            return  # the call ended, or the ring already ended, while connecting
        if not reply.get("ok") or ring.leg_id is None:
            # No INVITE went out (no address for the agent, a call in the wrong state):
            # the ACD moves on now instead of at its ring timeout.
            acd_log(
                call.cid,
                "cannot ring %s (%s); telling the ACD",
                username,
                reply.get("error") or "no address for this agent (--agents, --edge)",
                level=logging.WARNING,
            )
            call.ring = None
            self._report_no_answer(call, offer.employee_id)
            return
        if call.callee and self.ringback is not None:
            # `connect` answered the calling agent, whose phone then stops its own
            # ringback: it hears ours until the bridge stops it (its `stop media`), in
            # this loop turn, before the callee can answer.
            played = self._run({"cmd": "play", "cid": call.cid, "file": self.ringback})
            if not played.get("ok"):
                acd_log(
                    call.cid,
                    "no ringback for %s (%s)",
                    call.caller,
                    played.get("error"),
                    level=logging.WARNING,
                )

    def _recording_command(self, call: DrivenCall, command: pb.RecordingCommand) -> None:
        """START (with the ACD's ref and name), PAUSE, RESUME or STOP the call's
        recording. What could not be done is reported back with the state the call's
        recording really is in, so that the ACD's view follows the truth."""
        recorder = self.recorder
        op = pb.RecordingOp.Name(command.op).removeprefix("RECORDING_OP_")
        if recorder is None:
            acd_log(
                call.cid,
                "recording %s asked, but this replica records nothing",
                op,
                level=logging.WARNING,
            )
            self.report_recording(call.cid, "off", command.ref)
            return
        acd_log(
            call.cid,
            "the ACD asks to %s the recording (by %s)",
            op.lower(),
            command.requested_by or "-",
        )
        done: bool
        try:
            if command.op == pb.RECORDING_OP_START:
                done = (
                    recorder.state(call.cid) == "off"
                    and recorder.start(
                        call.cid,
                        reason="on_demand",
                        name=command.name,
                        ref=command.ref or None,
                        tell_acd=False,
                    )
                    is not None
                )
            elif command.op == pb.RECORDING_OP_PAUSE:
                done = recorder.pause(call.cid, "agent", tell_acd=False)
            elif command.op == pb.RECORDING_OP_RESUME:
                done = recorder.resume(call.cid, tell_acd=False)
            elif command.op == pb.RECORDING_OP_STOP:
                done = recorder.stop(call.cid, tell_acd=False)
            else:
                done = False
        except ValueError as exc:
            acd_log(call.cid, "recording %s: %s", op, exc, level=logging.WARNING)
            done = False
        if not done:
            state = recorder.state(call.cid)
            acd_log(call.cid, "recording %s not done; it is %s", op, state, level=logging.WARNING)
            self.report_recording(call.cid, state, recorder.ref(call.cid) or command.ref)

    # ------------------------------------------------------------ monitoring

    def attach_monitoring(self, monitoring: Monitoring) -> None:
        """Sessions report to the ACD (ReportMonitor); a keypad intercept on one of its
        calls reserves the supervisor first, as SwitchMonitor INTERCEPT does."""
        self.monitoring = monitoring
        monitoring.report = self.report_monitor
        monitoring.intercept_route = self._monitor_intercept

    def report_monitor(self, report: MonitorReport) -> None:
        """ReportMonitor, in order with the call's other requests: a session is live
        (`active`, its mode now), or `ended` (reason, one of MONITOR_STOP_REASONS)."""
        call = self._calls.get(report.cid)
        session_id = report.session_id
        if session_id not in self._acd_sessions:
            return  # not a session the ACD made
        if report.state == "ended":
            self._acd_sessions.discard(session_id)
        if call is None or call.acd_done:
            return  # not the ACD's call
        request = pb.ReportMonitorRequest(
            session_id=session_id,
            state=pb.MONITOR_STATE_ACTIVE if report.state == "active" else pb.MONITOR_STATE_ENDED,
            mode=_MONITOR_MODES.get(report.mode, pb.MONITOR_MODE_UNSPECIFIED),
            call_id=call.acd_call,
            agent=report.agent,
            reason=report.reason,
        )

        def done(call: DrivenCall, reply: pb.ReportMonitorResponse) -> None:
            code = reply_code(reply)
            if code == OK:
                return
            acd_log(
                call.cid,
                "the ACD refused ReportMonitor of session %s (%s: %s)",
                session_id,
                code_name(code),
                reply.error.message,
                level=logging.WARNING,
            )
            if code == pb.ERROR_CODE_UNKNOWN_MONITOR_SESSION and self.monitoring is not None:
                # The ACD ended it first (StopMonitor, its call left the ACD): the
                # supervisor is hung up here too, unless it ended here meanwhile.
                with contextlib.suppress(UnknownSessionError, UnknownCallError):
                    self.monitoring.stop(call.cid, session_id)

        self._send(call, "ReportMonitor", request, pb.ReportMonitorResponse, done)

    def _monitors_moved(self, call: DrivenCall) -> None:
        """A reservation carries the call now (attended transfer, intercept): its live
        sessions are reported on the new ACD call before the old one ends at the ACD,
        which would end them with it."""
        if self.monitoring is not None:
            for report in self.monitoring.reports(call.cid):
                self.report_monitor(report)

    def _monitor_call(self, call: DrivenCall, action: pb.MonitorCall) -> None:
        """MonitorCall: ring the supervisor; a session that cannot start is reported
        ENDED at once (`mixer_failed` for a mixer's fault, else `no_answer`)."""
        mode = _MODE_NAMES.get(action.mode, "")
        acd_log(
            call.cid,
            "the ACD asks %s to %s agent %s (session %s, by %s)",
            action.username,
            mode or "?",
            action.agent,
            action.session_id,
            action.requested_by or "?",
        )
        monitoring = self.monitoring
        reason = ""
        self._acd_sessions.add(action.session_id)
        if monitoring is None:
            why, reason = "this controller has no mixer (--mixer)", "mixer_failed"
        else:
            try:
                monitoring.start(
                    call.cid,
                    action.username,
                    mode,
                    session_id=action.session_id,
                    record=action.record,
                    ring_timeout_s=action.ring_timeout_seconds or None,
                    requested_by=action.requested_by,
                )
                return
            except MixerError as exc:
                why, reason = str(exc), "mixer_failed"
            except (ValueError, InvalidTransitionError, MediaError) as exc:
                why, reason = str(exc), "no_answer"
        acd_log(
            call.cid,
            "monitoring session %s not started: %s",
            action.session_id,
            why,
            level=logging.WARNING,
        )
        self.report_monitor(
            MonitorReport(call.cid, action.session_id, "ended", mode, action.agent, reason)
        )

    def _monitor_command(self, call: DrivenCall, command: pb.MonitorCommand) -> None:
        """MonitorCommand: switch the mode, intercept, or (UNSPECIFIED) stop."""
        monitoring = self.monitoring
        if monitoring is None:
            return
        session = command.session_id
        try:
            if command.mode == pb.MONITOR_MODE_UNSPECIFIED:
                monitoring.stop(call.cid, session)
            elif command.mode == pb.MONITOR_MODE_INTERCEPT:
                supervisor = monitoring.supervisor_of(call.cid, session)
                self._monitor_intercept(call.cid, session, supervisor)
            else:
                monitoring.switch(call.cid, session, _MODE_NAMES[command.mode])
        except UnknownSessionError as exc:
            # Ended here already (its ENDED report is on its way) or never known.
            acd_log(call.cid, "monitor command: %s", exc, level=logging.WARNING)
        except (ValueError, InvalidTransitionError, MediaError, MixerError) as exc:
            acd_log(
                call.cid,
                "monitor command for session %s refused: %s",
                session,
                exc,
                level=logging.WARNING,
            )

    def _monitor_intercept(self, cid: str, session_id: str, supervisor: str) -> None:
        call = self._calls.get(cid)
        if call is None:  # not a call the ACD drives: nobody to reserve the supervisor at
            assert self.monitoring is not None
            self.monitoring.take_over(cid, session_id)
            return
        self._sides.monitor_intercept(call, session_id, supervisor)

    def _play_message(self, call: DrivenCall, message: pb.PlayMessageCall) -> None:
        """The agent's part is over at the ACD (wrap-up): nothing more to report for
        the call; its leg goes, the caller hears the message, then the call ends."""
        call.acd_done = True
        call.agent = None
        call.ring = None
        if self.messages is None:
            acd_log(
                call.cid, "PlayMessageCall, but no message player; hanging up", level=logging.ERROR
            )
            self._hangup(call.cid, CAUSE_MESSAGE_PLAYED)
            return
        self.messages.play(
            call.cid,
            text=message.text,
            language=message.language,
            repeats=message.repeats or 2,
            agent=message.username,
        )

    def _cancel_ring(self, call: DrivenCall, cancel: pb.CancelRing) -> None:
        ring = call.ring
        if ring is None or ring.employee_id != cancel.employee_id:
            return
        call.ring = None  # first: the release's call.no_answer is not reported back
        acd_log(call.cid, "ACD cancels the ring of %s (%s)", ring.username, cancel.reason)
        if ring.leg_id is not None:
            reply = self._run({"cmd": "release", "cid": call.cid})
            if not reply.get("ok"):
                acd_log(call.cid, "release: %s", reply.get("error"), level=logging.DEBUG)

    def _release(self, call: DrivenCall, release: pb.Release) -> None:
        """The ACD moved the answered call away from its agent (TransferToQueue or
        TransferToAgent): drop the agent's leg and park the caller, who hears the
        queue's music again. The next agent comes as an ordinary Offer (in the same
        commit when one is idle), so a blind transfer is `release` then `connect`; the
        ACD writes the call's one `call.transferred` (docs/call-control.md)."""
        agent = call.agent
        if agent is None or agent.employee_id != release.employee_id:
            acd_log(
                call.cid,
                "release of %s ignored: not the agent on the call",
                release.employee_id,
                level=logging.DEBUG,
            )
            return
        call.agent = None  # the ACD moved it on: no Hangup for it, now or at the end
        if release.queue:
            call.queue = release.queue
        acd_log(
            call.cid,
            "the ACD takes the call from agent %s (%s); releasing its leg",
            agent.username,
            release.reason,
        )
        reply = self._run({"cmd": "release", "cid": call.cid})
        if not reply.get("ok"):
            # E.g. a consult in progress: the agent stays on the call while the ACD
            # counts it free. Rare, and loud; the Offer that follows cannot ring.
            acd_log(
                call.cid,
                "cannot release agent %s (%s)",
                agent.username,
                reply.get("error"),
                level=logging.ERROR,
            )
            return
        if call.queue:
            self._parked(call.cid, call.queue)

    # ------------------------------------------------ consult and intercept (ACD-reserved)

    def command(self, request: Mapping[str, Any], on_loop: OnLoop) -> dict[str, Any]:
        """A command from outside the loop (the control socket's thread).

        `consult` and `intercept` ring an agent, so on a call the ACD drives they first
        reserve it at the ACD (`SideReservations.command`); a blind transfer of such a
        call is refused (the ACD makes those). Every other command goes straight to the
        loop. `on_loop(fn)` runs `fn` on the loop and returns its result.
        """
        cmd = request.get("cmd")
        reply: dict[str, Any] | None
        if cmd == "enqueue":
            reply = on_loop(partial(self._enqueue_command, request))
            assert reply is not None
            return reply
        if cmd == "transfer":
            reply = on_loop(partial(self._blind_transfer_refusal, request))
            if reply is not None:
                return reply
        if cmd in SIDE_KINDS:
            return self._sides.command(request, on_loop)
        reply = on_loop(partial(self._run, request))
        assert reply is not None
        return reply

    def _enqueue_command(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """`enqueue {cid, queue, priority?, skills?, language?, caller?, category?,
        call_data?}`: an
        operator (or a test) hands an answered, parked call to the ACD, as the IVR host
        does with `enqueue_answered`. `caller` and `category` (what the agent's desk
        shows) are "" unless given: the driver keeps nothing of a claimed arrival."""
        try:
            cid = _text_arg(request, "cid", required=True)
            queue = _text_arg(request, "queue", required=True)
            self.enqueue_answered(
                cid,
                queue=queue,
                caller=_text_arg(request, "caller"),
                category=_text_arg(request, "category"),
                priority=request.get("priority", 0),
                skills=request.get("skills"),
                language=_text_arg(request, "language"),
                call_data=request.get("call_data"),
            )
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "result": queue}

    def consult_answered(self, cid: str, leg_id: str, agent: str) -> None:
        """The service's hook (`CallService.on_consult_answered`): the consult target
        talks with the agent. On the loop."""
        self._sides.consult_answered(cid, leg_id, agent)

    def _blind_transfer_refusal(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        if request.get("cid") not in self._calls:
            return None
        return {
            "ok": False,
            "error": "this call is driven by the ACD: a blind transfer goes "
            "through it (TransferToAgent, TransferToQueue)",
        }

    # ------------------------------------------------------------ commands (SIP loop)

    def _run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self._execute is not None, "bind() the controller's commands first"
        return self._execute(request)

    def _parked(self, cid: str, queue: str) -> None:
        """The caller waits in `queue`: its music on hold starts, if there is any, with
        the announcements in the caller's language if the IVR gave one."""
        if self.hold is not None:
            call = self._calls.get(cid)
            self.hold.parked(cid, queue, None if call is None else call.language)

    def _hold_music(self, queue: str) -> Path | None:
        """The music `queue`'s callers hear (None: none, or not rendered yet): what a
        caller parked by a consult hears too."""
        return None if self.hold is None else self.hold.music(queue)

    def _hangup(self, cid: str, cause: str | None, code: int | None = None) -> None:
        if cause is not None:
            self._causes[cid] = cause
        request: dict[str, Any] = {"cmd": "hangup", "cid": cid}
        if code is not None:  # the final response to a caller not answered yet
            request["code"] = code
        reply = self._run(request)
        self._causes.pop(cid, None)  # used by its call.ended, or the call was gone
        if not reply.get("ok"):
            acd_log(cid, "hangup: %s", reply.get("error"), level=logging.DEBUG)

    def _enqueue_overdue(self, call: DrivenCall) -> None:
        call.guard = None
        if call.enqueued or self._calls.get(call.cid) is not call:
            return
        acd_log(
            call.cid,
            "the ACD did not take the call within %ss; hanging up",
            self.options.enqueue_timeout_s,
            level=logging.ERROR,
        )
        call.gone.set()
        self._hangup(call.cid, CAUSE_ACD_UNAVAILABLE)

    def _enqueued(
        self, call: DrivenCall, reply: pb.EnqueueResponse | pb.ReserveForInternalCallResponse
    ) -> None:
        """The reply to the call's Enqueue, or to an internal call's reservation."""
        live = self._calls.get(call.cid) is call
        code = reply_code(reply)
        if code in (OK, pb.ERROR_CODE_CALL_EXISTS):
            if code != OK:  # a retry whose first attempt was committed
                acd_log(
                    call.cid,
                    "%s: %s (taken as done)",
                    "ReserveForInternalCall" if call.callee else "Enqueue",
                    reply.error.message,
                    level=logging.WARNING,
                )
            call.enqueued = True
            if call.guard is not None:
                call.guard.cancel()
                call.guard = None
            if live:
                if call.callee:
                    acd_log(call.cid, "the ACD reserved %s for the internal call", call.callee)
                else:
                    acd_log(call.cid, "queued in %s", call.queue)
                self._apply(reply.actions)
            return
        call.acd_done = True
        if not live:
            return
        if call.callee:
            # Routine (the callee is busy, not logged in): the calling agent's INVITE is
            # refused (480, nothing was answered) and nobody's state changed.
            acd_log(
                call.cid,
                "the ACD refused the internal call from %s to %s (%s: %s); refusing it",
                call.caller,
                call.callee,
                code_name(code),
                reply.error.message,
                level=logging.WARNING,
            )
        else:
            acd_log(
                call.cid,
                "the ACD refused the call for queue %s (%s: %s); hanging up",
                call.queue,
                code_name(code),
                reply.error.message,
                level=logging.ERROR,
            )
        # A colleague the ACD will not give the call to (on a call, ringing, wrapping
        # up, not ready) is busy: 486, as a PBX says. Not logged in, or any other
        # refusal: unavailable (480, the default).
        busy = call.callee and code == pb.ERROR_CODE_AGENT_NOT_AVAILABLE
        self._hangup(call.cid, f"{CAUSE_ACD_REFUSED}:{code_name(code)}", 486 if busy else None)

    def _enqueue_failed(self, call: DrivenCall, error: str) -> None:
        if self._calls.get(call.cid) is not call:
            return
        if call.guard is not None:
            call.guard.cancel()
            call.guard = None
        acd_log(call.cid, "the ACD is unreachable (%s); hanging up", error, level=logging.ERROR)
        self._hangup(call.cid, CAUSE_ACD_UNAVAILABLE)

    # ------------------------------------------------------------ RPCs (worker threads)

    def _enqueue_job(self, call: DrivenCall) -> None:
        self._take_job(
            call,
            "Enqueue",
            pb.EnqueueRequest(
                call_id=call.cid,
                queue=call.queue,
                caller=call.caller,
                category=call.category,
                priority=call.priority,
                source=self.options.source,
                skills=call.skills,
                call_data=call.call_data,
            ),
            pb.EnqueueResponse,
        )

    def _reserve_job(self, call: DrivenCall) -> None:
        self._take_job(
            call,
            "ReserveForInternalCall",
            pb.ReserveForInternalCallRequest(
                call_id=call.cid,
                username=call.callee,
                calling_agent=call.caller,
                caller=call.caller,
                category=call.category,
                kind=pb.CALL_KIND_INTERNAL,
                source=self.options.source,
            ),
            pb.ReserveForInternalCallResponse,
        )

    def _take_job(
        self,
        call: DrivenCall,
        method: str,
        request: Message,
        reply_type: type[pb.EnqueueResponse] | type[pb.ReserveForInternalCallResponse],
    ) -> None:
        """Hand a new call to the ACD (a queue, or an internal call's callee), retried
        until the call's deadline; the outcome is handled on the loop."""
        if call.gone.is_set():
            return  # ended (or given up) before its turn came
        call.enqueue_sent = True
        try:
            reply = self._rpc.call(
                method,
                request,
                reply_type,
                retry_for=max(0.0, call.deadline - time.monotonic()),
                cancelled=lambda: call.gone.is_set() or self._stopping.is_set(),
            )
        except grpc.RpcError as exc:
            self._post(partial(self._enqueue_failed, call, rpc_error(exc)))
            return
        self._post(partial(self._enqueued, call, reply))

    def _send(
        self,
        call: DrivenCall,
        method: str,
        request: Message,
        reply_type: type[M],
        on_reply: Callable[[DrivenCall, M], None],
    ) -> None:
        """Send on the call's chain; the reply is handled on the loop."""

        def job() -> None:
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
                    call.cid,
                    "%s not delivered to the ACD (%s): its agent state may be "
                    "wrong until the ACD's ring timer or Reconcile",
                    method,
                    rpc_error(exc),
                    level=logging.ERROR,
                )
                return
            self._post(partial(on_reply, call, reply))

        self._submit(call.cid, job)

    def _abandon_job(self, call: DrivenCall, side: str) -> None:
        if not call.enqueue_sent:
            return  # the ACD never heard of the call
        try:
            reply = self._rpc.call(
                "Abandon",
                pb.AbandonRequest(call_id=call.acd_call),
                pb.AbandonResponse,
                retry_for=self.options.retry_s,
                cancelled=self._stopping.is_set,
            )
        except grpc.RpcError as exc:
            acd_log(
                call.cid,
                "Abandon not delivered to the ACD (%s)",
                rpc_error(exc),
                level=logging.ERROR,
            )
            return
        code = reply_code(reply)
        if code == pb.ERROR_CODE_CALL_ALREADY_ANSWERED:
            # The ACD saw an answer we did not (our Answered was delivered; its event was
            # not for us to see): end it as answered so the agent wraps up.
            self._hangup_job(call, side)
        elif code not in (OK, pb.ERROR_CODE_UNKNOWN_CALL):
            acd_log(
                call.cid,
                "the ACD refused Abandon (%s: %s)",
                code_name(code),
                reply.error.message,
                level=logging.WARNING,
            )
        else:
            acd_log(call.cid, "abandoned at the ACD")

    def _hangup_job(self, call: DrivenCall, side: str) -> None:
        request = pb.HangupRequest(
            call_id=call.acd_call, side=_SIDES.get(side, pb.HANGUP_SIDE_SYSTEM)
        )
        try:
            reply = self._rpc.call(
                "Hangup",
                request,
                pb.HangupResponse,
                retry_for=self.options.retry_s,
                cancelled=self._stopping.is_set,
            )
        except grpc.RpcError as exc:
            acd_log(
                call.cid,
                "Hangup not delivered to the ACD (%s): the agent stays talking "
                "there until Reconcile",
                rpc_error(exc),
                level=logging.ERROR,
            )
            return
        code = reply_code(reply)
        if code not in (OK, pb.ERROR_CODE_UNKNOWN_CALL):
            acd_log(
                call.cid,
                "the ACD refused Hangup (%s: %s)",
                code_name(code),
                reply.error.message,
                level=logging.WARNING,
            )
        else:
            acd_log(call.cid, "hung up at the ACD (side %s)", side)


def sippy_driver(options: AcdOptions) -> AcdDriver:
    """The driver on Sippy's loop, with a failing-over `acd_client.AcdClient`."""
    from sippy.Core.EventDispatcher import ED2  # noqa: PLC0415

    from acd_client import AcdClient, ActionFeed  # noqa: PLC0415

    client = AcdClient(
        list(options.addresses),
        timeout=options.rpc_timeout_s,
        retry_for=options.retry_s,
        token=options.token,
    )

    def feed(on_action: Callable[[pb.Action], None]) -> Feed:
        return ActionFeed(client, on_action).start(timeout=None)

    return AcdDriver(
        options,
        client,
        post=ED2.callFromThread,
        later=sippy_later,
        feed=feed,
        on_close=client.close,
    )
