"""One call running through a flow: the interpreter's state machine.

Pure: the host (the call controller) tells it what happened on the call (`start`,
`digit`, `play_done`, `timer_fired`, `lookup_done`, `caller_left`) and carries out
the actions each call returns (`ivr/_actions.py`), in order. The time of day comes
from the injected `clock`; timers are the host's (`StartTimer`/`CancelTimer`).

What a node does with the caller is documented in docs/ivr.md; the rules that span
nodes live here:
- A digit during an interruptible prompt stops it (`StopPlay` first) and then counts:
  in a menu or collect node as its input, in a play node as type-ahead that the next
  menu or collect takes (skipping interruptible prompts on the way there).
- The flow's agent key goes to the agent node from a menu (unless the menu has a
  choice for that key), a collect node (as the first key of an entry), a play node
  and a waiting lookup, unless the node says `allow_agent: false`.
- The max-time timer ends the session (or sends it to the flow's `on_max_time` node,
  after which the next menu or collect ends it).
- A sensitive collect node's digits appear as "<sensitive>" in Step and never in a
  snapshot; values derived from them (a lookup keyed by them) stay in memory only.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from ._actions import (
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
    Wav,
)
from ._conditions import DataCondition, holds
from ._flow import AGENT_NODE, Flow
from ._nodes import (
    DTMF_KEYS,
    INPUT_NODES,
    TERMINAL_NODES,
    BranchNode,
    CollectNode,
    HangupNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    Prompts,
    QueueNode,
    SetNode,
    TransferNode,
    VoicemailNode,
)
from ._schedule import Schedule
from ._template import Slot, TemplateError

SENSITIVE: Final = "<sensitive>"  # what Step says instead of a sensitive entry
INPUT_TIMER: Final = "input"
MAX_TIME_TIMER: Final = "max_time"
SNAPSHOT_FORMAT: Final = 1
# Nodes entered while handling one event before the session calls it a loop.
MAX_HOPS: Final = 200
# Type-ahead kept for the next menu or collect; more is a caller leaning on the keypad.
MAX_TYPEAHEAD: Final = 32

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CallFacts:
    """What the host knows of the call when the flow starts: `{call.caller}` etc."""

    caller: str
    dialled: str
    category: str = ""


class _Phase(enum.Enum):
    IDLE = "idle"  # not started
    PROMPT = "prompt"  # a node's prompt is playing
    INPUT = "input"  # a menu or collect waits for digits
    LOOKUP = "lookup"  # waiting for lookup_done
    FINAL = "final"  # a terminal node's prompt is playing; then its action
    DONE = "done"


class _Failure(Exception):
    """The flow cannot go on (a slot without a value, a failed lookup with nowhere to
    go): the session ends with Hangup("error"). The text never holds a value."""


class Session:
    """One call in one flow. Every event method returns the actions to carry out; once
    `finished`, they return [] (and `result` says how the IVR part ended)."""

    def __init__(
        self,
        flow: Flow,
        *,
        call: CallFacts,
        clock: Clock,
        schedules: Mapping[str, Schedule] | None = None,
    ) -> None:
        missing = sorted(flow.schedules - set(schedules or {}))
        if missing:
            raise ValueError(
                f"flow {flow.name} uses schedule(s) {', '.join(missing)} that were not given"
            )
        self.flow = flow
        self.call = call
        self._clock = clock
        self._schedules = dict(schedules or {})
        self._node = flow.start
        self._path: list[str] = []
        self._language = flow.language
        self._vars: dict[str, object] = {}
        # Sensitive variable -> the collect node its value came from (to ask again
        # after a takeover, since the snapshot leaves the value out).
        self._sensitive_origin: dict[str, str] = {}
        self._call_data: dict[str, str] = {}
        # Variables that hold what the caller keyed in a non-sensitive collect node, the
        # key of the lookup in flight when it is made of them alone, and the account
        # the caller entered (`entered_account`).
        self._entered: set[str] = set()
        self._lookup_key: str | None = None
        self._account: str | None = None
        self._phase = _Phase.IDLE
        self._playing = False
        self._play_interruptible = False
        self._attempts = 0  # failed tries in the current node
        self._entry = ""  # a collect node's digits so far
        self._typeahead = ""
        self._timers: set[str] = set()
        self._request_id = 0
        self._pending_request: int | None = None
        self._pending_result: str | None = None  # why the flow heads for a hang-up
        self._after_max_time = False
        self._started_at: datetime | None = None
        self._finished = False
        self._result: str | None = None
        self._error: str | None = None
        self._visit = 0  # node visits so far: tells a later visit of the same node apart
        self._out: list[Action] = []
        self._hops = 0
        self._skipped: set[str] = set()  # play nodes skipped by type-ahead in this event
        # Set by restore, for resume (once):
        self._restored = False
        self._resume_redo: str | None = None
        self._resume_entry_dropped = False

    # ------------------------------------------------------------ what the host reads

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def result(self) -> str | None:
        """The `call.ivr_done` result once finished: self_served, queued, transferred,
        voicemail, closed, max_time, retries_exhausted, error or caller_left."""
        return self._result

    @property
    def node(self) -> str:
        return self._node

    @property
    def language(self) -> str:
        return self._language

    @property
    def path(self) -> tuple[str, ...]:
        """The nodes visited, in order (a node visited twice is there twice)."""
        return tuple(self._path)

    @property
    def error(self) -> str | None:
        """Why the session ended with result "error" (never holds a caller's digits)."""
        return self._error

    @property
    def entered_account(self) -> str | None:
        """The account the caller entered, for the agent who takes the call (the ACD's
        `call_data["account"]`): the key of the last lookup that was keyed only by
        what the caller typed in non-sensitive collect nodes, and that found a record
        or failed (the source was down: the entry may well be right). A key the source
        did not find is no account; a sensitive entry is never given out. None when
        the flow looked nothing up by an entry."""
        return self._account

    @property
    def call_data(self) -> Mapping[str, str]:
        """What set nodes set: language, category, priority, skill."""
        return dict(self._call_data)

    # ------------------------------------------------------------ events

    def start(self) -> list[Action]:
        if self._phase is not _Phase.IDLE:
            raise RuntimeError("the session has started already")

        def run() -> None:
            self._started_at = self._now()
            if self.flow.max_duration_ms is not None:
                self._start_timer(MAX_TIME_TIMER, self.flow.max_duration_ms)
            self._go(self.flow.start, "")

        return self._event(run)

    def digit(self, digit: str) -> list[Action]:
        """A DTMF key from the caller: 0-9, *, #, A-D."""
        if digit not in DTMF_KEYS:
            raise ValueError("a digit is one of 0-9, *, #, A-D")
        return self._event(lambda: self._on_digit(digit))

    def play_done(self) -> list[Action]:
        """The last Play ended by itself (not after a StopPlay)."""
        return self._event(self._on_play_done)

    def timer_fired(self, name: str) -> list[Action]:
        return self._event(lambda: self._on_timer(name))

    def lookup_done(
        self, request_id: int, record: Mapping[str, Any] | None, error: str | None
    ) -> list[Action]:
        """The answer to `Lookup(request_id)`: a record, None (not found) or an error
        text. An answer to an earlier request (the caller moved on) is ignored."""
        return self._event(lambda: self._on_lookup(request_id, record, error))

    def caller_left(self) -> str:
        """The caller hung up. Returns the ivr_done result: "caller_left" unless the
        session had already finished (then its own result)."""
        if not self._finished:
            self._finished = True
            self._result = "caller_left"
            self._phase = _Phase.DONE
            self._playing = False
            self._timers.clear()
        assert self._result is not None
        return self._result

    # ------------------------------------------------------------ takeover

    def snapshot(self) -> dict[str, Any]:
        """The session as JSON-able data, for a sibling replica to take the call over
        (`Session.restore`, then `resume`). Sensitive values are left out: a sibling
        asks for them again. Type-ahead is left out too."""
        sensitive_node = isinstance(self._current(), CollectNode) and self._current_sensitive()
        kept = {k: v for k, v in self._vars.items() if k not in self._sensitive_origin}
        redo = None
        if self._sensitive_origin and self._phase not in (_Phase.FINAL, _Phase.DONE):
            redo = next(iter(self._sensitive_origin.values()))
        return {
            "format": SNAPSHOT_FORMAT,
            "flow": self.flow.name,
            "flow_version": self.flow.version,
            "call": {
                "caller": self.call.caller,
                "dialled": self.call.dialled,
                "category": self.call.category,
            },
            "started_at": None if self._started_at is None else self._started_at.isoformat(),
            "node": self._node,
            "node_type": type(self._current()).__name__,
            "path": list(self._path),
            "language": self._language,
            "vars": {k: _encode(v) for k, v in kept.items()},
            "call_data": dict(self._call_data),
            "entered": sorted(self._entered),
            "lookup_key": self._lookup_key,
            "account": self._account,
            "phase": self._phase.value,
            "attempts": self._attempts,
            "entry": "" if sensitive_node else self._entry,
            "entry_dropped": bool(sensitive_node and self._entry),
            "request_id": self._request_id,
            "pending_result": self._pending_result,
            "after_max_time": self._after_max_time,
            "redo": redo,
            "finished": self._finished,
            "result": self._result,
            "error": self._error,
        }

    @classmethod
    def restore(
        cls,
        flow: Flow,
        snapshot: Mapping[str, Any],
        *,
        clock: Clock,
        schedules: Mapping[str, Schedule] | None = None,
    ) -> Session:
        """A session from `snapshot` in `flow` (the same flow by name; a reloaded
        version is accepted while the node still exists with the same type). Call
        `resume()` for the actions that pick the call up again."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a session snapshot of format {SNAPSHOT_FORMAT}")
        if snapshot["flow"] != flow.name:
            raise ValueError(f"the snapshot is of flow {snapshot['flow']}, not {flow.name}")
        node = flow.nodes.get(snapshot["node"])
        if node is None or type(node).__name__ != snapshot["node_type"]:
            raise ValueError(
                f"flow {flow.name} has no {snapshot['node_type']} node {snapshot['node']} now"
            )
        call = snapshot["call"]
        session = cls(
            flow,
            call=CallFacts(call["caller"], call["dialled"], call["category"]),
            clock=clock,
            schedules=schedules,
        )
        started = snapshot["started_at"]
        session._started_at = None if started is None else datetime.fromisoformat(started)
        session._node = snapshot["node"]
        session._path = list(snapshot["path"])
        session._visit = len(session._path)
        language = snapshot["language"]
        session._language = language if language in flow.languages else flow.language
        session._vars = {k: _decode(v) for k, v in snapshot["vars"].items()}
        session._call_data = dict(snapshot["call_data"])
        # Absent from snapshots of a replica older than `entered_account`.
        session._entered = set(snapshot.get("entered", ()))
        session._lookup_key = snapshot.get("lookup_key")
        session._account = snapshot.get("account")
        session._phase = _Phase(snapshot["phase"])
        session._attempts = int(snapshot["attempts"])
        session._entry = snapshot["entry"]
        session._request_id = int(snapshot["request_id"])
        session._pending_result = snapshot["pending_result"]
        session._after_max_time = bool(snapshot["after_max_time"])
        session._finished = bool(snapshot["finished"])
        session._result = snapshot["result"]
        session._error = snapshot["error"]
        redo = snapshot["redo"]
        session._resume_redo = redo if redo in flow.nodes else None
        session._resume_entry_dropped = bool(snapshot["entry_dropped"])
        session._restored = True
        return session

    def resume(self) -> list[Action]:
        """After `restore`: the actions that pick the call up where the snapshot left
        it. Timers start again in full (max time with what is left of it); a prompt
        that was playing plays again from its start; a lookup is asked again; a
        sensitive entry that was lost is asked for again."""

        if not self._restored:
            raise RuntimeError("resume() picks up a restored session, once")
        self._restored = False

        def run() -> None:
            if self.flow.max_duration_ms is not None and not self._after_max_time:
                started = self._started_at or self._now()
                elapsed_ms = int((self._now() - started).total_seconds() * 1000)
                left = self.flow.max_duration_ms - elapsed_ms
                if left <= 0 and self._phase is not _Phase.FINAL:
                    self._max_time()
                    return
                self._start_timer(MAX_TIME_TIMER, max(left, 1))
            node = self._current()
            if self._resume_redo is not None:
                self._go(self._resume_redo, "")
            elif self._phase is _Phase.INPUT and not self._resume_entry_dropped:
                self._wait_for_input(node)
            elif self._phase in (_Phase.PROMPT, _Phase.INPUT, _Phase.LOOKUP, _Phase.FINAL):
                self._enter(node)  # the prompt again, the lookup asked again

        if self._finished:
            return []
        return self._event(run)

    # ------------------------------------------------------------ event handlers

    def _event(self, handler: Callable[[], None]) -> list[Action]:
        if self._finished:
            return []
        self._out, self._hops, self._skipped = [], 0, set()
        try:
            handler()
        except _Failure as exc:
            self._fail(str(exc))
        except TemplateError as exc:
            self._fail(f"node {self._node}: {exc}")
        out, self._out = self._out, []
        return out

    def _on_digit(self, digit: str) -> None:
        node = self._current()
        phase = self._phase
        if phase is _Phase.PROMPT:
            if not self._play_interruptible:
                return  # the caller is meant to hear all of it
            self._stop_play()
            if self._agent_key(node, digit):
                self._go(AGENT_NODE, digit)
            elif isinstance(node, PlayNode):
                self._type_ahead(digit)
                self._skipped.add(node.name)
                self._go(node.next, "")
            else:
                self._phase = _Phase.INPUT
                self._input(node, digit)
        elif phase is _Phase.INPUT:
            self._input(node, digit)
        elif phase is _Phase.LOOKUP:
            if self._agent_key(node, digit):
                self._pending_request = None
                self._go(AGENT_NODE, digit)
            else:
                self._type_ahead(digit)
        # IDLE, FINAL (a terminal node's prompt is not interruptible), DONE: ignored

    def _on_play_done(self) -> None:
        if not self._playing:
            return
        self._playing = False
        node = self._current()
        if self._phase is _Phase.FINAL:
            self._finish(self._terminal_action(node))
        elif self._phase is _Phase.PROMPT:
            if isinstance(node, PlayNode):
                self._go(node.next, "")
            else:
                self._wait_for_input(node)

    def _on_timer(self, name: str) -> None:
        if name not in self._timers:
            return  # cancelled or restarted since: a late report
        self._timers.discard(name)
        if name == MAX_TIME_TIMER:
            if self._phase is not _Phase.FINAL:  # a terminal node's prompt finishes
                self._max_time()
        elif name == INPUT_TIMER and self._phase is _Phase.INPUT:
            node = self._current()
            if isinstance(node, CollectNode) and self._entry:
                self._end_entry(node)  # the inter-digit timeout ends an entry
            elif isinstance(node, MenuNode | CollectNode):
                self._retry(node, "", timeout=True)

    def _on_lookup(
        self, request_id: int, record: Mapping[str, Any] | None, error: str | None
    ) -> None:
        if self._phase is not _Phase.LOOKUP or request_id != self._pending_request:
            return
        self._pending_request = None
        node = self._current()
        assert isinstance(node, LookupNode)
        key, self._lookup_key = self._lookup_key, None
        if key is not None and (error is not None or record is not None):
            self._account = key
        if error is not None:
            # The host's text may quote the key, which may be sensitive.
            detail = "" if node.sensitive else f": {error}"
            self._pending_result = "error"
            if node.on_error is None:
                raise _Failure(f"node {node.name}: lookup in {node.source} failed{detail}")
            self._go(node.on_error, "")
        elif record is None:
            target = node.on_not_found or node.on_error
            self._pending_result = None if node.on_not_found else "error"
            if target is None:
                raise _Failure(f"node {node.name}: lookup in {node.source} found nothing")
            self._go(target, "")
        else:
            self._store(node.store_as, dict(record), self._origin_of(node))
            self._go(node.next, "")

    # ------------------------------------------------------------ moving through nodes

    def _go(self, target: str, input_: str) -> None:
        """Leave the current node (with `input_`, the digits that chose the way) for
        `target`."""
        self._hops += 1
        if self._hops > MAX_HOPS:
            raise _Failure(f"node {target}: {MAX_HOPS} nodes without waiting for anything")
        node = self.flow.nodes[target]
        self._stop_play()
        self._cancel_timer(INPUT_TIMER)
        if self._after_max_time and isinstance(node, INPUT_NODES):
            self._finish(Hangup("max_time"))
            return
        self._node = target
        self._path.append(target)
        self._visit += 1
        self._attempts = 0
        self._entry = ""
        self._out.append(Step(target, input_))
        if isinstance(node, INPUT_NODES):
            self._pending_result = None  # the caller is back in the flow
        self._enter(node)

    def _enter(self, node: Node) -> None:
        if isinstance(node, MenuNode | CollectNode):
            self._ask(node, node.prompt)
        elif isinstance(node, PlayNode):
            if self._typeahead and node.interruptible and node.name not in self._skipped:
                self._skipped.add(node.name)  # a key was pressed: on to where it counts
                self._go(node.next, "")
            else:
                self._typeahead = ""  # a play node met twice in one event: play it
                self._play(node.prompt, interruptible=node.interruptible)
                self._phase = _Phase.PROMPT
        elif isinstance(node, LookupNode):
            self._request_id += 1
            self._pending_request = self._request_id
            self._phase = _Phase.LOOKUP
            key = node.key.fill(self._slot_value)
            entered = bool(node.key.slots) and all(
                slot.variable in self._entered for slot in node.key.slots
            )
            self._lookup_key = key if entered and not node.sensitive else None
            self._out.append(Lookup(node.source, key, self._request_id, node.sensitive))
        elif isinstance(node, BranchNode):
            self._go(self._branch(node), "")
        elif isinstance(node, SetNode):
            self._set(node)
            self._go(node.next, "")
        elif isinstance(node, TERMINAL_NODES):
            self._terminal(node)

    def _ask(self, node: MenuNode | CollectNode, prompt: Prompts) -> None:
        """Play a menu's or collect's prompt and wait for digits; type-ahead first."""
        if self._typeahead and node.interruptible:
            self._phase = _Phase.INPUT
            visit = self._visit
            while self._typeahead and self._visit == visit and self._phase is _Phase.INPUT:
                digit, self._typeahead = self._typeahead[0], self._typeahead[1:]
                self._input(node, digit)
            return
        self._typeahead = ""  # the caller is meant to hear this prompt first
        self._play(prompt, interruptible=node.interruptible)
        self._phase = _Phase.PROMPT

    def _wait_for_input(self, node: Node) -> None:
        self._phase = _Phase.INPUT
        if isinstance(node, MenuNode):
            self._start_timer(INPUT_TIMER, node.timeout_ms)
        elif isinstance(node, CollectNode):
            timeout = node.inter_digit_timeout_ms if self._entry else node.first_digit_timeout_ms
            self._start_timer(INPUT_TIMER, timeout)

    def _input(self, node: Node, digit: str) -> None:
        """A digit for the menu or collect node waiting for one."""
        if self._agent_key(node, digit):
            self._go(AGENT_NODE, digit)
        elif isinstance(node, MenuNode):
            if digit in node.choices:
                self._go(node.choices[digit], digit)
            else:
                self._retry(node, digit, timeout=False)
        elif isinstance(node, CollectNode):
            if digit == node.terminator:
                self._end_entry(node)
            elif digit.isdigit():
                self._entry += digit
                if len(self._entry) >= node.max_digits:
                    self._end_entry(node)
                else:
                    self._start_timer(INPUT_TIMER, node.inter_digit_timeout_ms)
            else:
                self._retry(node, self._shown(node, self._entry + digit), timeout=False)

    def _end_entry(self, node: CollectNode) -> None:
        entry, self._entry = self._entry, ""
        self._cancel_timer(INPUT_TIMER)
        valid = len(entry) >= node.min_digits and all(c.passes(entry) for c in node.checks)
        if not valid:
            self._retry(node, self._shown(node, entry), timeout=False)
            return
        if node.store_as is not None:
            self._store(node.store_as, entry, node.name if node.sensitive else None)
            if node.store_as not in self._sensitive_origin:
                self._entered.add(node.store_as)
        self._go(node.next, self._shown(node, entry))

    def _retry(self, node: MenuNode | CollectNode, shown: str, *, timeout: bool) -> None:
        """Invalid input or a timeout: prompt again, or give up after `retries`."""
        self._typeahead = ""
        self._entry = ""
        self._cancel_timer(INPUT_TIMER)
        if timeout and node.on_timeout is not None:
            self._go(node.on_timeout, "")
            return
        self._attempts += 1
        if self._attempts > node.retries:
            self._pending_result = "retries_exhausted"
            if node.on_failure is None:
                self._finish(Hangup("retries_exhausted"))
            else:
                self._go(node.on_failure, shown)
            return
        prefix = node.timeout_prompt if timeout else node.invalid_prompt
        self._play((*prefix, *node.prompt), interruptible=node.interruptible)
        self._phase = _Phase.PROMPT

    def _branch(self, node: BranchNode) -> str:
        for condition in node.conditions:
            if isinstance(condition, DataCondition):
                actual = self._value(condition.path, required=False)
                if holds(condition.op, actual, condition.value):
                    return condition.next
            elif self._schedules[condition.schedule].is_open(self._now()):
                return condition.next
        return node.default

    def _set(self, node: SetNode) -> None:
        values: dict[str, str] = {}
        for key, template in node.values.items():
            text = template.fill(self._slot_value)
            if key == "language":
                if text not in self.flow.languages:
                    continue  # from data the flow cannot speak: keep the current one
                self._language = text
            values[key] = text
        if values:
            self._call_data.update(values)
            self._out.append(SetCallData(values))

    def _terminal(self, node: Node) -> None:
        hours = node.hours if isinstance(node, QueueNode) else None
        if hours is not None and not self._schedules[hours].is_open(self._now()):
            assert isinstance(node, QueueNode)
            self._pending_result = "closed"
            if node.closed is None:
                self._finish(Hangup("closed"))
            else:
                self._go(node.closed, "")
            return
        prompt: Prompts = getattr(node, "prompt", ())
        if prompt:
            self._play(prompt, interruptible=False)
            self._phase = _Phase.FINAL
        else:
            self._finish(self._terminal_action(node))

    def _terminal_action(self, node: Node) -> Action:
        if isinstance(node, QueueNode):
            priority = node.priority
            if priority is None:
                priority = int(self._call_data.get("priority", "0"))
            skills = dict(node.skills or {})
            if "skill" in self._call_data:
                skills.setdefault(self._call_data["skill"], 1)
            return Enqueue(node.queue, priority, skills, self._language)
        if isinstance(node, VoicemailNode):
            return Voicemail(node.box, node.language or self._language)
        if isinstance(node, TransferNode):
            return Transfer(node.number)
        assert isinstance(node, HangupNode)
        result = node.result or self._pending_result or "self_served"
        return Hangup(result)

    def _max_time(self) -> None:
        self._stop_play()
        self._cancel_timer(INPUT_TIMER)
        self._pending_request = None
        self._typeahead = ""
        self._after_max_time = True
        self._pending_result = "max_time"
        if self.flow.on_max_time is None:
            self._finish(Hangup("max_time"))
        else:
            self._go(self.flow.on_max_time, "")

    def _finish(self, action: Action) -> None:
        for name in sorted(self._timers):
            self._out.append(CancelTimer(name))
        self._timers.clear()
        self._out.append(action)
        self._finished = True
        self._phase = _Phase.DONE
        self._playing = False
        self._result = _result_of(action)

    def _fail(self, message: str) -> None:
        self._stop_play()
        self._error = message
        self._finish(Hangup("error"))

    # ------------------------------------------------------------ helpers

    def _current(self) -> Node:
        return self.flow.nodes[self._node]

    def _current_sensitive(self) -> bool:
        node = self._current()
        return isinstance(node, CollectNode) and node.sensitive

    def _now(self) -> datetime:
        return self._clock()

    def _agent_key(self, node: Node, digit: str) -> bool:
        """Does `digit` take the caller to the agent from `node` now?"""
        if digit != self.flow.agent_key or AGENT_NODE not in self.flow.nodes:
            return False
        if not node.allow_agent or isinstance(node, TERMINAL_NODES):
            return False
        if isinstance(node, MenuNode) and digit in node.choices:
            return False  # the menu's own choice wins
        return not (isinstance(node, CollectNode) and (self._entry or digit == node.terminator))

    def _type_ahead(self, digit: str) -> None:
        self._typeahead = (self._typeahead + digit)[-MAX_TYPEAHEAD:]

    def _shown(self, node: CollectNode, entry: str) -> str:
        return SENSITIVE if node.sensitive else entry

    def _store(self, variable: str, value: object, origin: str | None) -> None:
        self._vars[variable] = value
        self._entered.discard(variable)  # `_end_entry` marks it again when the caller typed it
        if origin is not None or variable in self.flow.sensitive_variables:
            self._sensitive_origin.setdefault(variable, origin or self._node)
        else:
            self._sensitive_origin.pop(variable, None)

    def _origin_of(self, node: LookupNode) -> str | None:
        """For a lookup keyed by a sensitive value: the collect node it came from."""
        for slot in node.key.slots:
            if slot.variable in self._sensitive_origin:
                return self._sensitive_origin[slot.variable]
        return None

    def _slot_value(self, slot: Slot) -> object:
        return self._value(slot.path, required=True)

    def _value(self, path: tuple[str, ...], *, required: bool) -> object:
        shown = "{" + ".".join(path) + "}"
        if path[0] == "call":
            facts = {
                "caller": self.call.caller,
                "dialled": self.call.dialled,
                "category": self._call_data.get("category", self.call.category),
                "language": self._language,
            }
            value: object = facts.get(path[1]) if len(path) == 2 else None
        else:
            value = self._vars.get(path[0])
            for field in path[1:]:
                value = value.get(field) if isinstance(value, Mapping) else None
        if value is None and required:
            raise _Failure(f"node {self._node}: {shown} has no value")
        return value

    def _play(self, prompt: Prompts, *, interruptible: bool) -> None:
        items: list[PromptItem] = []
        for each in prompt:
            for language in self.flow.languages if each.all_languages else (self._language,):
                part = each.by_language[language]
                if isinstance(part, Wav):
                    items.append(part)
                else:
                    items.append(Tts(part.speak(self._slot_value, language), language))
        self._out.append(Play(tuple(items), interruptible))
        self._playing = True
        self._play_interruptible = interruptible

    def _stop_play(self) -> None:
        if self._playing:
            self._out.append(StopPlay())
            self._playing = False

    def _start_timer(self, name: str, ms: int) -> None:
        self._timers.add(name)
        self._out.append(StartTimer(name, ms))

    def _cancel_timer(self, name: str) -> None:
        if name in self._timers:
            self._timers.discard(name)
            self._out.append(CancelTimer(name))


def _result_of(action: Action) -> str:
    if isinstance(action, Enqueue):
        return "queued"
    if isinstance(action, Transfer):
        return "transferred"
    if isinstance(action, Voicemail):
        return "voicemail"
    assert isinstance(action, Hangup)
    return action.reason


# Snapshot values: JSON keeps str, numbers, booleans and None; records from a data
# source may hold Decimal amounts and dates, which are tagged to come back as such.


def _encode(value: object) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Mapping):
        return {"$map": {str(k): _encode(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return str(value)


def _decode(value: Any) -> object:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "$decimal":
        return Decimal(inner)
    if tag == "$datetime":
        return datetime.fromisoformat(inner)
    if tag == "$date":
        return date.fromisoformat(inner)
    return {k: _decode(v) for k, v in inner.items()}
