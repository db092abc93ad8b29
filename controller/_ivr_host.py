"""The call controller hosts the IVR: it runs a call through a flow by carrying out
the pure interpreter's actions (docs/call-control.md, "IVR").

A call to a dialled number that has a flow (`--ivr-for NUMBER=FLOW`) is claimed from
the ACD driver when it arrives, answered (parked), and given an `ivr.Session` on the
flow loaded now. What happens on the call is fed to the session (digits, the end of a
prompt, a timer, a lookup's answer, the caller's hang-up) and the actions it returns are
carried out:

- Play: render the items into one WAV on a worker thread, `play` it, and report
  `play_done` once its duration has passed (not if it was stopped first);
- StopPlay: `stop_media` if a player was started (a prompt still rendering is dropped);
- StartTimer / CancelTimer: a loop timer, then `timer_fired(name)`;
- Lookup: the data source on a worker thread, with its deadline (`_ivr_lookups.py`);
- SetCallData: kept for what follows (category, language...);
- Step: `call.ivr_step`;
- Enqueue: `enqueue_answered` at the ACD driver, with priority, skills, language and the
  call data for the agent (`agent_call_data`: ivr_path, account);
- Transfer: `connect` to the external number through the edge (a parked caller is
  rung out like an agent), hung up if nobody answers;
- Voicemail: a placeholder, the box's greeting in the call's language,
  `call.voicemail`, then hang up;
- Hangup: hang up.

A terminal action waits for the prompt that is playing (the flow's "please hold" or
"goodbye") to end. `call.ivr_done` is written exactly once per call the host claimed,
when the IVR lets go of it: at the terminal action, when the caller hangs up, or when
the call ends otherwise (result `error`). Out of a number's open hours the call gets the
number's closed announcement or voicemail instead of the flow (result `closed`).

Threads. Everything here runs on the SIP loop, except the jobs it submits (rendering,
lookups), which hand their results back with `post`. It owns no controller state: it
acts through the controller's commands (`Execute`) and sees the call through its
events (`IvrTap`), like the ACD driver and the queue media. Digit values and the keys
of sensitive lookups are never logged.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from acd import MAX_CALL_DATA_VALUE
from controller._ivr_lookups import LookupRunner
from controller._ivr_ports import (
    ArrivedCall,
    FlowEntry,
    IvrSession,
    OpenHours,
    PromptRenderer,
    QueueEntry,
    RecordingPause,
    RenderedPrompt,
    SessionFactory,
    SnapshotStore,
    Submit,
)
from controller._ivr_prompts import voicemail_greeting
from controller._ports import Cancellable, EventPublisher, Execute, Later, Post
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_IVR_DONE,
    CALL_IVR_STEP,
    CALL_NO_ANSWER,
    CALL_TRANSFERRED,
    CALL_VOICEMAIL,
    IVR_CALLER_LEFT,
    IVR_CLOSED,
    IVR_ERROR,
    IVR_QUEUED,
    IVR_RESULTS,
    IVR_TRANSFERRED,
    IVR_VOICEMAIL,
    Event,
)
from ivr import (
    Action,
    CancelTimer,
    Enqueue,
    Hangup,
    Lookup,
    Play,
    PromptItem,
    SetCallData,
    StartTimer,
    Step,
    StopPlay,
    Transfer,
    Tts,
    Voicemail,
)

__all__ = [
    "ClosedAnnouncement",
    "ClosedRule",
    "ClosedVoicemail",
    "IvrHost",
    "IvrTap",
    "NumberIvr",
    "agent_call_data",
]

log = logging.getLogger("controller.ivr")

IVR_PATH_SEPARATOR = ">"
_CUT = "…"  # leads an IVR path whose oldest nodes were left out


def agent_call_data(session: IvrSession | None) -> dict[str, str]:
    """What a call handed from the IVR to a queue brings for its agent (acd.v1
    EnqueueRequest.call_data): `ivr_path`, the nodes the caller went through joined by
    ">" (a path longer than the ACD takes keeps its latest nodes, after "…"), and
    `account`, the account the caller entered (`ivr.Session.entered_account`: never
    from a sensitive node), when there is one."""
    if session is None:
        return {}
    data: dict[str, str] = {}
    nodes = list(session.path)
    path = IVR_PATH_SEPARATOR.join(nodes)
    while len(path) > MAX_CALL_DATA_VALUE and len(nodes) > 1:
        nodes.pop(0)
        path = _CUT + IVR_PATH_SEPARATOR + IVR_PATH_SEPARATOR.join(nodes)
    if path:
        data["ivr_path"] = path[-MAX_CALL_DATA_VALUE:]
    account = session.entered_account
    if account and len(account) <= MAX_CALL_DATA_VALUE:
        data["account"] = account
    return data


# ---------------------------------------------------------------- what a number does


@dataclass(frozen=True)
class ClosedAnnouncement:
    """Out of hours: say these (one per language, in order) and hang up."""

    texts: tuple[Tts, ...]


@dataclass(frozen=True)
class ClosedVoicemail:
    """Out of hours: the voicemail box (a placeholder until the recording issue)."""

    box: str
    language: str = "zh"


ClosedRule = ClosedAnnouncement | ClosedVoicemail


@dataclass(frozen=True)
class NumberIvr:
    """What the IVR does with calls to one dialled number: run `flow`, and, with
    `hours` (a schedule's name), only while it is open; `closed` otherwise. A number
    with hours and no flow goes to its queue in hours (the host does not claim it)."""

    flow: str | None = None
    hours: str | None = None
    closed: ClosedRule | None = None


# ---------------------------------------------------------------- one call


class Phase(enum.Enum):
    ANSWERING = "answering"  # claimed; the answer is on its way
    IN_FLOW = "in_flow"  # the session runs
    LEAVING = "leaving"  # the IVR let go: a last prompt, then the terminal action


@dataclass(eq=False)
class _Prompt:
    """The prompt being rendered or played; `on_end` runs when it has played."""

    on_end: Callable[[], None]
    playing: bool = False  # rtpengine's player was started
    timer: Cancellable | None = None


@dataclass(eq=False)
class IvrCall:
    facts: ArrivedCall
    route: NumberIvr
    closed: bool
    entry: FlowEntry | None
    started_at: float
    phase: Phase = Phase.ANSWERING
    session: IvrSession | None = None
    data: dict[str, str] = field(default_factory=dict)  # SetCallData
    timers: dict[str, tuple[int, Cancellable]] = field(default_factory=dict)
    prompt: _Prompt | None = None
    done: bool = False  # call.ivr_done written
    # The recording is paused for a sensitive node the caller is in (resumed on leaving).
    sensitive_pause: bool = False
    saved: bool = False  # a snapshot is in the store
    _tokens: int = 0

    @property
    def cid(self) -> str:
        return self.facts.cid

    @property
    def node(self) -> str:
        return "" if self.session is None else self.session.node

    def token(self) -> int:
        self._tokens += 1
        return self._tokens


# ---------------------------------------------------------------- the host


class IvrHost:
    """Runs this replica's IVR calls. Loop-owned, except the jobs it submits."""

    def __init__(
        self,
        *,
        routes: Mapping[str, NumberIvr],
        flows: Callable[[], Mapping[str, FlowEntry]],
        new_session: SessionFactory,
        renderer: PromptRenderer,
        lookups: LookupRunner,
        post: Post,
        later: Later,
        submit: Submit,
        node: str = "",
        schedules: Mapping[str, OpenHours] | None = None,
        queue: QueueEntry | None = None,
        state: SnapshotStore | None = None,
        clock: Callable[[], float] = time.time,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        claims_from_driver: bool = False,
    ) -> None:
        """`flows()`: the flows loaded now (a reload replaces them for new calls).
        `claims_from_driver`: the ACD driver offers each arrival (`claim`); without it
        the host takes arrivals from the events it observes."""
        self.routes = dict(routes)
        self._flows = flows
        self._new_session = new_session
        self._renderer = renderer
        self._lookups = lookups
        self._post = post
        self._later = later
        self._submit = submit
        self.node = node
        self.schedules = dict(schedules or {})
        self.queue = queue
        self._state = state
        self._clock = clock
        self._now = now
        self.claims_from_driver = claims_from_driver
        self._execute: Execute | None = None
        self._events: EventPublisher | None = None
        self._calls: dict[str, IvrCall] = {}
        self._transfers: dict[str, str] = {}  # cid -> the number it rings
        self.visits: dict[str, Counter[str]] = {}  # flow -> node -> steps into it
        self.results: Counter[str] = Counter()
        self.digits: Counter[str] = Counter()  # by method
        self.ignored_digits = 0
        self._reported: set[str] = set()
        self._report_lock = threading.Lock()
        # The calls' recordings: a `sensitive` node pauses the call's while the caller is
        # in it (docs/recording.md). None: nothing is recorded here.
        self.recorder: RecordingPause | None = None

    # ------------------------------------------------------------ life

    def bind(self, execute: Execute, events: EventPublisher) -> None:
        """The controller's commands and its event publisher (the service's, so the
        IVR's events reach the log and every observer)."""
        self._execute = execute
        self._events = events

    def tap(self, inner: EventPublisher) -> IvrTap:
        return IvrTap(inner, self)

    @property
    def calls(self) -> Mapping[str, IvrCall]:
        return self._calls

    # ------------------------------------------------------------ inputs (SIP loop)

    def claim(self, cid: str, data: Mapping[str, str]) -> bool:
        """A call arrived: True if the IVR takes it. Runs inside the service's publish,
        so it only decides; the answer and the flow start from the loop, next."""
        dialled = data.get("dialled", "")
        route = self.routes.get(dialled)
        if route is None or cid in self._calls:
            return False
        closed = route.hours is not None and not self._open(cid, route.hours)
        entry = None
        if not closed and route.flow is not None:
            entry = self._flows().get(route.flow)
            if entry is None:
                log.error("cid=%s flow %r of number %s is not loaded", cid, route.flow, dialled)
                return False
        if not closed and entry is None:
            return False  # in hours, and no flow: the number's queue takes it
        facts = ArrivedCall(cid, data.get("caller", ""), dialled, data.get("category", ""))
        call = IvrCall(facts, route, closed, entry, started_at=self._clock())
        self._calls[cid] = call
        log.info(
            "cid=%s IVR takes the call to %s (%s)",
            cid,
            dialled,
            "closed" if closed else f"flow {entry.name if entry else '-'}",
        )
        self._post(partial(self._begin, call))
        return True

    def observe(self, event: Event) -> None:
        """The controller's call events (`IvrTap` forwards each one)."""
        kind, cid = event.kind, event.correlation_id
        if kind == CALL_ARRIVED:
            if not self.claims_from_driver:
                self.claim(cid, event.data)
        elif kind == CALL_ENDED:
            self._ended(cid, event.data)
        elif kind == CALL_ANSWERED:
            if self._transfers.pop(cid, None) is not None:
                log.info("cid=%s transferred call answered", cid)
        elif kind == CALL_NO_ANSWER:
            number = self._transfers.pop(cid, None)
            if number is not None:
                log.warning("cid=%s transfer to %s not answered; hanging up", cid, number)
                self._post(partial(self._hangup_cid, cid))

    def on_digit(self, cid: str, digit: str, method: str) -> None:
        """A DTMF digit on the call (`controller/_dtmf.py`): to its session, if it is in
        a flow; ignored otherwise. Its value is never logged."""
        call = self._calls.get(cid)
        if call is None or call.session is None or call.done:
            self.ignored_digits += 1
            log.debug("cid=%s a digit (%s) outside an IVR flow: ignored", cid, method)
            return
        self.digits[method] += 1
        self._feed(call, lambda session: session.digit(digit))

    # ------------------------------------------------------------ the call's life

    def _begin(self, call: IvrCall) -> None:
        if not self._live(call):
            return  # the caller left before the answer
        reply = self._run({"cmd": "answer", "cid": call.cid})
        if not reply.get("ok"):
            log.warning("cid=%s IVR cannot answer the call: %s", call.cid, reply.get("error"))
            self._let_go(call, IVR_ERROR)
            self._hangup(call)
            return
        if call.closed:
            self._closed(call)
            return
        entry = call.entry
        assert entry is not None  # claim() takes only a closed call without one
        try:
            session = self._new_session(entry.flow, call.facts)
            actions = session.start()
        except Exception:
            log.exception("cid=%s flow %s failed to start", call.cid, entry.name)
            self._let_go(call, IVR_ERROR)
            self._hangup(call)
            return
        call.session = session
        call.phase = Phase.IN_FLOW
        self._carry_out(call, actions)

    def _closed(self, call: IvrCall) -> None:
        """Out of hours: the number's announcement or voicemail; the flow is not entered."""
        self._let_go(call, IVR_CLOSED)
        rule = call.route.closed
        if isinstance(rule, ClosedVoicemail):
            self._voicemail(call, rule.box, rule.language)
        elif isinstance(rule, ClosedAnnouncement) and rule.texts:
            self._play(call, rule.texts, partial(self._hangup, call))
        else:
            self._hangup(call)

    def _ended(self, cid: str, data: Mapping[str, str]) -> None:
        """The call ended (the caller hung up, or anything else ended it)."""
        self._transfers.pop(cid, None)
        call = self._calls.get(cid)
        if call is None:
            return
        call.sensitive_pause = False  # the hang-up stops the recording as it is
        if not call.done:
            if data.get("side") == "caller":
                result = IVR_CALLER_LEFT
                if call.session is not None:
                    try:
                        result = call.session.caller_left()
                    except Exception:
                        log.exception("cid=%s the session failed on the caller's hang-up", cid)
                log.info("cid=%s caller left the IVR at node %s", cid, call.node or "-")
            else:
                result = IVR_ERROR
                log.warning("cid=%s call ended in the IVR (cause %s)", cid, data.get("cause", ""))
            self._let_go(call, result)
        self._forget(call)

    def _let_go(self, call: IvrCall, result: str) -> None:
        """The IVR is done with the call: `call.ivr_done`, once; its timers and lookups
        stop, and its state in the store goes. A last prompt may still play."""
        if call.done:
            return
        call.done = True
        call.phase = Phase.LEAVING
        if result not in IVR_RESULTS:
            log.error("cid=%s unknown IVR result %r, written as error", call.cid, result)
            result = IVR_ERROR
        self.results[result] += 1
        self._sensitive(call, False)
        self._cancel_timers(call)
        self._lookups.cancel(call.cid)
        self._drop_snapshot(call)
        self._emit(call.cid, CALL_IVR_DONE, ivr_node=call.node, result=result)

    def _forget(self, call: IvrCall) -> None:
        """The host holds nothing of the call any more."""
        if self._calls.get(call.cid) is call:
            del self._calls[call.cid]
        self._stop_prompt(call, stop_media=False)
        self._cancel_timers(call)
        self._lookups.cancel(call.cid)
        self._drop_snapshot(call)

    def _live(self, call: IvrCall) -> bool:
        return self._calls.get(call.cid) is call

    # ------------------------------------------------------------ the session

    def _feed(self, call: IvrCall, step: Callable[[IvrSession], list[Action]]) -> None:
        session = call.session
        if session is None or call.done or not self._live(call):
            return
        try:
            actions = step(session)
        except Exception:
            log.exception("cid=%s the IVR session failed at node %s", call.cid, call.node or "-")
            self._let_go(call, IVR_ERROR)
            self._hangup(call)
            return
        self._carry_out(call, actions)

    def _carry_out(self, call: IvrCall, actions: Sequence[Action]) -> None:
        for action in actions:
            if not self._live(call):
                return  # the call ended on the way (rtpengine failed, say)
            self._act(call, action)
        session = call.session
        if session is not None and not call.done and self._live(call) and self._state:
            self._save_snapshot(call, session)

    def _act(self, call: IvrCall, action: Action) -> None:
        if isinstance(action, Play):
            self._play(call, action.items, partial(self._prompt_played, call))
        elif isinstance(action, StopPlay):
            self._stop_prompt(call, stop_media=True)
        elif isinstance(action, StartTimer):
            self._start_timer(call, action.name, action.ms)
        elif isinstance(action, CancelTimer):
            self._cancel_timer(call, action.name)
        elif isinstance(action, Lookup):
            self._lookups.start(call.cid, action, partial(self._lookup_done, call))
        elif isinstance(action, SetCallData):
            call.data.update(action.values)
        elif isinstance(action, Step):
            self._step(call, action)
        elif isinstance(action, Enqueue):
            self._let_go(call, self._result(call, IVR_QUEUED))
            self._when_quiet(call, partial(self._enqueue, call, action))
        elif isinstance(action, Transfer):
            self._let_go(call, self._result(call, IVR_TRANSFERRED))
            self._when_quiet(call, partial(self._transfer, call, action.number))
        elif isinstance(action, Voicemail):
            self._let_go(call, self._result(call, IVR_VOICEMAIL))
            self._when_quiet(call, partial(self._voicemail, call, action.box, action.language))
        elif isinstance(action, Hangup):
            self._let_go(call, self._result(call, action.reason))
            self._when_quiet(call, partial(self._hangup, call))

    @staticmethod
    def _result(call: IvrCall, fallback: str) -> str:
        """The session's own result once it has finished; else the action's."""
        session = call.session
        result = None if session is None else session.result
        return result if result in IVR_RESULTS else fallback

    def _step(self, call: IvrCall, step: Step) -> None:
        flow = call.entry.name if call.entry is not None else ""
        self.visits.setdefault(flow, Counter())[step.node] += 1
        # `input` is masked by the interpreter for a sensitive node; logged nowhere here.
        self._emit(call.cid, CALL_IVR_STEP, ivr_node=step.node, input=step.input)
        nodes = {} if call.entry is None else getattr(call.entry.flow, "nodes", {})
        node = nodes.get(step.node)
        self._sensitive(call, bool(getattr(node, "sensitive", False)))

    def _sensitive(self, call: IvrCall, inside: bool) -> None:
        """The caller entered (`inside`) or left a sensitive node: pause or resume the
        call's recording (reason `sensitive`), if it has one."""
        recorder = self.recorder
        if recorder is None or inside == call.sensitive_pause:
            return
        if inside:
            call.sensitive_pause = recorder.pause(call.cid, "sensitive")
        else:
            call.sensitive_pause = False
            recorder.resume(call.cid)

    def _prompt_played(self, call: IvrCall) -> None:
        self._feed(call, lambda session: session.play_done())

    def _lookup_done(
        self,
        call: IvrCall,
        request_id: int,
        record: Mapping[str, Any] | None,
        error: str | None,
    ) -> None:
        self._feed(call, lambda session: session.lookup_done(request_id, record, error))

    # ------------------------------------------------------------ timers

    def _start_timer(self, call: IvrCall, name: str, ms: int) -> None:
        self._cancel_timer(call, name)
        token = call.token()
        timer = self._later(max(0, ms) / 1000, partial(self._timer_fired, call, name, token))
        call.timers[name] = (token, timer)

    def _cancel_timer(self, call: IvrCall, name: str) -> None:
        held = call.timers.pop(name, None)
        if held is not None:
            held[1].cancel()

    def _cancel_timers(self, call: IvrCall) -> None:
        for _, timer in call.timers.values():
            timer.cancel()
        call.timers.clear()

    def _timer_fired(self, call: IvrCall, name: str, token: int) -> None:
        held = call.timers.get(name)
        if held is None or held[0] != token:
            return  # restarted or cancelled since
        del call.timers[name]
        self._feed(call, lambda session: session.timer_fired(name))

    # ------------------------------------------------------------ prompts

    def _play(self, call: IvrCall, items: Sequence[PromptItem], on_end: Callable[[], None]) -> None:
        """Render `items` (worker), play them, and run `on_end` when they have played.
        A new prompt replaces the one before (rtpengine's player does too)."""
        self._stop_prompt(call, stop_media=False)
        prompt = _Prompt(on_end)
        call.prompt = prompt
        self._submit(partial(self._render_job, call, prompt, tuple(items)))

    def _render_job(self, call: IvrCall, prompt: _Prompt, items: tuple[PromptItem, ...]) -> None:
        """Worker thread."""
        rendered: RenderedPrompt | None = None
        try:
            rendered = self._renderer.render(items)
        except Exception as exc:
            self._report(f"cannot render a prompt ({exc}); the flow goes on without it", call.cid)
        self._post(partial(self._rendered, call, prompt, rendered))

    def _rendered(self, call: IvrCall, prompt: _Prompt, rendered: RenderedPrompt | None) -> None:
        if call.prompt is not prompt or not self._live(call):
            return  # stopped or replaced meanwhile, or the call is gone
        if rendered is None:
            self._prompt_ended(call, prompt)
            return
        reply = self._run({"cmd": "play", "cid": call.cid, "file": str(rendered.path)})
        if not reply.get("ok"):
            log.warning("cid=%s cannot play %s: %s", call.cid, rendered.path, reply.get("error"))
            if self._live(call) and call.prompt is prompt:
                self._prompt_ended(call, prompt)
            return
        prompt.playing = True
        prompt.timer = self._later(
            rendered.duration_ms / 1000, partial(self._prompt_timer, call, prompt)
        )

    def _prompt_timer(self, call: IvrCall, prompt: _Prompt) -> None:
        prompt.timer = None
        if call.prompt is prompt and self._live(call):
            self._prompt_ended(call, prompt)

    def _prompt_ended(self, call: IvrCall, prompt: _Prompt) -> None:
        call.prompt = None
        prompt.on_end()

    def _stop_prompt(self, call: IvrCall, *, stop_media: bool) -> None:
        prompt = call.prompt
        if prompt is None:
            return
        call.prompt = None
        if prompt.timer is not None:
            prompt.timer.cancel()
            prompt.timer = None
        if stop_media and prompt.playing and self._live(call):
            reply = self._run({"cmd": "stop_media", "cid": call.cid})
            if not reply.get("ok"):
                log.debug("cid=%s stop media: %s", call.cid, reply.get("error"))

    def _when_quiet(self, call: IvrCall, then: Callable[[], None]) -> None:
        """Run a terminal action once the prompt now playing (or being rendered) ends."""
        if call.prompt is not None:
            call.prompt.on_end = then
        else:
            then()

    def _report(self, message: str, cid: str) -> None:
        """WARNING the first time a failure is seen, DEBUG after: one missing espeak-ng
        must not write a line per prompt."""
        with self._report_lock:
            first = message not in self._reported
            self._reported.add(message)
        log.log(logging.WARNING if first else logging.DEBUG, "cid=%s %s", cid, message)

    # ------------------------------------------------------------ terminal actions

    def _enqueue(self, call: IvrCall, action: Enqueue) -> None:
        if not self._live(call):
            return
        if self.queue is None:
            log.error(
                "cid=%s flow queues in %s, but there is no ACD (--acd)", call.cid, action.queue
            )
            self._hangup(call)
            return
        self._forget(call)
        category = call.data.get("category") or call.facts.category
        log.info(
            "cid=%s IVR hands the call to queue %s (priority %s, language %s)",
            call.cid,
            action.queue,
            action.priority,
            action.language,
        )
        try:
            self.queue.enqueue_answered(
                call.cid,
                queue=action.queue,
                caller=call.facts.caller,
                category=category,
                priority=action.priority,
                skills=dict(action.skills),
                language=action.language,
                call_data=agent_call_data(call.session),
            )
        except ValueError as exc:  # the driver refused the hand-over, changing nothing
            log.error("cid=%s the ACD driver refused the call: %s; hanging up", call.cid, exc)
            self._hangup_cid(call.cid)

    def _transfer(self, call: IvrCall, number: str) -> None:
        """Ring the external number through the edge and bridge the caller when it
        answers: `connect` treats it as a target at the edge, like an agent."""
        if not self._live(call):
            return
        self._forget(call)
        cid = call.cid
        self._emit(
            cid, CALL_TRANSFERRED, from_agent="", to_kind="external", to=number, mode="blind"
        )
        self._transfers[cid] = number
        reply = self._run({"cmd": "connect", "cid": cid, "agents": [number]})
        state = reply.get("result", {}).get("state") if reply.get("ok") else None
        if state != "ringing":
            log.warning(
                "cid=%s cannot transfer to %s (%s); hanging up",
                cid,
                number,
                reply.get("error") or f"the call is {state}",
            )
            self._transfers.pop(cid, None)
            self._hangup_cid(cid)
            return
        log.info("cid=%s IVR transfers the call to %s", cid, number)

    def _voicemail(self, call: IvrCall, box: str, language: str) -> None:
        if not self._live(call):
            return
        log.info("cid=%s voicemail box %s (placeholder: greeting, then hang up)", call.cid, box)
        self._emit(call.cid, CALL_VOICEMAIL)
        self._play(call, [voicemail_greeting(box, language)], partial(self._hangup, call))

    def _hangup(self, call: IvrCall) -> None:
        if not self._live(call):
            return
        self._forget(call)
        self._hangup_cid(call.cid)

    def _hangup_cid(self, cid: str) -> None:
        reply = self._run({"cmd": "hangup", "cid": cid})
        if not reply.get("ok"):
            log.debug("cid=%s hangup: %s", cid, reply.get("error"))

    # ------------------------------------------------------------ helpers

    def _open(self, cid: str, schedule: str) -> bool:
        hours = self.schedules.get(schedule)
        if hours is None:  # config validation names every schedule; never closed by a typo
            log.error("cid=%s schedule %r is not defined; taken as open", cid, schedule)
            return True
        try:
            return hours.is_open(self._now())
        except Exception:
            log.exception("cid=%s schedule %s failed; taken as open", cid, schedule)
            return True

    def _save_snapshot(self, call: IvrCall, session: IvrSession) -> None:
        assert self._state is not None and call.entry is not None
        try:
            document = {
                "cid": call.cid,
                "replica": self.node,
                "flow": call.entry.name,
                "version": call.entry.version,
                "caller": call.facts.caller,
                "dialled": call.facts.dialled,
                "category": call.facts.category,
                "data": dict(call.data),
                "started_at": call.started_at,
                "saved_at": self._clock(),
                "session": session.snapshot(),
            }
            self._state.save(call.cid, document)
            call.saved = True
        except Exception:
            log.exception("cid=%s IVR state not saved", call.cid)

    def _drop_snapshot(self, call: IvrCall) -> None:
        if call.saved and self._state is not None:
            call.saved = False
            try:
                self._state.delete(call.cid)
            except Exception:
                log.exception("cid=%s IVR state not deleted", call.cid)

    def _run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self._execute is not None, "bind() the controller's commands first"
        return self._execute(request)

    def _emit(self, cid: str, kind: str, **data: str) -> None:
        assert self._events is not None, "bind() the controller's events first"
        try:
            self._events.publish(
                Event.new(kind, correlation_id=cid, node=self.node, ts=self._clock(), **data)
            )
        except Exception:  # a publishing fault must not stop the call
            log.exception("cid=%s could not publish %s", cid, kind)

    # ------------------------------------------------------------ the `ivr` command

    def describe(self) -> dict[str, Any]:
        """IVR calls in progress, per-node counts, results and lookups, for `ivr`."""
        now_at: dict[str, Counter[str]] = {}
        calls = []
        for call in self._calls.values():
            flow = call.entry.name if call.entry is not None else ""
            if call.phase is Phase.IN_FLOW:
                now_at.setdefault(flow, Counter())[call.node] += 1
            calls.append(
                {
                    "cid": call.cid,
                    "flow": flow,
                    "version": call.entry.version if call.entry is not None else "",
                    "node": call.node,
                    "phase": call.phase.value,
                    "seconds": round(self._clock() - call.started_at, 1),
                }
            )
        nodes: dict[str, dict[str, dict[str, int]]] = {}
        for flow in sorted(set(self.visits) | set(now_at)):
            visits, here = self.visits.get(flow, Counter()), now_at.get(flow, Counter())
            nodes[flow] = {
                node: {"visits": visits[node], "now": here[node]}
                for node in sorted(set(visits) | set(here))
            }
        return {
            "in_progress": sum(1 for c in self._calls.values() if not c.done),
            "calls": calls,
            "transfers_ringing": len(self._transfers),
            "nodes": nodes,
            "results": dict(self.results),
            "digits": dict(self.digits),
            "ignored_digits": self.ignored_digits,
            "lookups": dict(self._lookups.counts),
        }


# ---------------------------------------------------------------- the events it sees


class IvrTap:
    """Stands in for the service's `EventPublisher`: forwards every event, and lets
    the IVR host see it. A call's `call.ended` is shown to the host first, so that
    its `call.ivr_done` comes before the call's end in the log. Never raises."""

    def __init__(self, inner: EventPublisher, host: IvrHost) -> None:
        self._inner = inner
        self._host = host

    def publish(self, event: Event) -> None:
        if event.kind == CALL_ENDED:
            self._observe(event)
            self._inner.publish(event)
            return
        self._inner.publish(event)
        self._observe(event)

    def _observe(self, event: Event) -> None:
        try:
            self._host.observe(event)
        except Exception:  # a bug here must not reach call handling
            log.exception("cid=%s IVR on %s failed", event.correlation_id, event.kind)
