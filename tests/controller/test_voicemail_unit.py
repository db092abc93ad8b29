"""The voicemail host's decisions against fakes (controller/_voicemail.py): the greeting
chosen, a full box, `#` and the time limit, a hang-up while recording, the escape key
and the queue overflow's way in. The real call is tests/controller/ivr/test_voicemail.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller._acd_calls import DrivenCall
from controller._ivr_ports import RenderedPrompt
from controller._voicemail import (
    DEFAULT_GREETING,
    GOODBYE,
    MAILBOX_FULL,
    Mailbox,
    VoicemailHost,
    VoicemailRecording,
    VoicemailSettings,
    greeting_items,
)
from eventlog import CALL_ENDED, CALL_VOICEMAIL, Event
from ivr import PromptItem, Tts, Wav

SALES = Mailbox("sales", "zh", greeting_zh="销售部，请留言。", max_messages=2, max_message_s=30)


@dataclass
class Timer:
    delay: float
    fn: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeRecording:
    started: list[tuple[str, str]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, cid: str, *, name: str) -> str | None:
        self.started.append((cid, name))
        return "ref1"

    def stop(self, cid: str) -> None:
        self.stopped.append(cid)


@dataclass
class Renderer:
    rendered: list[tuple[PromptItem, ...]] = field(default_factory=list)

    def render(self, items: Sequence[PromptItem]) -> RenderedPrompt:
        self.rendered.append(tuple(items))
        return RenderedPrompt(Path("/cache/x.wav"), 1000)


@dataclass
class QueueExit:
    waiting: dict[str, str] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)

    def waiting_queue(self, cid: str) -> str | None:
        return self.waiting.get(cid)

    def leave_queue(self, cid: str) -> DrivenCall | None:
        queue = self.waiting.pop(cid, None)
        if queue is None:
            return None
        self.left.append(cid)
        return DrivenCall(cid, queue, "13900000000", "", deadline=0.0, language="en")


class World:
    def __init__(self, count: int | None = 0) -> None:
        self.timers: list[Timer] = []
        self.commands: list[dict[str, Any]] = []
        self.events: list[Event] = []
        self.recording = FakeRecording()
        self.renderer = Renderer()
        settings = VoicemailSettings(
            {"sales": SALES}, frozenset({"1001"}), {"sales-q": "sales"}, "9"
        )
        self.host = VoicemailHost(
            settings,
            renderer=self.renderer,
            recording=self.recording,
            count=None if count is None else (lambda box: count),
            post=lambda fn: fn(),
            later=self.later,
            submit=lambda job: job(),
            beep=lambda: Path("/cache/beep.wav"),
            clock=lambda: 100.0,
        )
        self.host.bind(self.execute, self)

    def later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(delay, fn)
        self.timers.append(timer)
        return timer

    def fire(self) -> Timer:
        timer = next(t for t in self.timers if not t.cancelled)
        timer.cancelled = True
        timer.fn()
        return timer

    def execute(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self.commands.append(dict(request))
        return {"ok": True, "result": {}}

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def cmds(self) -> list[str]:
        return [c["cmd"] for c in self.commands]


def test_greetings_the_boxs_wav_its_text_in_the_callers_language_or_the_default() -> None:
    assert greeting_items(Mailbox("a", greeting_file="/g.wav"), "en") == ((Wav("/g.wav"),), "zh")
    both = Mailbox("b", "zh", greeting_zh="请留言", greeting_en="Leave a message")
    assert greeting_items(both, "en") == ((Tts("Leave a message", "en"),), "en")
    assert greeting_items(Mailbox("c", "en", greeting_zh="请留言"), "en")[1] == "zh"
    assert greeting_items(Mailbox("d", "en"), None) == ((Tts(DEFAULT_GREETING["en"], "en"),), "en")


def test_greeting_beep_record_then_hash_stops_says_goodbye_and_hangs_up() -> None:
    w = World(count=1)
    assert w.host.take("c1", "sales")
    assert [e.kind for e in w.events] == [CALL_VOICEMAIL]
    assert w.renderer.rendered[0] == (Tts(SALES.greeting_zh or "", "zh"), Wav("/cache/beep.wav"))
    assert w.cmds() == ["play"]
    w.host.on_digit("c1", "#", "rfc4733")  # during the greeting: not yet recording
    assert w.recording.started == []
    w.fire()  # the greeting and beep have played
    assert w.recording.started == [("c1", "sales")]
    limit = w.timers[-1]
    assert limit.delay == 30
    w.host.on_digit("c1", "#", "rfc4733")
    assert limit.cancelled and w.recording.stopped == ["c1"]
    assert w.renderer.rendered[-1] == (Tts(GOODBYE["zh"], "zh"),)
    w.fire()  # goodbye played
    assert w.cmds() == ["play", "play", "hangup"]
    assert w.host.results == {"left": 1}


def test_max_message_s_ends_the_message_like_hash() -> None:
    w = World()
    w.host.take("c1", "sales")
    w.fire()
    w.fire()  # max_message_s
    assert w.recording.stopped == ["c1"]
    assert w.renderer.rendered[-1] == (Tts(GOODBYE["zh"], "zh"),)


def test_a_full_box_says_so_and_records_nothing() -> None:
    w = World(count=2)
    w.host.take("c1", "sales")
    assert w.renderer.rendered == [(Tts(MAILBOX_FULL["zh"], "zh"),)]
    w.fire()
    assert w.cmds() == ["play", "hangup"]
    assert w.recording.started == []
    assert w.host.results == {"full": 1}


def test_a_hang_up_while_recording_stops_the_recording_and_forgets_the_call() -> None:
    w = World()
    w.host.take("c1", "sales")
    w.fire()
    w.host.observe(Event.new(CALL_ENDED, correlation_id="c1", node="n", cause="bye", side="caller"))
    assert w.recording.stopped == ["c1"] and w.host.calls == {}
    assert w.timers[-1].cancelled


def test_unknown_boxes_are_refused_and_agent_boxes_exist_for_agents() -> None:
    w = World()
    assert not w.host.take("c1", "nosuch")
    assert not w.host.take("c2", "agent.2002")
    assert w.host.take("c3", "agent.1001")


@pytest.mark.parametrize(
    ("digit", "waits", "taken"), [("9", True, True), ("9", False, False), ("1", True, False)]
)
def test_the_escape_key_takes_a_waiting_caller_out_of_its_queue(
    digit: str, waits: bool, taken: bool
) -> None:
    w = World()
    exit_ = QueueExit({"c1": "sales-q"} if waits else {})
    w.host.queue_exit = exit_
    w.host.on_digit("c1", digit, "info")
    assert (exit_.left == ["c1"]) is taken
    assert ("c1" in w.host.calls) is taken
    if taken:
        assert w.host.calls["c1"].queue == "sales-q"
        # The caller's language (en) has no greeting in this box: its Mandarin one.
        assert w.host.calls["c1"].language == "zh"


def test_the_queues_overflow_goes_to_its_box_or_is_refused() -> None:
    w = World()
    call = DrivenCall("c1", "sales-q", "139", "", deadline=0.0)
    assert w.host.to_voicemail(call)
    assert not w.host.to_voicemail(DrivenCall("c2", "other", "139", "", deadline=0.0))


def test_a_running_recording_stops_before_the_message_starts() -> None:
    @dataclass
    class Recorder:
        refs: dict[str, str] = field(default_factory=lambda: {"c1": "always"})
        calls: list[tuple[str, str]] = field(default_factory=list)

        def ref(self, call: str) -> str | None:
            return self.refs.get(call)

        def start(
            self,
            call: str,
            *,
            reason: str,
            name: str,
            ref: str | None = None,
            tell_acd: bool = True,
        ) -> str | None:
            self.calls.append(("start", f"{reason}:{name}:{tell_acd}"))
            return "vm"

        def stop(self, call: str, *, tell_acd: bool = True) -> bool:
            self.calls.append(("stop", str(tell_acd)))
            self.refs.pop(call, None)
            return True

    recorder = Recorder()
    assert VoicemailRecording(recorder).start("c1", name="sales") == "vm"
    assert recorder.calls == [("stop", "False"), ("start", "voicemail:sales:False")]


def test_a_caller_from_a_queue_keeps_its_queue_for_the_recording() -> None:
    w = World()
    w.host.to_voicemail(DrivenCall("c1", "sales-q", "139", "", deadline=0.0))
    assert w.host.queue_of("c1") == "sales-q"
    assert w.host.queue_of("c2") == ""
