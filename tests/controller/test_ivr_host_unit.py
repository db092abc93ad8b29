"""`IvrHost` against fakes: the SIP loop, the worker threads, the controller's commands,
the interpreter's session, the renderer, the data sources, the ACD driver's entry and
the state store are all driven by hand, with a fake clock. Pure unit tests: no process,
no real interpreter (tests/controller/test_ivr_*.py with real rtpengine cover the real
pieces)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from acd import MAX_CALL_DATA_VALUE
from controller._ivr_host import (
    ClosedAnnouncement,
    ClosedVoicemail,
    IvrHost,
    NumberIvr,
    agent_call_data,
)
from controller._ivr_lookups import LookupRunner
from controller._ivr_ports import ArrivedCall, FlowEntry, RenderedPrompt
from controller._ivr_prompts import VOICEMAIL_GREETING
from eventlog import (
    CALL_ARRIVED,
    CALL_ENDED,
    CALL_IVR_DONE,
    CALL_IVR_STEP,
    CALL_NO_ANSWER,
    CALL_TRANSFERRED,
    CALL_VOICEMAIL,
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
    Wav,
)

CID = "call-abcdefgh"
OTHER = "call-ijklmnop"
HOTLINE = "95598"
OFFICE_LINE = "95599"  # hours only, no flow
CLOSED_VM = "95590"
GREETING = Play((Tts("欢迎致电", "zh"),))


class DataSourceError(Exception):
    """Stands for bizdata.DataSourceError."""


# ---------------------------------------------------------------- fakes


@dataclass
class Timer:
    at: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeSession:
    """Answers each input with the actions queued for it (or none), and keeps the
    inputs it got. A terminal action finishes it; a Step moves its node."""

    flow: object
    facts: ArrivedCall
    replies: dict[str, list[list[Action]]] = field(default_factory=dict)
    inputs: list[tuple[Any, ...]] = field(default_factory=list)
    finished: bool = False
    result: str | None = None
    node: str = ""
    language: str = "zh"
    fail_on: str | None = None
    path_: list[str] = field(default_factory=list)
    entered_account: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.path_)

    def _answer(self, *entry: Any) -> list[Action]:
        self.inputs.append(entry)
        if entry[0] == self.fail_on:
            raise RuntimeError("interpreter bug")
        queued = self.replies.get(entry[0]) or []
        actions = queued.pop(0) if queued else []
        for action in actions:
            if isinstance(action, Step):
                self.node = action.node
                self.path_.append(action.node)
            if isinstance(action, Enqueue | Transfer | Voicemail | Hangup):
                self.finished = True
        return actions

    def start(self) -> list[Action]:
        return self._answer("start")

    def digit(self, digit: str) -> list[Action]:
        return self._answer("digit", digit)

    def play_done(self) -> list[Action]:
        return self._answer("play_done")

    def timer_fired(self, name: str) -> list[Action]:
        return self._answer("timer_fired", name)

    def lookup_done(
        self, request_id: int, record: Mapping[str, Any] | None, error: str | None
    ) -> list[Action]:
        return self._answer("lookup_done", request_id, record, error)

    def caller_left(self) -> str:
        self.inputs.append(("caller_left",))
        self.finished = True
        return "caller_left"

    def snapshot(self) -> dict[str, Any]:
        return {"node": self.node, "inputs": len(self.inputs)}


@dataclass
class Schedule:
    open: bool = True

    def is_open(self, at: datetime) -> bool:
        assert at.tzinfo is not None
        return self.open


@dataclass
class Source:
    records: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    fail: bool = False
    asked: list[str] = field(default_factory=list)

    def lookup(self, key: str) -> Mapping[str, Any] | None:
        self.asked.append(key)
        if self.fail:
            raise DataSourceError(f"database down while looking up {key}")
        return self.records.get(key)


@dataclass
class Store:
    saved: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    saves: int = 0
    deleted: list[str] = field(default_factory=list)

    def save(self, cid: str, document: Mapping[str, Any]) -> None:
        self.saves += 1
        self.saved[cid] = document

    def delete(self, cid: str) -> None:
        self.deleted.append(cid)
        self.saved.pop(cid, None)


@dataclass
class World:
    """The SIP loop, workers, controller, renderer and ACD driver, as lists and dicts."""

    now: float = 1000.0
    loop: list[Callable[[], None]] = field(default_factory=list)
    jobs: list[Callable[[], None]] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    sessions: list[FakeSession] = field(default_factory=list)
    enqueued: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rendered: list[tuple[PromptItem, ...]] = field(default_factory=list)
    durations: dict[str, int] = field(default_factory=dict)  # first text -> ms
    fail_render: bool = False
    refuse: dict[str, str] = field(default_factory=dict)  # cmd -> error
    connect_state: str = "ringing"
    scripts: list[dict[str, list[list[Action]]]] = field(default_factory=list)
    host: IvrHost | None = None

    # ports
    def later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def execute(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self.commands.append(dict(request))
        cmd = request["cmd"]
        if cmd in self.refuse:
            return {"ok": False, "error": self.refuse[cmd]}
        if cmd == "hangup":  # the service ends the call: its call.ended, at once
            self.publish(
                Event.new(CALL_ENDED, correlation_id=request["cid"], cause="200", side="system")
            )
        state = self.connect_state if cmd == "connect" else "parked"
        return {"ok": True, "result": {"cid": request["cid"], "state": state}}

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def new_session(self, flow: object, facts: ArrivedCall) -> FakeSession:
        session = FakeSession(flow, facts, self.scripts.pop(0) if self.scripts else {})
        self.sessions.append(session)
        return session

    def render(self, items: Sequence[PromptItem]) -> RenderedPrompt:
        self.rendered.append(tuple(items))
        if self.fail_render:
            raise OSError("espeak-ng: not found")
        first = items[0]
        name = first.text if isinstance(first, Tts) else first.path
        return RenderedPrompt(Path(f"/cache/{abs(hash(name))}.wav"), self.durations.get(name, 2000))

    def enqueue_answered(self, cid: str, **kwargs: Any) -> None:
        if self.refuse.get("enqueue"):
            raise ValueError(self.refuse["enqueue"])
        self.enqueued.append((cid, kwargs))

    # driving
    def run(self) -> None:
        while self.jobs or self.loop:
            while self.jobs:
                self.jobs.pop(0)()
            while self.loop:
                self.loop.pop(0)()

    def run_loop_only(self) -> None:
        while self.loop:
            self.loop.pop(0)()

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = sorted(
                (t for t in self.timers if not t.cancelled and t.at <= end), key=lambda t: t.at
            )
            if not due:
                break
            timer = due[0]
            self.timers.remove(timer)
            self.now = max(self.now, timer.at)
            timer.callback()
            self.run()
        self.now = end

    # reading
    def cmds(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.commands if c["cmd"] == name]

    def kinds(self, cid: str = CID) -> list[str]:
        return [e.kind for e in self.events if e.correlation_id == cid]

    def of(self, kind: str, cid: str = CID) -> list[Mapping[str, str]]:
        return [e.data for e in self.events if e.kind == kind and e.correlation_id == cid]

    def armed(self) -> list[float]:
        return sorted(t.at for t in self.timers if not t.cancelled)


FLOWS = {
    "hotline": FlowEntry("hotline", object(), "v1", "/flows/hotline.yaml"),
}


def make(
    world: World,
    *,
    flows: Callable[[], Mapping[str, FlowEntry]] = lambda: FLOWS,
    sources: Mapping[str, Source] | None = None,
    schedules: Mapping[str, Schedule] | None = None,
    store: Store | None = None,
    queue: bool = True,
    deadline_s: float = 1.5,
) -> IvrHost:
    lookups = LookupRunner(
        sources or {},
        submit=world.jobs.append,
        post=world.loop.append,
        later=world.later,
        default_deadline_s=deadline_s,
        failure_types=(DataSourceError,),
    )
    host = IvrHost(
        routes={
            HOTLINE: NumberIvr("hotline"),
            OFFICE_LINE: NumberIvr(
                None,
                "office",
                ClosedAnnouncement((Tts("下班了", "zh"), Tts("We are closed", "en"))),
            ),
            CLOSED_VM: NumberIvr("hotline", "office", ClosedVoicemail("billing")),
        },
        flows=flows,
        new_session=world.new_session,
        renderer=world,
        lookups=lookups,
        post=world.loop.append,
        later=world.later,
        submit=world.jobs.append,
        node="ctl-1",
        schedules=schedules if schedules is not None else {"office": Schedule(True)},
        queue=world if queue else None,
        state=store,
        clock=lambda: world.now,
        now=lambda: datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    )
    host.bind(world.execute, host.tap(world))
    world.host = host
    return host


def arrive(world: World, cid: str = CID, dialled: str = HOTLINE, category: str = "billing") -> None:
    """The service's call.arrived, through the tap (no ACD driver: the host claims it)."""
    assert world.host is not None
    world.host.tap(world).publish(
        Event.new(
            CALL_ARRIVED,
            correlation_id=cid,
            trunk="",
            caller="13800138000",
            dialled=dialled,
            category=category,
        )
    )


def caller_hangs_up(world: World, cid: str = CID) -> None:
    assert world.host is not None
    world.host.tap(world).publish(
        Event.new(CALL_ENDED, correlation_id=cid, cause="200", side="caller")
    )


def started(world: World, script: dict[str, list[list[Action]]]) -> FakeSession:
    """A hotline call in its flow, with `script` as the session's answers."""
    world.scripts.append(script)
    arrive(world)
    world.run()
    return world.sessions[-1]


# ---------------------------------------------------------------- arrival


def test_a_call_to_a_number_with_a_flow_is_answered_and_starts_its_session() -> None:
    world = World()
    host = make(world)
    arrive(world)
    # The claim only decides: nothing is done inside the service's publish.
    assert world.commands == [] and CID in host.calls
    world.run()
    assert world.cmds("answer") == [{"cmd": "answer", "cid": CID}]
    (session,) = world.sessions
    assert session.facts == ArrivedCall(CID, "13800138000", HOTLINE, "billing")
    assert session.flow is FLOWS["hotline"].flow
    assert session.inputs == [("start",)]


def test_a_call_to_another_number_is_not_taken() -> None:
    world = World()
    host = make(world)
    assert host.claim(CID, {"dialled": "12345", "caller": "1", "category": ""}) is False
    assert host.claim(CID, {"dialled": OFFICE_LINE, "caller": "1", "category": ""}) is False
    world.run()
    assert world.commands == [] and not host.calls


def test_with_the_acd_driver_the_host_claims_only_what_the_driver_offers() -> None:
    world = World()
    host = make(world)
    host.claims_from_driver = True
    arrive(world)  # the driver's claim_arrivals callback is the one way in
    assert not host.calls
    assert host.claim(CID, {"dialled": HOTLINE, "caller": "1", "category": ""}) is True
    assert host.claim(CID, {"dialled": HOTLINE, "caller": "1", "category": ""}) is False


def test_a_flow_that_is_not_loaded_leaves_the_call_to_the_driver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    host = make(world, flows=dict)
    assert host.claim(CID, {"dialled": HOTLINE, "caller": "1", "category": ""}) is False
    assert "flow 'hotline' of number 95598 is not loaded" in caplog.text


def test_steps_are_published_and_counted_per_node() -> None:
    world = World()
    host = make(world)
    started(
        world,
        {"start": [[Step("welcome", ""), Step("menu", "")]], "digit": [[Step("balance", "1")]]},
    )
    host.on_digit(CID, "1", "rfc4733")
    assert world.of(CALL_IVR_STEP) == [
        {"ivr_node": "welcome", "input": ""},
        {"ivr_node": "menu", "input": ""},
        {"ivr_node": "balance", "input": "1"},
    ]
    nodes = host.describe()["nodes"]["hotline"]
    assert nodes["menu"] == {"visits": 1, "now": 0}
    assert nodes["balance"] == {"visits": 1, "now": 1}
    assert host.describe()["in_progress"] == 1


# ---------------------------------------------------------------- prompts


def test_a_prompt_is_rendered_off_the_loop_played_and_reported_when_its_time_is_up() -> None:
    world = World(durations={"欢迎致电": 3000})
    make(world)
    world.scripts.append({"start": [[GREETING]]})
    arrive(world)
    world.run_loop_only()  # answered, session started: the render waits for a worker
    assert world.cmds("play") == [] and len(world.jobs) == 1
    world.run()
    (play,) = world.cmds("play")
    assert play["file"].startswith("/cache/")
    session = world.sessions[0]
    world.advance(2.9)
    assert ("play_done",) not in session.inputs
    world.advance(0.2)
    assert session.inputs[-1] == ("play_done",)


def test_prompt_items_go_to_the_renderer_together() -> None:
    world = World()
    make(world)
    items = (Tts("您的余额是", "zh"), Wav("/srv/prompts/yuan.wav"))
    started(world, {"start": [[Play(items)]]})
    assert world.rendered == [items]


def test_a_stopped_prompt_is_stopped_in_rtpengine_and_never_reported() -> None:
    world = World()
    host = make(world)
    session = started(world, {"start": [[GREETING]], "digit": [[StopPlay(), Step("menu", "5")]]})
    assert len(world.cmds("play")) == 1
    host.on_digit(CID, "5", "inband")
    assert world.cmds("stop_media") == [{"cmd": "stop_media", "cid": CID}]
    world.advance(10)
    assert ("play_done",) not in session.inputs


def test_a_prompt_stopped_while_it_renders_is_never_played() -> None:
    world = World()
    host = make(world)
    world.scripts.append({"start": [[GREETING]], "digit": [[StopPlay()]]})
    arrive(world)
    world.run_loop_only()
    host.on_digit(CID, "1", "info")
    world.run()  # the render comes back after the stop
    assert world.cmds("play") == [] and world.cmds("stop_media") == []
    world.advance(10)
    assert ("play_done",) not in world.sessions[0].inputs


def test_a_new_prompt_replaces_the_one_playing() -> None:
    world = World(durations={"first": 5000, "second": 1000})
    make(world)
    session = started(
        world,
        {"start": [[Play((Tts("first", "en"),)), Play((Tts("second", "en"),))]]},
    )
    assert len(world.cmds("play")) == 1  # the first never reached rtpengine
    world.advance(1.1)
    assert session.inputs.count(("play_done",)) == 1
    world.advance(10)
    assert session.inputs.count(("play_done",)) == 1


def test_a_prompt_that_cannot_be_rendered_counts_as_played(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(fail_render=True)
    make(world)
    session = started(world, {"start": [[GREETING]]})
    assert world.cmds("play") == []
    assert session.inputs[-1] == ("play_done",)
    assert "cannot render a prompt (espeak-ng: not found)" in caplog.text


def test_a_prompt_rtpengine_refuses_counts_as_played() -> None:
    world = World(refuse={"play": "rtpengine 'play media': failed"})
    make(world)
    session = started(world, {"start": [[GREETING]]})
    assert session.inputs[-1] == ("play_done",)


# ---------------------------------------------------------------- digits and timers


def test_digits_go_to_the_session_and_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.ivr")
    world = World()
    host = make(world)
    session = started(world, {"start": [[Step("collect", "")]]})
    for digit in "47*#":  # none of them in the call's number or ID
        host.on_digit(CID, digit, "rfc4733")
    assert session.inputs[1:] == [("digit", d) for d in "47*#"]
    host.on_digit(OTHER, "7", "info")  # not an IVR call: ignored
    assert host.describe()["digits"] == {"rfc4733": 4}
    assert host.describe()["ignored_digits"] == 1
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert messages and not any(d in messages for d in "47*#")


def test_digits_after_the_ivr_let_go_are_ignored() -> None:
    world = World()
    host = make(world)
    session = started(world, {"start": [[GREETING, Hangup("self_served")]]})
    host.on_digit(CID, "1", "rfc4733")
    assert ("digit", "1") not in session.inputs


def test_timers_fire_once_and_can_be_restarted_or_cancelled() -> None:
    world = World()
    host = make(world)
    session = started(
        world,
        {
            "start": [[StartTimer("input", 5000), StartTimer("max_time", 60_000)]],
            "digit": [[StartTimer("input", 5000)], [CancelTimer("input")]],
        },
    )
    world.advance(4)
    host.on_digit(CID, "1", "rfc4733")  # restarts "input" at t+4
    world.advance(4)
    assert ("timer_fired", "input") not in session.inputs
    world.advance(1.5)
    assert session.inputs.count(("timer_fired", "input")) == 1
    world.scripts.clear()
    session.replies["timer_fired"] = []
    session.replies["digit"] = [[StartTimer("input", 5000)], [CancelTimer("input")]]
    host.on_digit(CID, "2", "rfc4733")
    host.on_digit(CID, "3", "rfc4733")
    world.advance(10)
    assert session.inputs.count(("timer_fired", "input")) == 1
    world.advance(60)
    assert ("timer_fired", "max_time") in session.inputs


# ---------------------------------------------------------------- lookups


ACCOUNT = {"account": "1000234567", "balance": "123.45"}


def test_a_lookup_runs_on_a_worker_and_its_record_goes_to_the_session() -> None:
    world = World()
    source = Source({"1000234567": ACCOUNT})
    make(world, sources={"accounts": source})
    world.scripts.append({"start": [[Lookup("accounts", "1000234567", 7)]]})
    arrive(world)
    world.run_loop_only()
    assert source.asked == []  # not on the loop
    world.run()
    assert source.asked == ["1000234567"]
    assert world.sessions[0].inputs[-1] == ("lookup_done", 7, ACCOUNT, None)


def test_a_lookup_that_finds_nothing_answers_none() -> None:
    world = World()
    make(world, sources={"accounts": Source()})
    session = started(world, {"start": [[Lookup("accounts", "1", 1)]]})
    assert session.inputs[-1] == ("lookup_done", 1, None, None)


def test_an_unknown_source_or_a_failing_one_answers_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World()
    make(world, sources={"accounts": Source(fail=True)})
    session = started(
        world,
        {
            "start": [
                [Lookup("nosuch", "1", 1), Lookup("accounts", "1000234567", 2, sensitive=True)]
            ]
        },
    )
    answers = {entry[1]: entry[3] for entry in session.inputs if entry[0] == "lookup_done"}
    assert answers == {1: "unknown data source nosuch", 2: "lookup failed"}
    assert "1000234567" not in caplog.text  # a sensitive key, even inside the failure's text
    assert "DataSourceError" in caplog.text


def test_a_slow_lookup_times_out_and_its_late_answer_is_dropped() -> None:
    world = World()
    make(world, sources={"accounts": Source({"1": ACCOUNT})}, deadline_s=1.5)
    world.scripts.append({"start": [[Lookup("accounts", "1", 3)]]})
    arrive(world)
    world.run_loop_only()
    late = world.jobs.pop()  # the source hangs
    world.advance(1.6)
    session = world.sessions[0]
    assert session.inputs[-1] == ("lookup_done", 3, None, "timeout")
    late()
    world.run()
    assert [e for e in session.inputs if e[0] == "lookup_done"] == [
        ("lookup_done", 3, None, "timeout")
    ]
    assert world.host is not None and world.host.describe()["lookups"]["timeouts"] == 1


# ---------------------------------------------------------------- terminal actions


def test_enqueue_hands_the_call_to_the_acd_driver_with_the_callers_choices() -> None:
    world = World()
    host = make(world)
    started(
        world,
        {
            "start": [
                [
                    SetCallData({"language": "en", "category": "outage"}),
                    Step("agent", "0"),
                    Enqueue("billing", priority=5, skills={"english": 2}, language="en"),
                ]
            ]
        },
    )
    assert world.enqueued == [
        (
            CID,
            {
                "queue": "billing",
                "caller": "13800138000",
                "category": "outage",
                "priority": 5,
                "skills": {"english": 2},
                "language": "en",
                "call_data": {"ivr_path": "agent"},
            },
        )
    ]
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "agent", "result": "queued"}]
    assert CID not in host.calls  # the driver has it now
    caller_hangs_up(world)  # in the queue: not the IVR's any more
    assert len(world.of(CALL_IVR_DONE)) == 1


def test_a_terminal_action_waits_for_the_prompt_that_plays() -> None:
    world = World(durations={"请稍候": 2500})
    make(world)
    started(world, {"start": [[Play((Tts("请稍候", "zh"),)), Enqueue("billing")]]})
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "", "result": "queued"}]
    assert world.enqueued == []
    world.advance(2.6)
    assert [cid for cid, _ in world.enqueued] == [CID]


def test_enqueue_without_an_acd_hangs_up(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    make(world, queue=False)
    started(world, {"start": [[Enqueue("billing")]]})
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]
    assert "there is no ACD" in caplog.text


def test_a_hand_over_the_driver_refuses_hangs_up(caplog: pytest.LogCaptureFixture) -> None:
    world = World(refuse={"enqueue": "no queue given"})
    make(world)
    started(world, {"start": [[Enqueue("billing")]]})
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]
    assert "the ACD driver refused the call: no queue given" in caplog.text


def test_transfer_rings_the_number_and_hangs_up_when_nobody_answers() -> None:
    world = World()
    host = make(world)
    started(world, {"start": [[Step("xfer", "9"), Transfer("+8610123456")]]})
    assert world.of(CALL_TRANSFERRED) == [
        {"from_agent": "", "to_kind": "external", "to": "+8610123456", "mode": "blind"}
    ]
    assert world.cmds("connect") == [{"cmd": "connect", "cid": CID, "agents": ["+8610123456"]}]
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "xfer", "result": "transferred"}]
    assert host.describe()["transfers_ringing"] == 1
    host.tap(world).publish(
        Event.new(CALL_NO_ANSWER, correlation_id=CID, agent="+8610123456", leg_id="L2")
    )
    assert world.cmds("hangup") == []  # not from inside the publish
    world.run()
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]
    assert len(world.of(CALL_IVR_DONE)) == 1


def test_a_transfer_that_cannot_ring_hangs_up() -> None:
    world = World(connect_state="parked")  # no edge: nobody to ring
    make(world)
    started(world, {"start": [[Transfer("+8610123456")]]})
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]


def test_voicemail_plays_the_greeting_in_the_calls_language_then_hangs_up() -> None:
    world = World(durations={VOICEMAIL_GREETING["en"]: 4000})
    make(world)
    started(world, {"start": [[Step("vm", "3"), Voicemail("billing", language="en")]]})
    assert world.kinds()[-2:] == [CALL_IVR_DONE, CALL_VOICEMAIL]
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "vm", "result": "voicemail"}]
    assert world.rendered[-1] == (Tts(VOICEMAIL_GREETING["en"], "en"),)
    assert world.cmds("hangup") == []
    world.advance(4.1)
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]


@pytest.mark.parametrize(
    ("reason", "result"),
    [
        ("self_served", "self_served"),
        ("max_time", "max_time"),
        ("retries_exhausted", "retries_exhausted"),
    ],
)
def test_hangup_ends_the_call_with_its_result(reason: str, result: str) -> None:
    world = World()
    make(world)
    started(world, {"start": [[Step("bye", ""), Hangup(reason)]]})
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "bye", "result": result}]
    assert world.kinds()[-2:] == [CALL_IVR_DONE, CALL_ENDED]


def test_the_sessions_own_result_wins() -> None:
    world = World()
    make(world)
    session = started(world, {})
    session.result = "max_time"
    session.replies["digit"] = [[Hangup("self_served")]]
    assert world.host is not None
    world.host.on_digit(CID, "1", "rfc4733")
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "", "result": "max_time"}]


# ---------------------------------------------------------------- leaving early


def test_a_caller_who_hangs_up_mid_ivr_ends_it_once_and_everything_stops() -> None:
    world = World()
    store = Store()
    host = make(world, sources={"accounts": Source({"1": ACCOUNT})}, store=store)
    world.scripts.append(
        {
            "start": [
                [
                    Step("balance", ""),
                    GREETING,
                    StartTimer("input", 5000),
                    Lookup("accounts", "1", 1),
                ]
            ]
        }
    )
    arrive(world)
    world.run_loop_only()
    jobs = list(world.jobs)  # the render and the lookup, not run yet
    world.jobs.clear()
    assert store.saved[CID]["session"] == {"node": "balance", "inputs": 1}
    caller_hangs_up(world)
    session = world.sessions[0]
    assert session.inputs[-1] == ("caller_left",)
    assert world.kinds() == [CALL_ARRIVED, CALL_IVR_STEP, CALL_IVR_DONE, CALL_ENDED]
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "balance", "result": "caller_left"}]
    for job in jobs:
        job()
    world.run()
    world.advance(60)
    assert session.inputs[-1] == ("caller_left",)  # no prompt end, timer or lookup after
    assert world.cmds("play") == []
    assert store.deleted == [CID] and not store.saved
    assert not host.calls
    assert host.describe()["results"] == {"caller_left": 1}


def test_a_caller_who_hangs_up_before_the_answer_leaves_with_no_node() -> None:
    world = World()
    host = make(world)
    arrive(world)
    caller_hangs_up(world)
    world.run()
    assert world.cmds("answer") == [] and world.sessions == []
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "", "result": "caller_left"}]
    assert not host.calls


def test_a_call_ended_by_the_system_mid_ivr_is_an_error() -> None:
    world = World()
    make(world)
    session = started(world, {"start": [[Step("menu", "")]]})
    assert world.host is not None
    world.host.tap(world).publish(
        Event.new(CALL_ENDED, correlation_id=CID, cause="media failure", side="system")
    )
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "menu", "result": "error"}]
    assert ("caller_left",) not in session.inputs


def test_a_call_that_cannot_be_answered_is_an_error() -> None:
    world = World(refuse={"answer": "late offer"})
    make(world)
    arrive(world)
    world.run()
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "", "result": "error"}]
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]


def test_an_interpreter_failure_ends_the_call_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    host = make(world)
    session = started(world, {"start": [[Step("menu", "")]]})
    session.fail_on = "digit"
    host.on_digit(CID, "1", "rfc4733")
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "menu", "result": "error"}]
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]
    assert "the IVR session failed at node menu" in caplog.text


def test_ivr_done_is_written_once_whatever_follows() -> None:
    world = World()
    make(world)
    started(world, {"start": [[GREETING, Hangup("self_served")]]})
    caller_hangs_up(world)  # during the goodbye
    world.advance(10)
    assert len(world.of(CALL_IVR_DONE)) == 1
    assert world.cmds("hangup") == []  # the caller was first


# ---------------------------------------------------------------- open hours


def test_out_of_hours_the_number_announces_it_is_closed_and_hangs_up() -> None:
    world = World(durations={"下班了": 3000})
    office = Schedule(open=False)
    host = make(world, schedules={"office": office})
    arrive(world, dialled=OFFICE_LINE)
    world.run()
    assert world.cmds("answer") == [{"cmd": "answer", "cid": CID}]
    assert world.sessions == []  # the flow is not entered
    assert world.rendered == [(Tts("下班了", "zh"), Tts("We are closed", "en"))]
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "", "result": "closed"}]
    world.advance(3.1)
    assert world.cmds("hangup") == [{"cmd": "hangup", "cid": CID}]
    office.open = True  # in hours the number's queue takes its calls
    assert host.claim(OTHER, {"dialled": OFFICE_LINE}) is False


def test_out_of_hours_a_number_may_send_callers_to_voicemail() -> None:
    world = World()
    make(world, schedules={"office": Schedule(open=False)})
    arrive(world, dialled=CLOSED_VM)
    world.run()
    assert world.sessions == []
    assert world.of(CALL_IVR_DONE) == [{"ivr_node": "", "result": "closed"}]
    assert world.of(CALL_VOICEMAIL) == [{}]
    assert world.rendered == [(Tts(VOICEMAIL_GREETING["zh"], "zh"),)]


def test_in_hours_a_number_with_hours_runs_its_flow() -> None:
    world = World()
    make(world, schedules={"office": Schedule(open=True)})
    arrive(world, dialled=CLOSED_VM)
    world.run()
    assert len(world.sessions) == 1


# ---------------------------------------------------------------- state and reload


def test_the_snapshot_is_saved_after_every_batch_and_deleted_at_the_end() -> None:
    world = World()
    store = Store()
    host = make(world, store=store)
    started(
        world,
        {"start": [[Step("menu", "")]], "digit": [[Step("balance", "1")], [Hangup("self_served")]]},
    )
    document = store.saved[CID]
    assert document["flow"] == "hotline" and document["version"] == "v1"
    assert document["replica"] == "ctl-1" and document["dialled"] == HOTLINE
    host.on_digit(CID, "1", "rfc4733")
    assert store.saves == 2 and store.saved[CID]["session"]["node"] == "balance"
    host.on_digit(CID, "2", "rfc4733")
    assert store.saves == 2 and store.deleted == [CID] and not store.saved


def test_a_call_keeps_the_flow_it_started_with() -> None:
    world = World()
    flows = dict(FLOWS)
    make(world, flows=lambda: flows)
    started(world, {})
    flows["hotline"] = FlowEntry("hotline", object(), "v2", "/flows/hotline.yaml")
    arrive(world, cid=OTHER)
    world.run()
    first, second = world.sessions
    assert first.flow is FLOWS["hotline"].flow
    assert second.flow is flows["hotline"].flow
    assert world.host is not None
    versions = {c["cid"]: c["version"] for c in world.host.describe()["calls"]}
    assert versions == {CID: "v1", OTHER: "v2"}


def test_the_agent_gets_the_ivr_path_and_the_account_entered() -> None:
    world = World()
    host = make(world)
    session = started(world, {"start": [[Step("main", ""), Step("ask_account", "1")]]})
    session.entered_account = "12345674"
    session.replies["digit"] = [[Step("agent", "0"), Enqueue("billing")]]
    host.on_digit(CID, "0", "rfc4733")
    world.run()
    ((cid, kwargs),) = world.enqueued
    assert cid == CID
    assert kwargs["call_data"] == {"ivr_path": "main>ask_account>agent", "account": "12345674"}


def test_a_path_longer_than_the_acd_takes_keeps_its_latest_nodes() -> None:
    session = FakeSession(flow=None, facts=None)  # type: ignore[arg-type]
    session.path_ = [f"node{i:03d}" for i in range(100)]
    data = agent_call_data(session)
    assert len(data["ivr_path"]) <= MAX_CALL_DATA_VALUE
    assert data["ivr_path"].startswith("…>node") and data["ivr_path"].endswith(">node099")
    assert "account" not in data
    assert agent_call_data(None) == {}


# ---------------------------------------------------------------- sensitive nodes and recording


@dataclass
class FakeRecorder:
    """The call's recording as the host sees it: every pause and resume, in order."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    recording: bool = True

    def pause(self, call: str, reason: str, *, tell_acd: bool = True) -> bool:
        self.calls.append(("pause", call, reason))
        return self.recording

    def resume(self, call: str, *, tell_acd: bool = True) -> bool:
        self.calls.append(("resume", call))
        return True


SENSITIVE_FLOWS = {
    "hotline": FlowEntry(
        "hotline",
        SimpleNamespace(nodes={"menu": SimpleNamespace(), "card": SimpleNamespace(sensitive=True)}),
        "v1",
        "/flows/hotline.yaml",
    ),
}


def test_a_sensitive_node_pauses_the_recording_while_the_caller_is_in_it() -> None:
    world = World()
    host = make(world, flows=lambda: SENSITIVE_FLOWS)
    recorder = FakeRecorder()
    host.recorder = recorder
    started(
        world,
        {
            "start": [[Step("menu", "")]],
            "digit": [[Step("card", "2")], [Step("menu", "<sensitive>")]],
        },
    )
    assert recorder.calls == []
    host.on_digit(CID, "2", "rfc4733")
    assert recorder.calls == [("pause", CID, "sensitive")]
    host.on_digit(CID, "9", "rfc4733")
    assert recorder.calls == [("pause", CID, "sensitive"), ("resume", CID)]


def test_the_ivr_letting_go_inside_a_sensitive_node_resumes_a_hang_up_does_not() -> None:
    world = World()
    host = make(world, flows=lambda: SENSITIVE_FLOWS)
    recorder = FakeRecorder()
    host.recorder = recorder
    started(world, {"start": [[Step("card", "")]], "digit": [[Enqueue("billing")]]})
    host.on_digit(CID, "1", "rfc4733")
    world.run()
    assert recorder.calls == [("pause", CID, "sensitive"), ("resume", CID)]

    world = World()
    host = make(world, flows=lambda: SENSITIVE_FLOWS)
    recorder = FakeRecorder()
    host.recorder = recorder
    started(world, {"start": [[Step("card", "")]]})
    caller_hangs_up(world)
    assert recorder.calls == [("pause", CID, "sensitive")]


def test_a_call_not_recorded_is_not_resumed_either() -> None:
    world = World()
    host = make(world, flows=lambda: SENSITIVE_FLOWS)
    host.recorder = recorder = FakeRecorder(recording=False)
    started(world, {"start": [[Step("card", "")]], "digit": [[Step("menu", "")]]})
    host.on_digit(CID, "1", "rfc4733")
    assert recorder.calls == [("pause", CID, "sensitive")]
