"""The ACD drives the call controller (docs/call-control.md, "Driven by the ACD").

A call that reaches this replica is answered (parked) and enqueued at the ACD;
the ACD's `Offer` makes the controller ring that agent (`connect`), and what the
agent's leg does (answered, not answered, hung up) goes back to the ACD. An
internal call (an agent's phone dialled another agent; the edge's category
`internal`) reserves the callee instead (`ReserveForInternalCall`) before the
calling agent is answered, and a transfer the ACD makes (`Release`, then usually an
`Offer`) drops the agent's leg and rings the next one. The controller's own `consult`
and `intercept` commands, which ring a second agent beside the call's, reserve it
first too, under an ID of its own (`_Side`); when it takes the caller over, the
call's first ACD call ends (its agent wraps up) and the reservation carries the call.

The controller itself is only used through its public surface: commands
(`Commands.execute`) and the call events it publishes. `EventTap` wraps the
configured `EventPublisher`: it forwards every event and lets `AcdDriver`
react to it.

Threads. Every piece of state here belongs to the SIP loop (Sippy's ED2, the
main thread); the loop is never blocked on the ACD:
- RPCs to the ACD run on a small pool, in order per call (`_Chains`), so a
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

import argparse
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from acd_api.v1 import acd_pb2 as pb
from acd_client import TokenError, read_token
from configuration import split_hostport
from controller._ports import Cancellable, EventPublisher, Execute, Later, Post
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_NO_ANSWER,
    CALL_RINGING,
    CALL_TRANSFERRED,
    Event,
)

__all__ = [
    "CAUSE_ACD_UNAVAILABLE",
    "CAUSE_NO_QUEUE",
    "AcdDriver",
    "AcdOptions",
    "EventTap",
    "acd_options",
    "add_acd_arguments",
    "parse_queue_for",
    "ring_time",
    "sippy_driver",
]

log = logging.getLogger("controller.acd")
M = TypeVar("M", bound=Message)
OK = pb.ERROR_CODE_UNSPECIFIED

# `call.ended` causes of the hang-ups the driver makes (docs/call-control.md).
CAUSE_NO_QUEUE = "no queue"
CAUSE_ACD_UNAVAILABLE = "acd unavailable"
CAUSE_ACD_REFUSED = "acd refused"  # + ":<ErrorCode name>"
CAUSE_OVERFLOW = "overflow"  # + ":<target>"
CAUSE_UNDELIVERED = "undelivered"  # + ":<reason>"

# The edge's X-CC-Category of a call an agent's phone placed to another agent's account
# (routing/_decide.py): the dialled number is the callee's account, the caller the
# calling agent's. Config validation keeps every number's category different.
INTERNAL_CATEGORY = "internal"

_SIDES = {"caller": pb.HANGUP_SIDE_CALLER, "agent": pb.HANGUP_SIDE_AGENT,
          "system": pb.HANGUP_SIDE_SYSTEM}

# Commands that ring an agent beside the call's own, and the reservation kind they make.
_SIDE_KINDS = {"consult": pb.CALL_KIND_INTERNAL, "intercept": pb.CALL_KIND_INTERCEPT}
_REPLY_TYPES: dict[str, type[Message]] = {
    "Abandon": pb.AbandonResponse, "Hangup": pb.HangupResponse,
    "NoAnswer": pb.NoAnswerResponse}
# The reason of a side leg that took nobody over (as the ACD's Undelivered says it).
NO_ANSWER = "NO_ANSWER"


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class AcdOptions:
    """`--acd` and friends (docs/configuration.md lists the `callcenter up` side)."""

    addresses: tuple[str, ...]
    queue_for: Mapping[str, str] = field(default_factory=dict)  # dialled number -> queue
    default_queue: str | None = None  # for numbers not in queue_for; None: hang up
    rpc_timeout_s: float = 1.0  # one attempt of one RPC
    # From the call's arrival: how long a caller waits (parked) for the ACD to take
    # the call before being hung up with cause "acd unavailable". Covers a leader
    # fail-over (about 1.25 x acd.leader_lease_ms, 2.5 s by default).
    enqueue_timeout_s: float = 5.0
    # How long Answered/NoAnswer/Hangup/Abandon are retried while the ACD is unreachable.
    retry_s: float = 30.0
    workers: int = 4  # RPC threads (calls in parallel; each call's RPCs stay in order)
    # The controller rings this much less than the ACD's ring timeout, so that its
    # CANCEL and NoAnswer reach the ACD before the ACD's own ring timer fires.
    ring_margin_s: float = 0.5
    # The ACD's service token (acd_client), read from --acd-token-file; None: send none.
    token: str | None = field(default=None, repr=False)
    # EnqueueRequest.source: "<node>#<instance>" when this replica keeps its live calls
    # in the registry the ACD reconciles against (controller/_registry.py); "" otherwise,
    # and the ACD then never ends this replica's calls by itself.
    source: str = ""


def parse_queue_for(value: str) -> dict[str, str]:
    """`NUMBER=QUEUE,...` -> {number: queue}; a number listed twice is refused."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        number, sep, queue = (p.strip() for p in item.partition("="))
        if not sep or not number or not queue:
            raise ValueError(f"expected NUMBER=QUEUE, got {item!r}")
        if number in mapping:
            raise ValueError(f"number {number!r} is mapped twice")
        mapping[number] = queue
    return mapping


def add_acd_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ACD", "the ACD drives the calls (docs/call-control.md)")
    group.add_argument("--acd", default=None, metavar="HOST:PORT[,HOST:PORT...]",
                       help="ACD replicas (gRPC acd.v1): enqueue every call (reserve the "
                            "callee of an internal call) and ring the agents it offers; "
                            "without --queue-for/--default-queue only internal calls are "
                            "taken, others are refused (cause 'no queue')")
    group.add_argument("--queue-for", action="append", default=[], metavar="NUMBER=QUEUE,...",
                       help="the ACD queue for calls to a dialled number (repeatable)")
    group.add_argument("--default-queue", default=None,
                       help="the queue for dialled numbers without --queue-for "
                            "(default: such calls are hung up)")
    group.add_argument("--acd-timeout", type=float, default=1.0,
                       help="seconds per ACD request attempt")
    group.add_argument("--acd-enqueue-timeout", type=float, default=5.0,
                       help="seconds from a call's arrival for the ACD to take it; then "
                            "the caller is hung up (cause 'acd unavailable')")
    group.add_argument("--acd-retry", type=float, default=30.0,
                       help="seconds Answered/NoAnswer/Hangup/Abandon are retried")
    group.add_argument("--acd-workers", type=int, default=4,
                       help="threads sending requests to the ACD")
    group.add_argument("--acd-token-file", type=Path, default=None,
                       help="file with the ACD's service token (acd.token_file)")


def _addresses(value: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in value.split(",") if a.strip())
    if not addresses:
        raise ValueError("--acd needs at least one HOST:PORT")
    for address in addresses:
        try:
            split_hostport(address)
        except ValueError:
            raise ValueError(f"--acd: expected HOST:PORT, got {address!r}") from None
    return addresses


def _queue_for(values: Sequence[str]) -> dict[str, str]:
    """Every `--queue-for`, merged; a number mapped twice (even across options) is refused."""
    queue_for: dict[str, str] = {}
    for value in values:
        try:
            mapping = parse_queue_for(value)
        except ValueError as exc:
            raise ValueError(f"--queue-for: {exc}") from None
        for number, queue in mapping.items():
            if number in queue_for:
                raise ValueError(f"--queue-for: number {number!r} is mapped twice")
            queue_for[number] = queue
    return queue_for


def acd_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> AcdOptions | None:
    """The parsed `--acd...` options, or None without `--acd`; misuse exits via parser.error."""
    if args.acd is None:
        if args.queue_for or args.default_queue is not None:
            parser.error("--queue-for and --default-queue need --acd")
        return None
    try:
        addresses = _addresses(args.acd)
        queue_for = _queue_for(args.queue_for)
    except ValueError as exc:
        parser.error(str(exc))
    for name in ("acd_timeout", "acd_enqueue_timeout", "acd_retry"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.acd_workers < 1:
        parser.error("--acd-workers must be at least 1")
    try:
        token = None if args.acd_token_file is None else read_token(args.acd_token_file)
    except TokenError as exc:
        parser.error(str(exc))
    return AcdOptions(addresses=addresses, queue_for=queue_for,
                      default_queue=args.default_queue, rpc_timeout_s=args.acd_timeout,
                      enqueue_timeout_s=args.acd_enqueue_timeout, retry_s=args.acd_retry,
                      workers=args.acd_workers, token=token)


def ring_time(acd_ring_timeout_s: float, margin_s: float) -> float | None:
    """How long the controller rings for an Offer: the ACD's ring timeout less the
    margin (at most a quarter less), so the controller's own ring timer decides
    and the ACD's stays the backstop. None (the controller's default) if unset."""
    if acd_ring_timeout_s <= 0:
        return None
    return max(acd_ring_timeout_s - margin_s, acd_ring_timeout_s * 0.75)


# ---------------------------------------------------------------- ports


class Feed(Protocol):
    def close(self) -> None: ...


class AcdRpc(Protocol):
    """What the driver needs of `acd_client.AcdClient`."""

    def call(self, method: str, request: Message, reply_type: type[M], *,
             retry_for: float | None = None,
             cancelled: Callable[[], bool] | None = None) -> M: ...


class HoldMedia(Protocol):
    """Music on hold for parked callers (`controller/_queue_media.py`), on the loop."""

    def parked(self, cid: str, queue: str) -> None: ...
    def observe(self, event: Event) -> None: ...
    def close(self) -> None: ...


FeedFactory = Callable[[Callable[[pb.Action], None]], Feed]
Submit = Callable[[str, Callable[[], None]], None]  # a job for a call's RPC chain
OnLoop = Callable[[Callable[[], Any]], Any]  # run it on the SIP loop, wait, return its result


def _commit_key(commit_id: str) -> tuple[int, int]:
    """A commit (Redis stream) id as a comparable pair; malformed ids sort first."""
    ms, _, seq = commit_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


def _code(reply: Any) -> int:
    return int(reply.error.code) if reply.HasField("error") else OK


def _code_name(code: int) -> str:
    return pb.ErrorCode.Name(code).removeprefix("ERROR_CODE_")


def _rpc_error(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    name = code.name if code is not None else type(exc).__name__
    details = exc.details() if hasattr(exc, "details") else ""
    return f"{name} {details}".strip()


def _log(cid: str, message: str, *args: object, level: int = logging.INFO) -> None:
    """Like the service's log lines: every line about a call starts with its ID."""
    log.log(level, "cid=%s " + message, cid, *args)


class _Chains:
    """Jobs in order per key (a call) on a small thread pool: one call's RPCs never
    overtake each other, and one call's slow retry does not hold up the others."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acd-rpc")
        self._lock = threading.Lock()
        self._chains: dict[str, deque[Callable[[], None]]] = {}
        self._idle = threading.Condition(self._lock)

    def submit(self, key: str, job: Callable[[], None]) -> None:
        with self._lock:
            chain = self._chains.get(key)
            if chain is not None:
                chain.append(job)
                return
            self._chains[key] = deque([job])
        self._pool.submit(self._drain, key)

    def _drain(self, key: str) -> None:
        while True:
            with self._lock:
                chain = self._chains[key]
                if not chain:
                    del self._chains[key]
                    self._idle.notify_all()
                    return
                job = chain.popleft()
            try:
                job()
            except Exception:  # one failed request must not stop the call's next ones
                log.exception("ACD request failed")

    def close(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the queued jobs; True if they all ran."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._chains:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
            done = not self._chains
        self._pool.shutdown(wait=False, cancel_futures=True)
        return done


# ---------------------------------------------------------------- per-call state


@dataclass
class _Ring:
    """The agent the ACD offered the call to and the controller rings."""

    employee_id: int
    username: str
    leg_id: str | None = None  # from call.ringing; None: no INVITE went out


@dataclass(eq=False)
class _Call:
    cid: str
    queue: str
    caller: str
    category: str
    deadline: float  # monotonic: the ACD must have taken the call by then
    enqueued: bool = False
    # The ACD no longer has the call (refused it, routed it away, gave up on it):
    # nothing to report when it ends.
    acd_done: bool = False
    ring: _Ring | None = None
    agent: _Ring | None = None  # the agent who answered
    last_commit: tuple[int, int] = (0, 0)
    seen: set[tuple[str, str, int]] = field(default_factory=set)
    guard: Cancellable | None = None
    # Set when the call ends: the worker stops retrying its Enqueue.
    gone: threading.Event = field(default_factory=threading.Event)
    enqueue_sent: bool = False  # written and read by the call's own RPC chain only
    # An internal call: the callee's account (the dialled number), reserved through
    # ReserveForInternalCall instead of a queue. "" for every other call.
    callee: str = ""
    # The ACD call that carries this call now: "" for the call's own ID. A consult target
    # or supervisor that takes the caller over brings its reservation's ID along.
    acd_id: str = ""
    # That ACD call is over at the ACD although the controller's call goes on (an
    # intercept of a ringing call abandoned the agent's ring): nothing to report for it.
    acd_gone: bool = False
    side: _Side | None = None  # the consult target or supervisor that rings or consults
    sides: int = 0  # reservations made for the call so far (each gets its own ID)
    # The agent left while the side leg rang (hang up to transfer, intercept): whoever
    # answers that leg takes the caller; if nobody does, the call goes back to its queue.
    agent_left: bool = False

    @property
    def acd_call(self) -> str:
        return self.acd_id or self.cid


@dataclass(eq=False)
class _Side:
    """A consult target or an intercepting supervisor, reserved at the ACD under an ID
    of its own (the ACD's calls have one agent each, and the call's own ID is the
    agent's): `<cid>.consult1`, `<cid>.intercept2`, ..."""

    rid: str
    command: str  # "consult" | "intercept"
    username: str
    employee_id: int = 0  # from the reservation's Offer
    started: bool = False  # the ACD reserved it and the command rang it
    leg_id: str | None = None  # from call.ringing
    answered: bool = False  # reported Answered: the ACD counts it talking
    acd_dropped: bool = False  # the ACD took the reservation back (CancelRing, Undelivered)


# ---------------------------------------------------------------- the driver


class AcdDriver:
    """Enqueues this replica's calls and acts on the ACD's actions for them."""

    def __init__(self, options: AcdOptions, rpc: AcdRpc, *, post: Post, later: Later,
                 feed: FeedFactory | None = None,
                 on_close: Callable[[], None] | None = None,
                 submit: Submit | None = None) -> None:
        """`submit(cid, job)` runs RPC jobs in order per call (default: a `_Chains`
        pool of `options.workers` threads; unit tests run them by hand)."""
        self.options = options
        self._rpc = rpc
        self._post = post
        self._later = later
        self._feed_factory = feed
        self._on_close = on_close
        self._feed: Feed | None = None
        self._execute: Execute | None = None
        self._chains: _Chains | None = None
        if submit is None:
            self._chains = _Chains(options.workers)
            submit = self._chains.submit
        self._submit = submit
        # Set at shutdown once the flush time is over: retries stop, so the process exits.
        self._stopping = threading.Event()
        # Loop-owned. The feed thread only tests membership (a GIL-atomic dict read):
        # an action for a call can only follow its Enqueue, which follows registration.
        self._calls: dict[str, _Call] = {}
        # The ACD call IDs a call has besides its own (consult and intercept reservations,
        # controller/_acd_driver.py's `_Side`) -> the call. Loop-owned; the feed thread only
        # tests membership, as for `_calls`.
        self._aliases: dict[str, _Call] = {}
        self._causes: dict[str, str] = {}  # cid -> cause of a hang-up made here
        self.hold: HoldMedia | None = None  # music on hold while a call waits (optional)
        # A file rtpengine plays to the calling agent of an internal call while the
        # callee rings (controller/_ringback.py); None: it hears silence.
        self.ringback: str | None = None

    # ------------------------------------------------------------ life

    def tap(self, inner: EventPublisher) -> EventTap:
        return EventTap(inner, self)

    def bind(self, execute: Execute) -> None:
        """The controller's command entry point (`Commands.execute`), run on the loop."""
        self._execute = execute

    def start(self) -> AcdDriver:
        if self._feed_factory is not None:
            self._feed = self._feed_factory(self._on_feed_action)
        log.info("ACD %s: queues %s, default queue %s; internal calls reserve through it",
                 ",".join(self.options.addresses),
                 ",".join(f"{n}={q}" for n, q in sorted(self.options.queue_for.items())) or "-",
                 self.options.default_queue or "- (other numbers are hung up)")
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
        if self._on_close is not None:
            self._on_close()

    @property
    def calls(self) -> Mapping[str, _Call]:
        return self._calls

    def acd_call_ids(self) -> list[str]:
        """The ACD call IDs this replica holds besides its calls' own: the registry
        lists them too, or the ACD's reconciler would end a reservation as lost."""
        return list(self._aliases)

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
        if call.side is not None and self._side_event(call, call.side, kind, data):
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
        dialled = data.get("dialled", "")
        if data.get("category") == INTERNAL_CATEGORY:
            call = _Call(cid, "", data.get("caller", ""), INTERNAL_CATEGORY,
                         deadline=time.monotonic() + self.options.enqueue_timeout_s,
                         callee=dialled)
            self._calls[cid] = call
            self._post(partial(self._reserve, call))
            return
        queue = self.options.queue_for.get(dialled, self.options.default_queue)
        if queue is None:
            _log(cid, "dialled number %r has no ACD queue (--queue-for, --default-queue); "
                      "hanging up", dialled, level=logging.WARNING)
            self._post(partial(self._hangup, cid, CAUSE_NO_QUEUE))
            return
        call = _Call(cid, queue, data.get("caller", ""), data.get("category", ""),
                     deadline=time.monotonic() + self.options.enqueue_timeout_s)
        self._calls[cid] = call
        self._post(partial(self._answer_and_enqueue, call))

    def _answer_and_enqueue(self, call: _Call) -> None:
        if self._calls.get(call.cid) is not call:
            return  # the caller left before we got here
        reply = self._run({"cmd": "answer", "cid": call.cid})
        if not reply.get("ok"):
            _log(call.cid, "cannot answer the caller (%s); hanging up", reply.get("error"),
                 level=logging.WARNING)
            call.acd_done = True
            self._hangup(call.cid, None)
            return
        _log(call.cid, "parked; enqueueing in %s", call.queue)
        # The worker gives up at the deadline; this timer also covers a worker that never
        # got to the call (every thread busy retrying during an outage).
        call.guard = self._later(
            max(0.0, call.deadline - time.monotonic()) + self.options.rpc_timeout_s,
            partial(self._enqueue_overdue, call))
        self._submit(call.cid, partial(self._enqueue_job, call))
        if self.hold is not None:  # after the Enqueue is on its way: music never delays it
            self.hold.parked(call.cid, call.queue)

    def _reserve(self, call: _Call) -> None:
        """An internal call: reserve the callee at the ACD before anything else. The
        calling agent is not answered yet, so a refusal is a final response to its
        INVITE (480), not a call that connects and drops; the Offer's `connect`
        answers it (the controller cannot ring a leg for an unanswered caller)."""
        if self._calls.get(call.cid) is not call:
            return  # the calling agent gave up before we got here
        _log(call.cid, "internal call from %s to %s; reserving %s at the ACD", call.caller,
             call.callee, call.callee)
        call.guard = self._later(
            max(0.0, call.deadline - time.monotonic()) + self.options.rpc_timeout_s,
            partial(self._enqueue_overdue, call))
        self._submit(call.cid, partial(self._reserve_job, call))

    def _answered(self, call: _Call, data: Mapping[str, str]) -> None:
        ring = call.ring
        if ring is None or data.get("leg_id") != ring.leg_id:
            if call.agent is not None and data.get("leg_id") == call.agent.leg_id:
                return  # a consult target that took the call over: reported already
            _log(call.cid, "agent %s answered but was not offered the call by the ACD; "
                           "not reported", data.get("agent"), level=logging.WARNING)
            return
        call.ring, call.agent = None, ring
        request = pb.AnsweredRequest(call_id=call.cid, employee_id=ring.employee_id)
        self._send(call, "Answered", request, pb.AnsweredResponse,
                   partial(self._answered_reply, ring))

    def _answered_reply(self, ring: _Ring, call: _Call, reply: pb.AnsweredResponse) -> None:
        code = _code(reply)
        if code != OK:
            # The caller keeps talking to the agent (hanging up on a person who answered
            # would be worse); the ACD's view of the agent is wrong until the call's
            # Hangup, and an Offer it makes meanwhile is ignored (see _offer).
            _log(call.cid, "the ACD refused Answered by agent %s (%s: %s): the call goes on, "
                           "the ACD does not count the agent as talking", ring.username,
                 _code_name(code), reply.error.message, level=logging.ERROR)
        self._apply(reply.actions)

    def _no_answer(self, call: _Call, data: Mapping[str, str]) -> None:
        ring = call.ring
        if ring is None or data.get("leg_id") != ring.leg_id:
            return  # a ring the ACD cancelled itself (CancelRing): nothing to report
        call.ring = None
        _log(call.cid, "agent %s did not answer; telling the ACD", ring.username)
        self._report_no_answer(call, ring.employee_id)

    def _report_no_answer(self, call: _Call, employee_id: int) -> None:
        request = pb.NoAnswerRequest(call_id=call.cid, employee_id=employee_id)

        def done(call: _Call, reply: pb.NoAnswerResponse) -> None:
            code = _code(reply)
            if code != OK:  # e.g. NOT_RINGING: the ACD's ring timer was first
                _log(call.cid, "the ACD refused NoAnswer for %s (%s: %s)", employee_id,
                     _code_name(code), reply.error.message, level=logging.DEBUG)
            self._apply(reply.actions)

        self._send(call, "NoAnswer", request, pb.NoAnswerResponse, done)

    def _ended(self, call: _Call, data: Mapping[str, str]) -> None:
        del self._calls[call.cid]
        call.gone.set()
        if call.guard is not None:
            call.guard.cancel()
        self._end_side(call)
        for alias in [a for a, c in self._aliases.items() if c is call]:
            if call.side is None or alias != call.side.rid:  # a pending one: _start_side
                del self._aliases[alias]
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
        if which is not None and (getattr(action, which).call_id in self._calls
                                  or getattr(action, which).call_id in self._aliases):
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
                self._intercept_call(call, body)
            elif body.call_id != call.acd_call or call.acd_gone:
                # A consult or intercept reservation, or the call's first ACD call after
                # another took over.
                if call.side is not None and body.call_id == call.side.rid:
                    self._side_action(call, call.side, which, body)
            else:
                self._own_action(call, which, body)

    def _own_action(self, call: _Call, which: str, body: Any) -> None:
        """An action for the ACD call that carries the call now."""
        if which == "offer":
            self._offer(call, body)
        elif which == "cancel_ring":
            self._cancel_ring(call, body)
        elif which == "release":
            self._release(call, body)
        elif which == "route":
            _log(call.cid, "the ACD routes the call to %s (%s); hanging up (no route "
                           "targets yet)", body.target, body.reason, level=logging.WARNING)
            call.acd_done = True
            self._hangup(call.cid, f"{CAUSE_OVERFLOW}:{body.target}")
        elif which == "undelivered":
            _log(call.cid, "the ACD gave up on the call (%s); hanging up", body.reason,
                 level=logging.WARNING)
            call.acd_done = True
            self._hangup(call.cid, f"{CAUSE_UNDELIVERED}:{body.reason}")

    def _offer(self, call: _Call, offer: pb.Offer) -> None:
        if call.agent is not None:
            # Only if the ACD lost our Answered: its own ring timer re-offered the call.
            _log(call.cid, "offer to %s ignored: agent %s already answered", offer.employee_id,
                 call.agent.username, level=logging.WARNING)
            return
        if call.ring is not None:
            if call.ring.employee_id == offer.employee_id:
                return
            # One agent rings at a time (no forking yet, so no ring_all): the ACD gets
            # a no-answer for the others at once and moves on without them.
            _log(call.cid, "offer to %s refused: agent %s is ringing (the controller rings "
                           "one agent at a time)", offer.employee_id, call.ring.username,
                 level=logging.WARNING)
            self._report_no_answer(call, offer.employee_id)
            return
        username = offer.username or str(offer.employee_id)
        ring = _Ring(offer.employee_id, username)
        call.ring = ring
        request: dict[str, Any] = {"cmd": "connect", "cid": call.cid, "agents": [username],
                                   "seats": {username: str(offer.seat)}}
        timeout = ring_time(offer.ring_timeout_seconds, self.options.ring_margin_s)
        if timeout is not None:
            request["ring_timeout_s"] = timeout
        _log(call.cid, "ACD offers the call to %s (employee %s, seat %s)", username,
             offer.employee_id, offer.seat)
        reply = self._run(request)
        if self._calls.get(call.cid) is not call or call.ring is not ring:
            return  # the call ended, or the ring already ended, while connecting
        if not reply.get("ok") or ring.leg_id is None:
            # No INVITE went out (no address for the agent, a call in the wrong state):
            # the ACD moves on now instead of at its ring timeout.
            _log(call.cid, "cannot ring %s (%s); telling the ACD", username,
                 reply.get("error") or "no address for this agent (--agents, --edge)",
                 level=logging.WARNING)
            call.ring = None
            self._report_no_answer(call, offer.employee_id)
            return
        if call.callee and self.ringback is not None:
            # `connect` answered the calling agent, whose phone then stops its own
            # ringback: it hears ours until the bridge stops it (its `stop media`), in
            # this loop turn, before the callee can answer.
            played = self._run({"cmd": "play", "cid": call.cid, "file": self.ringback})
            if not played.get("ok"):
                _log(call.cid, "no ringback for %s (%s)", call.caller, played.get("error"),
                     level=logging.WARNING)

    def _cancel_ring(self, call: _Call, cancel: pb.CancelRing) -> None:
        ring = call.ring
        if ring is None or ring.employee_id != cancel.employee_id:
            return
        call.ring = None  # first: the release's call.no_answer is not reported back
        _log(call.cid, "ACD cancels the ring of %s (%s)", ring.username, cancel.reason)
        if ring.leg_id is not None:
            reply = self._run({"cmd": "release", "cid": call.cid})
            if not reply.get("ok"):
                _log(call.cid, "release: %s", reply.get("error"), level=logging.DEBUG)

    def _release(self, call: _Call, release: pb.Release) -> None:
        """The ACD moved the answered call away from its agent (TransferToQueue or
        TransferToAgent): drop the agent's leg and park the caller, who hears the
        queue's music again. The next agent comes as an ordinary Offer (in the same
        commit when one is idle), so a blind transfer is `release` then `connect`; the
        ACD writes the call's one `call.transferred` (docs/call-control.md)."""
        agent = call.agent
        if agent is None or agent.employee_id != release.employee_id:
            _log(call.cid, "release of %s ignored: not the agent on the call",
                 release.employee_id, level=logging.DEBUG)
            return
        call.agent = None  # the ACD moved it on: no Hangup for it, now or at the end
        if release.queue:
            call.queue = release.queue
        _log(call.cid, "the ACD takes the call from agent %s (%s); releasing its leg",
             agent.username, release.reason)
        reply = self._run({"cmd": "release", "cid": call.cid})
        if not reply.get("ok"):
            # E.g. a consult in progress: the agent stays on the call while the ACD
            # counts it free. Rare, and loud; the Offer that follows cannot ring.
            _log(call.cid, "cannot release agent %s (%s)", agent.username, reply.get("error"),
                 level=logging.ERROR)
            return
        if self.hold is not None and call.queue:
            self.hold.parked(call.cid, call.queue)

    # ------------------------------------------------ consult and intercept (ACD-reserved)

    def command(self, request: Mapping[str, Any], on_loop: OnLoop) -> dict[str, Any]:
        """A command from outside the loop (the control socket's thread).

        `consult` and `intercept` ring an agent, so on a call the ACD drives they first
        reserve it at the ACD (ReserveForInternalCall, kind internal or intercept):
        the RPC runs on this thread, never on the loop; a refusal is the command's
        reply and nothing about the call changed. Every other command goes straight
        to the loop. `on_loop(fn)` runs `fn` on the loop and returns its result.
        """
        cmd = request.get("cmd")
        reply: dict[str, Any] | None
        if cmd == "transfer":
            reply = on_loop(partial(self._blind_transfer_refusal, request))
            if reply is not None:
                return reply
        if cmd not in _SIDE_KINDS:
            reply = on_loop(partial(self._run, request))
            assert reply is not None
            return reply
        prepared: dict[str, Any] | tuple[_Call, _Side] = on_loop(
            partial(self._prepare_side, request))
        if isinstance(prepared, dict):
            return prepared  # refused before the ACD was asked, or no ACD call to guard
        call, side = prepared
        outcome = self._reserve_side(call, side)
        reply = on_loop(partial(self._start_side, call, side, request, outcome))
        assert reply is not None
        return reply

    def _intercept_call(self, call: _Call, action: pb.InterceptCall) -> None:
        """On the loop: a supervisor's Intercept, checked by the ACD, for one of this
        replica's calls. The control socket's `intercept` (`command`) in the same three
        steps, the reservation on the RPC pool (never on the loop or the feed thread);
        nobody waits for a reply, so a refusal is logged. The supervisor is reserved (or
        refused) at the ACD, which its state and the event log show."""
        request: dict[str, Any] = {"cmd": "intercept", "cid": call.cid,
                                   "agent": action.username}
        if action.ring_timeout_seconds > 0:
            request["ring_timeout_s"] = action.ring_timeout_seconds
        _log(call.cid, "the ACD asks for an intercept by %s (requested by %s)",
             action.username, action.requested_by or "?")
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

    def _intercept_reserved(self, call: _Call, side: _Side, request: Mapping[str, Any],
                            outcome: pb.ReserveForInternalCallResponse | str,
                            action: pb.InterceptCall) -> None:
        reply = self._start_side(call, side, request, outcome)
        if not reply.get("ok"):
            self._intercept_refused(call, action, str(reply.get("error")))

    @staticmethod
    def _intercept_refused(call: _Call, action: pb.InterceptCall, why: str) -> None:
        _log(call.cid, "intercept by %s (requested by %s) not carried out: %s",
             action.username, action.requested_by or "?", why, level=logging.WARNING)

    def _blind_transfer_refusal(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        if request.get("cid") not in self._calls:
            return None
        return {"ok": False, "error": "this call is driven by the ACD: a blind transfer goes "
                                      "through it (TransferToAgent, TransferToQueue)"}

    def _prepare_side(self, request: Mapping[str, Any]
                      ) -> dict[str, Any] | tuple[_Call, _Side]:
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
            return {"ok": False, "error": f"{cmd} of an internal call (agent to agent) is "
                                          "not supported with the ACD"}
        if call.side is not None or call.acd_done or not call.enqueued:
            return {"ok": False, "error": f"call {call.cid}: the ACD is not ready for a "
                                          f"{cmd} now; try again"}
        call.sides += 1
        side = _Side(f"{call.cid}.{cmd}{call.sides}", cmd, str(request.get("agent")))
        call.side = side
        # Before the RPC: the registry lists it from now on (the reconciler would end a
        # reservation of this replica that it does not list), and the feed lets its
        # actions through.
        self._aliases[side.rid] = call
        return call, side

    def _reserve_side(self, call: _Call, side: _Side
                      ) -> pb.ReserveForInternalCallResponse | str:
        """Off the loop: reserve the target. The reply, or why there is none."""
        kind = _SIDE_KINDS[side.command]
        agent = call.agent.username if call.agent is not None else ""
        request = pb.ReserveForInternalCallRequest(
            call_id=side.rid, username=side.username, kind=kind, source=self.options.source,
            # What the target's desk shows: the consulting agent, or the customer.
            caller=agent if side.command == "consult" else call.caller,
            category=call.category)
        try:
            return self._rpc.call("ReserveForInternalCall", request,
                                  pb.ReserveForInternalCallResponse,
                                  retry_for=self.options.enqueue_timeout_s,
                                  cancelled=self._stopping.is_set)
        except grpc.RpcError as exc:
            return _rpc_error(exc)

    def _start_side(self, call: _Call, side: _Side, request: Mapping[str, Any],
                    outcome: pb.ReserveForInternalCallResponse | str) -> dict[str, Any]:
        """On the loop: ring the reserved target (the command itself), or report why not."""
        cmd, agent = side.command, side.username
        code = OK if isinstance(outcome, str) else _code(outcome)
        if isinstance(outcome, str) or code == pb.ERROR_CODE_CALL_EXISTS:
            # No answer, or a retry whose first attempt may have committed: the ACD may
            # hold the reservation, so it is undone.
            self._drop_side(call, side, abandon=True)
            why = outcome if isinstance(outcome, str) else "reservation uncertain"
            return {"ok": False, "error": f"the ACD did not reserve {agent} for the {cmd} "
                                          f"({why}); nothing changed, try again"}
        if code != OK:
            self._drop_side(call, side, abandon=False)
            _log(call.cid, "the ACD refused %s for the %s (%s: %s)", agent, cmd,
                 _code_name(code), outcome.error.message, level=logging.WARNING)
            return {"ok": False, "error": f"the ACD refused {agent} for the {cmd}: "
                                          f"{_code_name(code)} ({outcome.error.message})",
                    "acd_error": _code_name(code)}
        if self._calls.get(call.cid) is not call or call.side is not side:
            self._drop_side(call, side, abandon=True)
            return {"ok": False, "error": f"no such call {call.cid}"}
        if side.acd_dropped:  # its CancelRing came on the feed before this reply
            self._drop_side(call, side, abandon=False)
            return {"ok": False, "error": f"the ACD took {agent} back at once; try again"}
        ring_s: float | None = None
        for action in outcome.actions:
            if action.WhichOneof("kind") == "offer" and action.offer.call_id == side.rid:
                side.employee_id = action.offer.employee_id
                ring_s = ring_time(action.offer.ring_timeout_seconds,
                                   self.options.ring_margin_s)
        run = dict(request)
        if ring_s is not None:
            # The controller's ring timer fires before the ACD's (as for an Offer).
            given = request.get("ring_timeout_s")
            if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
                ring_s = min(ring_s, float(given))
            run["ring_timeout_s"] = ring_s
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
        _log(call.cid, "the ACD reserved %s (employee %s) for the %s as %s", agent,
             side.employee_id, cmd, side.rid)
        if ringing is not None and call.ring is None:
            # The ACD's call for the ringing agent ends here (the agent back to idle, not
            # a no-answer); the supervisor's reservation carries the call from now on.
            call.agent_left = True
            call.acd_gone = True
            self._submit(call.cid, partial(self._side_rpc, call.cid, "Abandon",
                                           pb.AbandonRequest(call_id=call.acd_call)))
        self._apply(outcome.actions)
        return reply

    def _drop_side(self, call: _Call, side: _Side, *, abandon: bool) -> None:
        if call.side is side:
            call.side = None
        self._aliases.pop(side.rid, None)
        if abandon:
            self._submit(call.cid, partial(self._side_rpc, call.cid, "Abandon",
                                           pb.AbandonRequest(call_id=side.rid)))

    def _side_event(self, call: _Call, side: _Side, kind: str, data: Mapping[str, str]
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

    def _side_answered(self, call: _Call, side: _Side) -> None:
        if not side.answered:
            side.answered = True
            self._send(call, "Answered", pb.AnsweredRequest(
                call_id=side.rid, employee_id=side.employee_id), pb.AnsweredResponse,
                partial(self._side_answered_reply, side))
        if call.agent_left:
            self._side_took_call(call, side)

    def _side_answered_reply(self, side: _Side, call: _Call, reply: pb.AnsweredResponse
                             ) -> None:
        code = _code(reply)
        if code != OK:
            _log(call.cid, "the ACD refused Answered by %s (%s: %s): it does not count it "
                           "as talking", side.username, _code_name(code), reply.error.message,
                 level=logging.ERROR)
        self._apply(reply.actions)

    def _side_took_call(self, call: _Call, side: _Side) -> None:
        """The side leg has the caller and the agent is gone: the agent's ACD call ends
        (it wraps up as after a hang-up) and the reservation carries the call."""
        if not call.acd_gone:
            self._submit(call.cid, partial(self._side_rpc, call.cid, "Hangup",
                                           pb.HangupRequest(call_id=call.acd_call,
                                                            side=pb.HANGUP_SIDE_AGENT)))
        if call.acd_id:
            self._aliases.pop(call.acd_id, None)
        _log(call.cid, "%s took the call over; the ACD call is now %s", side.username,
             side.rid)
        call.acd_id, call.acd_gone = side.rid, False
        call.agent = _Ring(side.employee_id, side.username, side.leg_id)
        call.ring, call.side, call.agent_left = None, None, False

    def _side_gone(self, call: _Call, side: _Side) -> None:
        """The side leg ended without taking the caller (no answer, refused, cancelled,
        hung up after the consult)."""
        call.side = None
        self._aliases.pop(side.rid, None)
        if side.answered:
            self._submit(call.cid, partial(self._side_rpc, call.cid, "Hangup",
                                           pb.HangupRequest(call_id=side.rid,
                                                            side=pb.HANGUP_SIDE_AGENT)))
        elif not side.acd_dropped:
            # Its Undelivered is dropped: the reservation has no caller of its own.
            self._submit(call.cid, partial(self._side_rpc, call.cid, "NoAnswer",
                                           pb.NoAnswerRequest(call_id=side.rid,
                                                              employee_id=side.employee_id)))
        if call.agent_left:
            call.agent_left = False
            self._nobody_took_call(call, side)

    def _nobody_took_call(self, call: _Call, side: _Side) -> None:
        """The agent left for a target or supervisor that did not answer: the caller
        waits parked. Back to the front of its queue, as a transfer to an agent who does
        not answer goes (the agent wraps up); without a queue, or without an ACD call
        left to move, the caller is hung up."""
        if call.acd_gone or not call.queue:
            _log(call.cid, "%s did not take the call and it has no queue to go back to; "
                           "hanging up", side.username, level=logging.WARNING)
            if call.acd_gone:
                call.acd_done = True
            # Posted: this runs inside the service's publish of the no-answer.
            self._post(partial(self._hangup, call.cid, f"{CAUSE_UNDELIVERED}:{NO_ANSWER}"))
            return
        _log(call.cid, "%s did not take the call; back to queue %s", side.username, call.queue)
        call.agent = None  # its Release in the reply is no news: its leg is gone
        request = pb.TransferToQueueRequest(call_id=call.acd_call, queue=call.queue)

        def done(call: _Call, reply: pb.TransferToQueueResponse) -> None:
            code = _code(reply)
            if code != OK:
                _log(call.cid, "the ACD refused to queue the call again (%s: %s); hanging up",
                     _code_name(code), reply.error.message, level=logging.ERROR)
                self._hangup(call.cid, f"{CAUSE_UNDELIVERED}:{NO_ANSWER}")
                return
            if self.hold is not None:
                self.hold.parked(call.cid, call.queue)
            self._apply(reply.actions)

        self._send(call, "TransferToQueue", request, pb.TransferToQueueResponse, done)

    def _side_action(self, call: _Call, side: _Side, which: str, body: Any) -> None:
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
        _log(call.cid, "the ACD takes %s back (%s); stopping its ring", side.username,
             getattr(body, "reason", ""))
        state = self._run({"cmd": "call", "cid": call.cid}).get("result", {}).get("state")
        cmd = {"consult_ringing": "cancel_consult", "intercepting": "cancel_intercept",
               "ringing": "release"}.get(str(state))
        reply = self._run({"cmd": cmd, "cid": call.cid}) if cmd else {"ok": False}
        if not reply.get("ok"):
            _log(call.cid, "cannot stop ringing %s (%s)", side.username, reply.get("error"),
                 level=logging.WARNING)

    def _end_side(self, call: _Call) -> None:
        """The call ended: a side leg still there leaves the ACD too."""
        side = call.side
        if side is None or not side.started:
            return  # none, or its reservation still on its way (_start_side undoes it)
        call.side = None
        self._aliases.pop(side.rid, None)
        if side.answered:
            request: Message = pb.HangupRequest(call_id=side.rid, side=pb.HANGUP_SIDE_SYSTEM)
            self._submit(call.cid, partial(self._side_rpc, call.cid, "Hangup", request))
        elif not side.acd_dropped:
            self._submit(call.cid, partial(self._side_rpc, call.cid, "Abandon",
                                           pb.AbandonRequest(call_id=side.rid)))

    def _side_rpc(self, cid: str, method: str, request: Message) -> None:
        """On a worker: one report about a reservation or a call handed over; its reply
        carries nothing to act on (an Undelivered for a reservation is no news)."""
        reply_type = _REPLY_TYPES[method]
        reply: Any
        try:
            reply = self._rpc.call(method, request, reply_type, retry_for=self.options.retry_s,
                                   cancelled=self._stopping.is_set)
        except grpc.RpcError as exc:
            _log(cid, "%s(%s) not delivered to the ACD (%s): the agent's state stays wrong "
                      "there until Reconcile", method, getattr(request, "call_id", ""),
                 _rpc_error(exc), level=logging.ERROR)
            return
        code = _code(reply)
        if code not in (OK, pb.ERROR_CODE_UNKNOWN_CALL, pb.ERROR_CODE_NOT_RINGING):
            _log(cid, "the ACD refused %s(%s) (%s: %s)", method, getattr(request, "call_id", ""),
                 _code_name(code), reply.error.message, level=logging.WARNING)
        else:
            _log(cid, "%s(%s) at the ACD", method, getattr(request, "call_id", ""))


    # ------------------------------------------------------------ commands (SIP loop)

    def _run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self._execute is not None, "bind() the controller's commands first"
        return self._execute(request)

    def _hangup(self, cid: str, cause: str | None, code: int | None = None) -> None:
        if cause is not None:
            self._causes[cid] = cause
        request: dict[str, Any] = {"cmd": "hangup", "cid": cid}
        if code is not None:  # the final response to a caller not answered yet
            request["code"] = code
        reply = self._run(request)
        self._causes.pop(cid, None)  # used by its call.ended, or the call was gone
        if not reply.get("ok"):
            _log(cid, "hangup: %s", reply.get("error"), level=logging.DEBUG)

    def _enqueue_overdue(self, call: _Call) -> None:
        call.guard = None
        if call.enqueued or self._calls.get(call.cid) is not call:
            return
        _log(call.cid, "the ACD did not take the call within %ss; hanging up",
             self.options.enqueue_timeout_s, level=logging.ERROR)
        call.gone.set()
        self._hangup(call.cid, CAUSE_ACD_UNAVAILABLE)

    def _enqueued(self, call: _Call,
                  reply: pb.EnqueueResponse | pb.ReserveForInternalCallResponse) -> None:
        """The reply to the call's Enqueue, or to an internal call's reservation."""
        live = self._calls.get(call.cid) is call
        code = _code(reply)
        if code in (OK, pb.ERROR_CODE_CALL_EXISTS):
            if code != OK:  # a retry whose first attempt was committed
                _log(call.cid, "%s: %s (taken as done)",
                     "ReserveForInternalCall" if call.callee else "Enqueue",
                     reply.error.message, level=logging.WARNING)
            call.enqueued = True
            if call.guard is not None:
                call.guard.cancel()
                call.guard = None
            if live:
                if call.callee:
                    _log(call.cid, "the ACD reserved %s for the internal call", call.callee)
                else:
                    _log(call.cid, "queued in %s", call.queue)
                self._apply(reply.actions)
            return
        call.acd_done = True
        if not live:
            return
        if call.callee:
            # Routine (the callee is busy, not logged in): the calling agent's INVITE is
            # refused (480, nothing was answered) and nobody's state changed.
            _log(call.cid, "the ACD refused the internal call from %s to %s (%s: %s); "
                           "refusing it", call.caller, call.callee, _code_name(code),
                 reply.error.message, level=logging.WARNING)
        else:
            _log(call.cid, "the ACD refused the call for queue %s (%s: %s); hanging up",
                 call.queue, _code_name(code), reply.error.message, level=logging.ERROR)
        # A colleague the ACD will not give the call to (on a call, ringing, wrapping
        # up, not ready) is busy: 486, as a PBX says. Not logged in, or any other
        # refusal: unavailable (480, the default).
        busy = call.callee and code == pb.ERROR_CODE_AGENT_NOT_AVAILABLE
        self._hangup(call.cid, f"{CAUSE_ACD_REFUSED}:{_code_name(code)}",
                     486 if busy else None)

    def _enqueue_failed(self, call: _Call, error: str) -> None:
        if self._calls.get(call.cid) is not call:
            return
        if call.guard is not None:
            call.guard.cancel()
            call.guard = None
        _log(call.cid, "the ACD is unreachable (%s); hanging up", error, level=logging.ERROR)
        self._hangup(call.cid, CAUSE_ACD_UNAVAILABLE)

    # ------------------------------------------------------------ RPCs (worker threads)

    def _enqueue_job(self, call: _Call) -> None:
        self._take_job(call, "Enqueue", pb.EnqueueRequest(
            call_id=call.cid, queue=call.queue, caller=call.caller, category=call.category,
            source=self.options.source), pb.EnqueueResponse)

    def _reserve_job(self, call: _Call) -> None:
        self._take_job(call, "ReserveForInternalCall", pb.ReserveForInternalCallRequest(
            call_id=call.cid, username=call.callee, calling_agent=call.caller,
            caller=call.caller, category=call.category, kind=pb.CALL_KIND_INTERNAL,
            source=self.options.source), pb.ReserveForInternalCallResponse)

    def _take_job(self, call: _Call, method: str, request: Message,
                  reply_type: type[pb.EnqueueResponse] | type[pb.ReserveForInternalCallResponse]
                  ) -> None:
        """Hand a new call to the ACD (a queue, or an internal call's callee), retried
        until the call's deadline; the outcome is handled on the loop."""
        if call.gone.is_set():
            return  # ended (or given up) before its turn came
        call.enqueue_sent = True
        try:
            reply = self._rpc.call(
                method, request, reply_type,
                retry_for=max(0.0, call.deadline - time.monotonic()),
                cancelled=lambda: call.gone.is_set() or self._stopping.is_set())
        except grpc.RpcError as exc:
            self._post(partial(self._enqueue_failed, call, _rpc_error(exc)))
            return
        self._post(partial(self._enqueued, call, reply))

    def _send(self, call: _Call, method: str, request: Message, reply_type: type[M],
              on_reply: Callable[[_Call, M], None]) -> None:
        """Send on the call's chain; the reply is handled on the loop."""
        def job() -> None:
            try:
                reply = self._rpc.call(method, request, reply_type,
                                       retry_for=self.options.retry_s,
                                       cancelled=self._stopping.is_set)
            except grpc.RpcError as exc:
                _log(call.cid, "%s not delivered to the ACD (%s): its agent state may be "
                               "wrong until the ACD's ring timer or Reconcile", method,
                     _rpc_error(exc), level=logging.ERROR)
                return
            self._post(partial(on_reply, call, reply))

        self._submit(call.cid, job)

    def _abandon_job(self, call: _Call, side: str) -> None:
        if not call.enqueue_sent:
            return  # the ACD never heard of the call
        try:
            reply = self._rpc.call("Abandon", pb.AbandonRequest(call_id=call.acd_call),
                                   pb.AbandonResponse, retry_for=self.options.retry_s,
                                   cancelled=self._stopping.is_set)
        except grpc.RpcError as exc:
            _log(call.cid, "Abandon not delivered to the ACD (%s)", _rpc_error(exc),
                 level=logging.ERROR)
            return
        code = _code(reply)
        if code == pb.ERROR_CODE_CALL_ALREADY_ANSWERED:
            # The ACD saw an answer we did not (our Answered was delivered; its event was
            # not for us to see): end it as answered so the agent wraps up.
            self._hangup_job(call, side)
        elif code not in (OK, pb.ERROR_CODE_UNKNOWN_CALL):
            _log(call.cid, "the ACD refused Abandon (%s: %s)", _code_name(code),
                 reply.error.message, level=logging.WARNING)
        else:
            _log(call.cid, "abandoned at the ACD")

    def _hangup_job(self, call: _Call, side: str) -> None:
        request = pb.HangupRequest(call_id=call.acd_call,
                                   side=_SIDES.get(side, pb.HANGUP_SIDE_SYSTEM))
        try:
            reply = self._rpc.call("Hangup", request, pb.HangupResponse,
                                   retry_for=self.options.retry_s,
                                   cancelled=self._stopping.is_set)
        except grpc.RpcError as exc:
            _log(call.cid, "Hangup not delivered to the ACD (%s): the agent stays talking "
                           "there until Reconcile", _rpc_error(exc), level=logging.ERROR)
            return
        code = _code(reply)
        if code not in (OK, pb.ERROR_CODE_UNKNOWN_CALL):
            _log(call.cid, "the ACD refused Hangup (%s: %s)", _code_name(code),
                 reply.error.message, level=logging.WARNING)
        else:
            _log(call.cid, "hung up at the ACD (side %s)", side)


class EventTap:
    """The service's `EventPublisher`: forwards every event to the configured one
    (the event log), then lets the driver react. Runs on the SIP loop; never raises."""

    def __init__(self, inner: EventPublisher, driver: AcdDriver) -> None:
        self._inner = inner
        self._driver = driver

    def publish(self, event: Event) -> None:
        try:
            event = self._driver.rewrite(event)
        except Exception:
            log.exception("cid=%s rewriting %s failed", event.correlation_id, event.kind)
        self._inner.publish(event)
        try:
            self._driver.observe(event)
        except Exception:  # a bug here must not reach call handling
            log.exception("cid=%s reacting to %s failed", event.correlation_id, event.kind)
        hold = self._driver.hold
        if hold is not None:  # synchronously: an answer stops the queue media before
            try:              # anything else on the loop can start an announcement
                hold.observe(event)
            except Exception:
                log.exception("cid=%s queue media on %s failed", event.correlation_id,
                              event.kind)


def sippy_driver(options: AcdOptions) -> AcdDriver:
    """The driver on Sippy's loop, with a failing-over `acd_client.AcdClient`."""
    from sippy.Core.EventDispatcher import ED2  # noqa: PLC0415
    from sippy.Time.Timeout import Timeout  # noqa: PLC0415

    from acd_client import AcdClient, ActionFeed  # noqa: PLC0415

    client = AcdClient(list(options.addresses), timeout=options.rpc_timeout_s,
                       retry_for=options.retry_s, token=options.token)

    def later(delay_s: float, callback: Callable[[], None]) -> Cancellable:
        timeout: Cancellable = Timeout(callback, delay_s)
        return timeout

    def feed(on_action: Callable[[pb.Action], None]) -> Feed:
        return ActionFeed(client, on_action).start(timeout=None)

    return AcdDriver(options, client, post=ED2.callFromThread, later=later, feed=feed,
                     on_close=client.close)
