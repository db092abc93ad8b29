"""Voicemail: the controller takes a caller's message for a mailbox (docs/recording.md,
"Voicemail"; docs/call-control.md, "Voicemail").

Ways in, each handing an answered, parked caller to `VoicemailHost.take`:
- the IVR's `voicemail` node and a number's `closed: {voicemail: BOX}` (the IVR host);
- a queue's `overflow_target: voicemail` (the ACD driver's `Route`), into the queue's
  `voicemail_box`;
- a waiting caller who presses `voicemail.escape_key` in a queue with a `voicemail_box`:
  the driver abandons the ACD call (`AcdDriver.leave_queue`) and the caller comes here.

The call: `call.voicemail`; the box's message count (the business store, on a worker);
a full box says so and hangs up. Otherwise the greeting and a 0.3 s 1 kHz beep, then
rtpengine records the call (`recording.started` reason `voicemail`, name = the box)
until the caller hangs up, presses `#`, or `max_message_s` passes (then a short goodbye
and hang-up); `recording.stopped` follows. The recorder service turns the caller's
packets into the stored message and writes `voicemail.left`.

Threads: everything runs on the SIP loop, except the jobs it submits (the count, the
rendering), which hand their results back with `post`. Like the IVR host it owns no
controller state: it acts through the controller's commands and rtpengine, and sees
the call through its events (`VoicemailTap`). Digit values are never logged.
"""

from __future__ import annotations

import enum
import logging
import math
import time
import uuid
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import prompts
from controller._ivr_ports import PromptRenderer, RenderedPrompt, Submit
from controller._ports import Cancellable, EventPublisher, Execute, Later, Post
from eventlog import CALL_ENDED, CALL_VOICEMAIL, Event
from ivr import PromptItem, Tts, Wav

if TYPE_CHECKING:
    from controller._acd_calls import DrivenCall

__all__ = [
    "BEEP_HZ",
    "BEEP_S",
    "FINISH_KEY",
    "Mailbox",
    "QueueExit",
    "VoicemailHost",
    "VoicemailRecording",
    "VoicemailSettings",
    "VoicemailTap",
    "beep_wav",
    "greeting_items",
]

log = logging.getLogger("controller.voicemail")

FINISH_KEY = "#"  # ends the message
BEEP_HZ = 1000
BEEP_S = 0.3
_BEEP_LEVEL = 0.3  # of full scale: audible, never clipped by a codec

# What the controller says itself, in the box's language.
DEFAULT_GREETING = {
    "zh": "您好，请在提示音后留言，按井号键结束。",
    "en": "Please leave a message after the tone. Press the pound key when you are done.",
}
MAILBOX_FULL = {
    "zh": "对不起，该留言信箱已满，无法留言。再见。",
    "en": "Sorry, this mailbox is full and cannot take a message. Goodbye.",
}
GOODBYE = {
    "zh": "您的留言已收到，谢谢。再见。",
    "en": "Thank you, your message has been recorded. Goodbye.",
}


@dataclass(frozen=True)
class Mailbox:
    """One mailbox as the controller uses it (configuration.MailboxSpec, resolved)."""

    name: str
    language: str = "zh"
    greeting_zh: str | None = None
    greeting_en: str | None = None
    greeting_file: str | None = None  # absolute (load_config resolves it)
    max_messages: int = 100
    max_message_s: float = 120.0


def greeting_items(box: Mailbox, language: str | None) -> tuple[tuple[PromptItem, ...], str]:
    """The greeting to play and the language the call goes on in: the box's WAV; else
    its text in the caller's language, else in the box's, else the other one; else
    the default greeting in the box's language."""
    if box.greeting_file:
        return (Wav(box.greeting_file),), box.language
    texts = {"zh": box.greeting_zh, "en": box.greeting_en}
    for lang in (language or box.language, box.language, "zh", "en"):
        text = texts.get(lang)
        if text:
            return (Tts(text, lang),), lang
    lang = box.language if box.language in DEFAULT_GREETING else "zh"
    return (Tts(DEFAULT_GREETING[lang], lang),), lang


def beep_wav(cache_dir: Path) -> Path:
    """The beep before the recording: 0.3 s of 1 kHz in the prompts' format (8 kHz mono
    16-bit), written once into the cache (atomically: rtpengine may read it)."""
    path = cache_dir / f"voicemail-beep-{BEEP_HZ}hz-{int(BEEP_S * 1000)}ms.wav"
    if path.exists():
        return path
    rate = prompts.SAMPLE_RATE
    frames = bytearray()
    amplitude = int(_BEEP_LEVEL * 32767)
    for n in range(round(BEEP_S * rate)):
        sample = int(amplitude * math.sin(2 * math.pi * BEEP_HZ * n / rate))
        frames += sample.to_bytes(2, "little", signed=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(prompts.CHANNELS)
        out.setsampwidth(prompts.SAMPLE_WIDTH)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class VoicemailSettings:
    """The mailboxes (configured ones, and `agent.<username>` of every agent account),
    the queues' boxes, and the escape key of a waiting caller ("" : none)."""

    boxes: Mapping[str, Mailbox] = field(default_factory=dict)
    agents: frozenset[str] = frozenset()
    queue_boxes: Mapping[str, str] = field(default_factory=dict)
    escape_key: str = "9"

    def box(self, name: str) -> Mailbox | None:
        box = self.boxes.get(name)
        if box is None and name.startswith("agent.") and name[len("agent.") :] in self.agents:
            box = Mailbox(name)
        return box


class QueueExit(Protocol):
    """The ACD driver's side of the escape key (`AcdDriver`)."""

    def waiting_queue(self, cid: str) -> str | None: ...
    def leave_queue(self, cid: str) -> DrivenCall | None: ...


class Recording(Protocol):
    """Starts and stops the recording of a voicemail message and writes its events."""

    def start(self, cid: str, *, name: str) -> str | None: ...
    def stop(self, cid: str) -> None: ...


class CallRecording(Protocol):
    """What the voicemail uses of the controller's `CallRecorder` (`_recording.py`)."""

    def ref(self, call: str) -> str | None: ...
    def start(
        self, call: str, *, reason: str, name: str, ref: str | None = None, tell_acd: bool = True
    ) -> str | None: ...
    def stop(self, call: str, *, tell_acd: bool = True) -> bool: ...


class VoicemailRecording:
    """`Recording` on the controller's `CallRecorder`: reason `voicemail`, name = the
    box, agent "". A recording already running on the call (always-on, on demand)
    stops first: the message is a recording of its own. The ACD is not told (the call
    left it, or never was there). A hang-up stops it before rtpengine's `delete`
    (`CallRecorder.call_ending`)."""

    def __init__(self, recorder: CallRecording) -> None:
        self._recorder = recorder

    def start(self, cid: str, *, name: str) -> str | None:
        if self._recorder.ref(cid) is not None:
            self._recorder.stop(cid, tell_acd=False)
        try:
            return self._recorder.start(cid, reason="voicemail", name=name, tell_acd=False)
        except ValueError as exc:  # the call has no answered caller (it is ending)
            log.warning("cid=%s voicemail %s not recorded: %s", cid, name, exc)
            return None

    def stop(self, cid: str) -> None:
        self._recorder.stop(cid, tell_acd=False)


class Phase(enum.Enum):
    COUNTING = "counting"  # asking the store whether the box is full
    GREETING = "greeting"  # greeting and beep
    RECORDING = "recording"
    LEAVING = "leaving"  # a last prompt (full box, goodbye), then hang-up


@dataclass(eq=False)
class VoicemailCall:
    cid: str
    box: Mailbox
    queue: str  # the queue the caller left for the box ("" : none)
    language: str
    phase: Phase = Phase.COUNTING
    ref: str | None = None
    timer: Cancellable | None = None  # the prompt's end, or max_message_s


# The number of messages (new + heard) in a box; runs on a worker; raises on failure.
CountMessages = Callable[[str], int]


class VoicemailHost:
    """This replica's voicemail calls. Loop-owned, except the jobs it submits."""

    def __init__(
        self,
        settings: VoicemailSettings,
        *,
        renderer: PromptRenderer,
        recording: Recording | None = None,
        count: CountMessages | None,
        post: Post,
        later: Later,
        submit: Submit,
        beep: Callable[[], Path],
        node: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`count` None: no store, boxes are never full. `beep()` gives the beep's WAV
        (runs on a worker)."""
        self.settings = settings
        self._renderer = renderer
        self._recording: Recording | None = recording  # set by `bind` when not given
        self._count = count
        self._post = post
        self._later = later
        self._submit = submit
        self._beep = beep
        self.node = node
        self._clock = clock
        self._execute: Execute | None = None
        self._events: EventPublisher | None = None
        self.queue_exit: QueueExit | None = None
        self._calls: dict[str, VoicemailCall] = {}
        self.results: dict[str, int] = {}

    # ------------------------------------------------------------ life

    def bind(
        self, execute: Execute, events: EventPublisher, recording: Recording | None = None
    ) -> None:
        """The controller's commands, its events and (when not given at construction)
        the recording of messages."""
        self._execute = execute
        self._events = events
        if recording is not None:
            self._recording = recording

    def tap(self, inner: EventPublisher) -> VoicemailTap:
        return VoicemailTap(inner, self)

    @property
    def calls(self) -> Mapping[str, VoicemailCall]:
        return self._calls

    def describe(self) -> dict[str, Any]:
        return {
            "calls": [
                {"cid": c.cid, "box": c.box.name, "phase": c.phase.value}
                for c in self._calls.values()
            ],
            "results": dict(self.results),
        }

    # ------------------------------------------------------------ ways in (SIP loop)

    def take(
        self,
        cid: str,
        box_name: str,
        *,
        language: str | None = None,
        queue: str = "",
    ) -> bool:
        """Take an answered, parked caller into `box_name`. False (nothing done) for an
        unknown box (check-config refuses those) or a call already here."""
        box = self.settings.box(box_name)
        if box is None:
            log.error("cid=%s voicemail box %r is not configured", cid, box_name)
            return False
        if cid in self._calls:
            return False
        call = VoicemailCall(cid, box, queue, language or box.language)
        self._calls[cid] = call
        log.info("cid=%s voicemail box %s", cid, box.name)
        self._emit(cid, CALL_VOICEMAIL, {})
        if self._count is None:
            self._greet(call)
        else:
            self._submit(partial(self._count_job, call))
        return True

    def queue_of(self, cid: str) -> str:
        """The queue a caller in voicemail left for its box ("" : none, or not here)."""
        call = self._calls.get(cid)
        return "" if call is None else call.queue

    def queue_box(self, queue: str) -> str | None:
        return self.settings.queue_boxes.get(queue)

    def to_voicemail(self, call: DrivenCall) -> bool:
        """The ACD routed a waiting call to `voicemail` (its queue's overflow_target):
        into the queue's box. False: the queue has none (the driver hangs up)."""
        box = self.queue_box(call.queue)
        if box is None:
            return False
        return self.take(call.cid, box, language=call.language, queue=call.queue)

    def on_digit(self, cid: str, digit: str, method: str) -> None:
        """`#` ends a message; the escape key takes a waiting caller out of a queue with
        a box. Other digits, and digits of other calls, are not ours."""
        del method
        call = self._calls.get(cid)
        if call is not None:
            if digit == FINISH_KEY and call.phase is Phase.RECORDING:
                log.info("cid=%s voicemail: the caller ended the message", cid)
                self._finish(call, "key")
            return
        if not self.settings.escape_key or digit != self.settings.escape_key:
            return
        exit_ = self.queue_exit
        queue = None if exit_ is None else exit_.waiting_queue(cid)
        box = None if queue is None else self.queue_box(queue)
        if exit_ is None or queue is None or box is None:
            return
        driven = exit_.leave_queue(cid)
        if driven is None:
            return
        log.info("cid=%s the caller left queue %s for voicemail box %s", cid, queue, box)
        if not self.take(cid, box, language=driven.language, queue=queue):
            self._hangup_cid(cid)

    def observe(self, event: Event) -> None:
        cid = event.correlation_id
        if event.kind == CALL_ENDED:
            call = self._calls.pop(cid, None)
            if call is not None:
                self._cancel_timer(call)
                if call.ref is not None and self._recording is not None:
                    self._recording.stop(cid)  # stopped already, before rtpengine's delete
                    call.ref = None
                    self._result("left" if call.phase is Phase.RECORDING else "hung_up")
                elif call.phase is not Phase.LEAVING:
                    self._result("hung_up")

    # ------------------------------------------------------------ the call

    def _count_job(self, call: VoicemailCall) -> None:
        """Worker thread."""
        assert self._count is not None
        count: int | None
        try:
            count = self._count(call.box.name)
        except Exception as exc:
            # A store that cannot answer must not lose the message: take it.
            log.error(
                "cid=%s voicemail %s: cannot count messages: %s", call.cid, call.box.name, exc
            )
            count = None
        self._post(partial(self._counted, call, count))

    def _counted(self, call: VoicemailCall, count: int | None) -> None:
        if not self._live(call):
            return
        if count is not None and count >= call.box.max_messages:
            log.info("cid=%s voicemail box %s is full (%d)", call.cid, call.box.name, count)
            self._result("full")
            lang = call.box.language if call.box.language in MAILBOX_FULL else "zh"
            self._leave(call, (Tts(MAILBOX_FULL[lang], lang),))
            return
        self._greet(call)

    def _greet(self, call: VoicemailCall) -> None:
        call.phase = Phase.GREETING
        items, call.language = greeting_items(call.box, call.language)
        self._submit(partial(self._render_job, call, items, with_beep=True))

    def _render_job(
        self, call: VoicemailCall, items: tuple[PromptItem, ...], *, with_beep: bool
    ) -> None:
        """Worker thread: the prompt (and the beep after it) as one WAV."""
        rendered: RenderedPrompt | None = None
        try:
            if with_beep:
                items = (*items, Wav(str(self._beep())))
            rendered = self._renderer.render(items)
        except Exception as exc:
            log.error("cid=%s voicemail: cannot render a prompt: %s", call.cid, exc)
        self._post(partial(self._rendered, call, rendered))

    def _rendered(self, call: VoicemailCall, rendered: RenderedPrompt | None) -> None:
        if not self._live(call):
            return
        if rendered is not None:
            reply = self._run({"cmd": "play", "cid": call.cid, "file": str(rendered.path)})
            if reply.get("ok"):
                call.timer = self._later(
                    rendered.duration_ms / 1000, partial(self._prompt_ended, call)
                )
                return
            log.warning(
                "cid=%s voicemail: cannot play %s: %s", call.cid, rendered.path, reply.get("error")
            )
        self._prompt_ended(call)

    def _prompt_ended(self, call: VoicemailCall) -> None:
        call.timer = None
        if not self._live(call):
            return
        if call.phase is Phase.GREETING:
            self._record(call)
        elif call.phase is Phase.LEAVING:
            self._hangup(call)

    def _record(self, call: VoicemailCall) -> None:
        assert self._recording is not None, "bind() the recording first"
        call.phase = Phase.RECORDING
        call.ref = self._recording.start(call.cid, name=call.box.name)
        if call.ref is None:
            self._result("failed")
            self._leave(call, self._goodbye(call))
            return
        call.timer = self._later(call.box.max_message_s, partial(self._time_up, call))

    def _time_up(self, call: VoicemailCall) -> None:
        call.timer = None
        if self._live(call) and call.phase is Phase.RECORDING:
            log.info(
                "cid=%s voicemail: max_message_s (%gs) reached", call.cid, call.box.max_message_s
            )
            self._finish(call, "time")

    def _finish(self, call: VoicemailCall, why: str) -> None:
        """The message is over (`#` or the time limit): stop, say goodbye, hang up."""
        del why
        self._cancel_timer(call)
        if call.ref is not None and self._recording is not None:
            self._recording.stop(call.cid)
            call.ref = None
        self._result("left")
        self._leave(call, self._goodbye(call))

    @staticmethod
    def _goodbye(call: VoicemailCall) -> tuple[PromptItem, ...]:
        lang = call.language if call.language in GOODBYE else "zh"
        return (Tts(GOODBYE[lang], lang),)

    def _leave(self, call: VoicemailCall, items: tuple[PromptItem, ...]) -> None:
        call.phase = Phase.LEAVING
        self._submit(partial(self._render_job, call, items, with_beep=False))

    def _hangup(self, call: VoicemailCall) -> None:
        if self._live(call):
            self._hangup_cid(call.cid)

    # ------------------------------------------------------------ helpers

    def _live(self, call: VoicemailCall) -> bool:
        return self._calls.get(call.cid) is call

    def _cancel_timer(self, call: VoicemailCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None

    def _result(self, result: str) -> None:
        self.results[result] = self.results.get(result, 0) + 1

    def _hangup_cid(self, cid: str) -> None:
        reply = self._run({"cmd": "hangup", "cid": cid})
        if not reply.get("ok"):
            log.debug("cid=%s hangup: %s", cid, reply.get("error"))

    def _run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self._execute is not None, "bind() the controller's commands first"
        return self._execute(request)

    def _emit(self, cid: str, kind: str, data: dict[str, str]) -> None:
        assert self._events is not None, "bind() the controller's events first"
        try:
            self._events.publish(
                Event.new(kind, correlation_id=cid, node=self.node, ts=self._clock(), **data)
            )
        except Exception:  # a publishing fault must not stop the call
            log.exception("cid=%s could not publish %s", cid, kind)


class VoicemailTap:
    """Stands in for the service's `EventPublisher`: forwards every event, then lets the
    voicemail host see it. Never raises."""

    def __init__(self, inner: EventPublisher, host: VoicemailHost) -> None:
        self._inner = inner
        self._host = host

    def publish(self, event: Event) -> None:
        self._inner.publish(event)
        try:
            self._host.observe(event)
        except Exception:
            log.exception("cid=%s voicemail on %s failed", event.correlation_id, event.kind)
