"""A call's recording: off, on or paused, over rtpengine's pcap recording
(docs/recording.md, "A recording's life").

`CallRecorder` keeps one `Recording` per call that has one, on the SIP loop, and
writes the `recording.*` events. rtpengine 10.5 has no pause: a pause closes the
current segment (`stop recording`) and a resume opens the next (`start recording`
with `segment=n+1`), so `segments` counts the starts. A recording belongs to the
rtpengine call, which the caller's leg keeps through transfers, consults and
intercepts: nothing restarts when the agent changes.

The API (other components use it: the IVR's sensitive nodes, the ACD's
RecordingCommand, voicemail); `call` is the call's correlation ID:

    recorder.start(call, *, reason, name, ref=None, tell_acd=True) -> str | None
        reason: "always" | "on_demand" | "voicemail"; name: the agent's (on demand),
        "" (always) or the box (voicemail); ref: the ACD's for an on-demand one, else a
        new uuid4 hex. Returns the ref, or None when nothing was recorded: the media
        node's disk is full (`recording.failed` reason `disk_full`) or rtpengine refused
        (`recording.failed` reason `rtpengine`); the call goes on either way.
        ValueError if the call is already recorded or unknown to the controller.
    recorder.pause(call, reason, *, tell_acd=True) -> bool    # "agent" | "sensitive"
    recorder.resume(call, *, tell_acd=True) -> bool
    recorder.stop(call, *, tell_acd=True) -> bool
    recorder.state(call) -> "off" | "on" | "paused";  recorder.ref(call) -> str | None

pause/resume/stop return False when there was nothing to do (not recording, already
paused, not paused). `tell_acd`: report the new state to the ACD (`ReportRecording`,
through `report`) when the controller changed it by itself; the ACD's own commands
pass False. The call's hang-up always stops its recording, before rtpengine's
`delete` (`call_ending`, the service's hook).

Always-on recording (`--record-number`, `--record-queue`: `numbers[].record`,
`queues[].record`) is `AlwaysOnRecording` below: a number's from the caller's answer,
a queue's from the agent's answer, until the hang-up.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal, Protocol

import redis

from controller._media import MediaError
from controller._ports import EventPublisher
from controller._sdp import media_endpoint
from eventlog import (
    CALL_ANSWERED,
    CALL_ARRIVED,
    CALL_ENDED,
    RECORDING_FAILED,
    RECORDING_PAUSED,
    RECORDING_RESUMED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    Event,
)
from recording import disk_full_key

__all__ = [
    "AlwaysOnRecording",
    "CallRecorder",
    "RecorderTap",
    "Recording",
    "RecordingState",
    "RedisDiskFull",
]

log = logging.getLogger("controller.recording")

RecordingState = Literal["off", "on", "paused"]
REASONS = frozenset({"always", "on_demand", "voicemail"})
PAUSE_REASONS = frozenset({"agent", "sensitive"})


class RecordingMedia(Protocol):
    """What the recorder needs of rtpengine (`RtpengineNg`)."""

    def start_recording(self, call_id: str, ref: str, segment: int) -> None: ...
    def stop_recording(self, call_id: str) -> None: ...


# Report a state the controller set by itself to the ACD: (cid, state, ref).
Report = Callable[[str, RecordingState, str], None]


class RedisDiskFull:
    """Whether the recorder has flagged a media node's disk full (docs/recording.md,
    "Disk full"). Asked on the SIP loop when a recording would start, so the answer is
    cached for `cache_s` and a Redis that does not answer costs one short timeout, then
    counts as "not full" for `retry_after_s` (a call is never dropped for recording)."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        cache_s: float = 0.5,
        retry_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._cache_s = cache_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._known: dict[str, tuple[float, bool]] = {}  # node -> (until, full)

    def __call__(self, media_node: str) -> bool:
        now = self._clock()
        known = self._known.get(media_node)
        if known is not None and now < known[0]:
            return known[1]
        try:
            full = bool(self._client.exists(disk_full_key(self._prefix, media_node)))
            until = now + self._cache_s
        except (redis.RedisError, OSError) as exc:
            log.warning("cannot read the disk-full flag of %s: %s", media_node, exc)
            full, until = False, now + self._retry_after_s
        self._known[media_node] = (until, full)
        return full


@dataclass
class Recording:
    """One call's recording."""

    cid: str
    ref: str
    name: str
    reason: str
    segments: int = 0  # segments started (each start and each resume opens one)
    paused: str | None = None  # the pause's reason while paused

    @property
    def state(self) -> RecordingState:
        return "paused" if self.paused is not None else "on"


@dataclass
class _Facts:
    """What the call events told about a call: the recording.started fields."""

    caller: str = ""
    number: str = ""
    agent: str = ""


@dataclass
class CallRecorder:
    """Starts, pauses, resumes and stops calls' recordings; SIP loop only."""

    media: RecordingMedia
    events: EventPublisher
    media_node: str  # the rtpengine's ng address, host:port
    caller_sdp: Callable[[str], str | None]  # the SDP rtpengine gave the caller, by cid
    node: str = ""  # this replica's name (the events' `node`)
    disk_full: Callable[[str], bool] | None = None
    queue_of: Callable[[str], str] = lambda cid: ""  # the call's ACD queue, if any
    report: Report | None = None
    clock: Callable[[], float] = time.time
    _recordings: dict[str, Recording] = field(default_factory=dict)
    _facts: dict[str, _Facts] = field(default_factory=dict)
    started: int = 0
    failed: int = 0

    # ------------------------------------------------------------ the API

    def state(self, call: str) -> RecordingState:
        recording = self._recordings.get(call)
        return "off" if recording is None else recording.state

    def ref(self, call: str) -> str | None:
        recording = self._recordings.get(call)
        return None if recording is None else recording.ref

    def start(
        self,
        call: str,
        *,
        reason: str,
        name: str,
        ref: str | None = None,
        tell_acd: bool = True,
        since: float | None = None,
    ) -> str | None:
        if reason not in REASONS:
            raise ValueError(f"recording reason must be one of {sorted(REASONS)}, not {reason!r}")
        if call in self._recordings:
            raise ValueError(f"call {call} is already recorded")
        caller_sdp = self.caller_sdp(call)
        endpoint = None if caller_sdp is None else media_endpoint(caller_sdp)
        if endpoint is None:
            raise ValueError(f"call {call} has no answered caller to record")
        ref = ref or uuid.uuid4().hex
        # Time zero is now, before the disk-full check and rtpengine's round trip: on a
        # loaded host those took up to 0.6 s, which, stamped after them, made the file
        # that much shorter than the talk time it must match (BENCHMARKS.md, "Recorded
        # calls at scale"). The pcap's packets carry their own capture times, so the
        # audio stays in place on the timeline either way.
        # `since`: an earlier time zero the caller vouches for (always-on's: the agent's
        # answer, call.answered's ts), so the file spans the whole talk time even when
        # the loop was busy between that answer and this start.
        began = self.clock() if since is None else since
        if self.disk_full is not None and self.disk_full(self.media_node):
            self._failed(call, ref, "disk_full", f"media node {self.media_node}: disk full")
            return None
        try:
            self.media.start_recording(call, ref, 0)
        except MediaError as exc:
            self._failed(call, ref, "rtpengine", str(exc))
            return None
        recording = Recording(call, ref, name, reason, segments=1)
        self._recordings[call] = recording
        self.started += 1
        facts = self._facts.get(call, _Facts())
        agent = "" if reason == "voicemail" else facts.agent
        log.info("cid=%s recording %s started (%s)", call, ref, reason)
        self._emit(
            call,
            RECORDING_STARTED,
            ts=began,
            ref=ref,
            name=name,
            reason=reason,
            media_node=self.media_node,
            caller=facts.caller,
            agent=agent,
            queue=self.queue_of(call),
            number=facts.number,
            caller_port=str(endpoint[1]),
        )
        if tell_acd:
            self._report(recording)
        return ref

    def pause(self, call: str, reason: str, *, tell_acd: bool = True) -> bool:
        if reason not in PAUSE_REASONS:
            raise ValueError(f"pause reason must be one of {sorted(PAUSE_REASONS)}, not {reason!r}")
        recording = self._recordings.get(call)
        if recording is None or recording.paused is not None:
            return False
        self._stop_segment(recording)
        recording.paused = reason
        log.info("cid=%s recording %s paused (%s)", call, recording.ref, reason)
        self._emit(call, RECORDING_PAUSED, ref=recording.ref, reason=reason)
        if tell_acd:
            self._report(recording)
        return True

    def resume(self, call: str, *, tell_acd: bool = True) -> bool:
        recording = self._recordings.get(call)
        if recording is None or recording.paused is None:
            return False
        try:
            self.media.start_recording(call, recording.ref, recording.segments)
        except MediaError as exc:
            # The recording stays paused (silence from here), and says so.
            self._failed(call, recording.ref, "rtpengine", f"resume: {exc}")
            return False
        recording.segments += 1
        recording.paused = None
        log.info("cid=%s recording %s resumed", call, recording.ref)
        self._emit(call, RECORDING_RESUMED, ref=recording.ref)
        if tell_acd:
            self._report(recording)
        return True

    def stop(self, call: str, *, tell_acd: bool = True) -> bool:
        recording = self._recordings.pop(call, None)
        if recording is None:
            return False
        if recording.paused is None:
            self._stop_segment(recording)
        log.info(
            "cid=%s recording %s stopped (%s segments)", call, recording.ref, recording.segments
        )
        self._emit(call, RECORDING_STOPPED, ref=recording.ref, segments=str(recording.segments))
        if tell_acd and self.report is not None:
            self._call_report(call, "off", recording.ref)
        return True

    # ------------------------------------------------------------ the call's life

    def call_ending(self, cid: str) -> None:
        """The service's hook, before rtpengine's `delete`: the hang-up stops the
        recording (the ACD hears of it with the call's Hangup, not separately)."""
        self.stop(cid, tell_acd=False)
        self._facts.pop(cid, None)

    def observe(self, event: Event) -> None:
        """The call events: who called which number, which agent answered."""
        cid, kind = event.correlation_id, event.kind
        if kind == CALL_ARRIVED:
            self._facts[cid] = _Facts(
                caller=event.data.get("caller", ""), number=event.data.get("dialled", "")
            )
        elif kind == CALL_ANSWERED:
            self._facts.setdefault(cid, _Facts()).agent = event.data.get("agent", "")
        elif kind == CALL_ENDED:
            self._facts.pop(cid, None)

    def describe(self) -> dict[str, object]:
        return {
            "media_node": self.media_node,
            "started": self.started,
            "failed": self.failed,
            "calls": {
                cid: {"ref": r.ref, "state": r.state, "reason": r.reason, "segments": r.segments}
                for cid, r in self._recordings.items()
            },
        }

    # ------------------------------------------------------------ helpers

    def _stop_segment(self, recording: Recording) -> None:
        try:
            self.media.stop_recording(recording.cid)
        except MediaError as exc:
            # rtpengine closes the segment at the call's delete anyway.
            log.warning("cid=%s stop recording %s: %s", recording.cid, recording.ref, exc)

    def _failed(self, call: str, ref: str, reason: str, detail: str) -> None:
        self.failed += 1
        log.error("cid=%s recording %s not made (%s): %s", call, ref, reason, detail)
        self._emit(call, RECORDING_FAILED, ref=ref, reason=reason, detail=detail)

    def _report(self, recording: Recording) -> None:
        if self.report is not None:
            self._call_report(recording.cid, recording.state, recording.ref)

    def _call_report(self, cid: str, state: RecordingState, ref: str) -> None:
        assert self.report is not None
        try:
            self.report(cid, state, ref)
        except Exception:  # a reporting bug must not reach call handling
            log.exception("cid=%s reporting the recording state failed", cid)

    def _emit(self, cid: str, kind: str, *, ts: float | None = None, **data: str) -> None:
        try:
            when = self.clock() if ts is None else ts
            self.events.publish(
                Event.new(kind, correlation_id=cid, node=self.node, ts=when, **data)
            )
        except Exception:
            log.exception("cid=%s could not publish %s", cid, kind)


class AlwaysOnRecording:
    """`numbers[].record` and `queues[].record`: a recorded number's calls from the
    caller's answer, a recorded queue's from its agent's answer, to the hang-up."""

    def __init__(
        self,
        recorder: CallRecorder,
        *,
        numbers: Collection[str] = (),
        queues: Collection[str] = (),
    ) -> None:
        self.recorder = recorder
        self.numbers = frozenset(numbers)
        self.queues = frozenset(queues)
        self._dialled: dict[str, str] = {}

    def caller_answered(self, cid: str) -> None:
        """The service's hook: the controller has just answered the caller."""
        if self._dialled.get(cid) in self.numbers:
            self._start(cid)

    def observe(self, event: Event) -> None:
        cid, kind = event.correlation_id, event.kind
        if kind == CALL_ARRIVED:
            dialled = event.data.get("dialled", "")
            if dialled in self.numbers:
                self._dialled[cid] = dialled
        elif kind == CALL_ANSWERED:
            if self.queues and self.recorder.queue_of(cid) in self.queues:
                # From the answer the CDR's talk time counts from: on a busy host the
                # start came up to 0.2 s after it (BENCHMARKS.md, "Recorded calls at
                # scale"). Nothing is lost: the caller's media reaches the agent only
                # once the bridge's re-INVITE is done, after this.
                self._start(cid, since=event.ts)
        elif kind == CALL_ENDED:
            self._dialled.pop(cid, None)

    def _start(self, cid: str, *, since: float | None = None) -> None:
        if self.recorder.state(cid) != "off":
            return  # already recorded (a transfer's second answer, or on demand)
        try:
            self.recorder.start(cid, reason="always", name="", since=since)
        except ValueError as exc:
            log.warning("cid=%s always-on recording not started: %s", cid, exc)


class RecorderTap:
    """The service's outermost `EventPublisher`: forwards every event, then lets the
    recorder and the always-on rules see it (after the ACD driver has, so a queue's
    answer finds the call's queue). Runs on the SIP loop; never raises."""

    def __init__(self, inner: EventPublisher, recorder: CallRecorder, always: AlwaysOnRecording):
        self._inner = inner
        self._recorder = recorder
        self._always = always

    def publish(self, event: Event) -> None:
        self._inner.publish(event)
        for observer in (self._recorder.observe, self._always.observe):
            try:
                observer(event)
            except Exception:
                log.exception("cid=%s recording on %s failed", event.correlation_id, event.kind)
