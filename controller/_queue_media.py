"""Music on hold and position announcements for callers waiting in an ACD queue.

docs/call-control.md, "Music on hold and announcements". A call the ACD driver
(`controller/_acd_driver.py`) has answered and parked hears its queue's music, looped
by rtpengine (`play media` with `repeat-times`), once it has waited
`music_after_s` (1 s by default): most calls are bridged before that, and for
them no `play media` is sent at all. Every `announce_every_s` (the
first one `first_announce_s` after parking) the ACD is asked where the call
stands (`GetCallPosition`), the sentence is rendered by `prompts` (cached), and
rtpengine plays it in place of the music; when it has played, the music starts
again. While an agent's phone rings the music goes on and no announcement
starts; when the agent answers, the controller's bridge stops the player, and
nothing here plays to the call again.

Two halves:
- `HoldTimeline`, pure: one call's timing decisions, driven with explicit `now`
  values and returning the steps to carry out (unit-tested with a fake clock);
- `QueueMedia`, the adapter: timers and rtpengine on the SIP loop, the ACD query
  and the rendering on worker threads, results handed back with `post`. Like the
  driver it owns no controller state: the call's state and caller leg come from
  the `call` command, the call's progress from the events the driver's tap sees.

The announcements are in the queue's language, unless the call brings its own (the
language the caller chose in the IVR, `AcdDriver.enqueue_answered`).

Why `play media` goes to rtpengine directly and not through the `play` command:
the command has no way to say `repeat-times`, and a file replayed from a timer
leaves a gap or cuts the tail at every loop. Playing on the caller's monologue is
what the `play` command does too; the bridge's `stop media` (`_agent_answered`)
stops either.
"""

from __future__ import annotations

import argparse
import enum
import logging
import math
import threading
import time
import wave
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import grpc

import prompts
from acd_api.v1 import acd_pb2 as pb
from controller._media import MediaError
from controller._ports import Cancellable, Execute, Later, Post
from controller._sippy_loop import logged_jobs, sippy_later
from eventlog import CALL_ANSWERED, CALL_ENDED, CALL_NO_ANSWER, CALL_RINGING, Event
from prompts import Language, PromptError

if TYPE_CHECKING:
    from controller._acd_driver import AcdDriver
    from controller._acd_options import AcdOptions
    from controller._media import RtpengineNg

__all__ = [
    "DEFAULT_MUSIC_AFTER_S",
    "MUSIC_REPEAT",
    "AcdAnnouncements",
    "Announcement",
    "HoldTimeline",
    "PlayAnnouncement",
    "QueueMedia",
    "QueueMediaOptions",
    "QueueMediaSettings",
    "RtpenginePlayer",
    "Step",
    "add_queue_media_arguments",
    "attach_queue_media",
    "parse_music_after",
    "parse_queue_media",
    "queue_media_options",
    "sippy_queue_media",
    "wav_seconds",
]

log = logging.getLogger("controller.queue_media")

# How many times rtpengine loops the music: 10,000 x the 12 s default is 33 hours, far
# beyond any wait; the player stops anyway when the call is bridged (stop media), when
# an announcement replaces it, or when the call's rtpengine session is deleted.
MUSIC_REPEAT: Final = 10_000
# From parking to the music, unless configured (--music-after, queues[].music_after_ms).
DEFAULT_MUSIC_AFTER_S: Final = 1.0
# The controller's own states in which a caller may hear queue media: parked (waiting)
# and ringing (an agent's phone rings; typical ACDs keep the music until the answer).
_PLAYABLE: Final = frozenset({"parked", "ringing"})


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class QueueMediaSettings:
    """One queue's music and announcements (callcenter config: `queues[]`)."""

    language: Language = "zh"
    announce_every_s: float = 30.0  # start to start; 0: music only
    music_file: Path | None = None  # None: prompts.hold_music, rendered into the cache
    # From parking to the music. Starting rtpengine's player costs it about 5 ms of CPU
    # for the 12 s stock music (more for a longer file), several times the rest of the
    # call's media, and most callers are bridged a fraction of a second after parking:
    # those are played (and stopped) nothing; one who waits hears this much silence first.
    music_after_s: float = DEFAULT_MUSIC_AFTER_S


@dataclass(frozen=True)
class QueueMediaOptions:
    """`--prompt-cache` and friends: on for every call the ACD queues on this replica."""

    cache_dir: Path  # absolute: rtpengine opens the files by this path
    default: QueueMediaSettings = QueueMediaSettings()
    queues: Mapping[str, QueueMediaSettings] = field(default_factory=dict)
    first_announce_s: float = 5.0  # from parking to the first announcement
    rpc_timeout_s: float = 1.0  # one GetCallPosition attempt
    # An announcement is worth little late: after this, the call hears the music only
    # until the next one. Also bounds how long a worker is held by an unreachable ACD.
    rpc_retry_s: float = 2.0

    def for_queue(self, queue: str) -> QueueMediaSettings:
        return self.queues.get(queue, self.default)


def parse_queue_media(value: str) -> tuple[str, QueueMediaSettings]:
    """`QUEUE:LANGUAGE:ANNOUNCE_EVERY_S[:MUSIC_FILE]` -> (queue, settings)."""
    parts = value.split(":", 3)
    if len(parts) < 3 or not parts[0]:
        raise ValueError(f"expected QUEUE:LANGUAGE:SECONDS[:MUSIC_FILE], got {value!r}")
    queue, language, every = parts[:3]
    lang = _language(language)
    try:
        seconds = float(every)
    except ValueError:
        raise ValueError(f"{value!r}: {every!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r}: the announcement interval must be a number >= 0")
    music = Path(parts[3]).resolve() if len(parts) == 4 and parts[3] else None
    return queue, QueueMediaSettings(lang, seconds, music)


def parse_music_after(value: str) -> tuple[str | None, float]:
    """`[QUEUE=]SECONDS` -> (queue, or None for every queue, seconds)."""
    queue, sep, seconds = value.rpartition("=")
    if sep and not queue:
        raise ValueError(f"expected [QUEUE=]SECONDS, got {value!r}")
    try:
        number = float(seconds)
    except ValueError:
        raise ValueError(f"{value!r}: {seconds!r} is not a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r}: the delay must be a number >= 0")
    return (queue or None), number


def _language(value: str) -> Language:
    if prompts.is_language(value):
        return value
    raise ValueError(f"language must be one of {', '.join(prompts.LANGUAGES)}, not {value!r}")


def add_queue_media_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "music on hold", "for callers waiting in an ACD queue (docs/call-control.md)"
    )
    group.add_argument(
        "--prompt-cache",
        default=None,
        metavar="DIR",
        help="play music on hold and position announcements to callers "
        "queued at the ACD; rendered prompts are cached here (rtpengine "
        "must read them at the same path). Needs --acd",
    )
    group.add_argument(
        "--hold-language",
        default="zh",
        choices=prompts.LANGUAGES,
        help="announcement language of queues without --queue-media",
    )
    group.add_argument(
        "--announce-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between two announcements, for queues without --queue-media (0: music only)",
    )
    group.add_argument(
        "--announce-first",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds from parking to the first announcement",
    )
    group.add_argument(
        "--queue-media",
        action="append",
        default=[],
        metavar="QUEUE:LANGUAGE:SECONDS[:MUSIC_FILE]",
        help="one queue's language, announcement interval and music "
        "(an 8 kHz mono WAV; default: the built-in melody); repeatable",
    )
    group.add_argument(
        "--music-after",
        action="append",
        default=[],
        metavar="[QUEUE=]SECONDS",
        help="seconds from parking to the music, for every queue or, with "
        f"QUEUE=, for one (default {DEFAULT_MUSIC_AFTER_S:g}; 0: at once): "
        "a caller bridged sooner costs no 'play media'; repeatable",
    )


def queue_media_options(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> QueueMediaOptions | None:
    """The parsed options, or None without `--prompt-cache`; misuse exits via parser.error.
    Reads `--acd` and `--acd-timeout` too (add_acd_arguments)."""
    if args.prompt_cache is None:
        if args.queue_media:
            parser.error("--queue-media needs --prompt-cache")
        return None
    if getattr(args, "acd", None) is None:
        parser.error("--prompt-cache needs --acd (music on hold is for queued calls)")
    if not all(math.isfinite(v) and v >= 0 for v in (args.announce_every, args.announce_first)):
        parser.error("--announce-every and --announce-first must be numbers >= 0")
    music_after: dict[str | None, float] = {}
    for value in args.music_after:
        try:
            which, seconds = parse_music_after(value)
        except ValueError as exc:
            parser.error(f"--music-after: {exc}")
        if which in music_after:
            parser.error(f"--music-after: {which or 'the default'} is given twice")
        music_after[which] = seconds
    default_after = music_after.pop(None, DEFAULT_MUSIC_AFTER_S)
    default = QueueMediaSettings(
        _language(args.hold_language), args.announce_every, music_after_s=default_after
    )
    queues: dict[str, QueueMediaSettings] = {}
    for value in args.queue_media:
        try:
            queue, settings = parse_queue_media(value)
        except ValueError as exc:
            parser.error(f"--queue-media: {exc}")
        if queue in queues:
            parser.error(f"--queue-media: queue {queue!r} is given twice")
        queues[queue] = replace(settings, music_after_s=default_after)
    for which, seconds in music_after.items():
        assert which is not None
        queues[which] = replace(queues.get(which, default), music_after_s=seconds)
    return QueueMediaOptions(
        cache_dir=Path(args.prompt_cache).resolve(),
        default=default,
        queues=queues,
        first_announce_s=args.announce_first,
        rpc_timeout_s=getattr(args, "acd_timeout", 1.0),
    )


# ---------------------------------------------------------------- the pure timeline


class Step(enum.Enum):
    MUSIC = "music"  # (re)start the queue's music, looped
    FETCH = "fetch"  # ask the ACD for the position and render the sentence (off the loop)


@dataclass(frozen=True)
class Announcement:
    file: Path
    duration_s: float
    text: str
    position: int
    expected_wait_s: float | None


@dataclass(frozen=True)
class PlayAnnouncement:
    announcement: Announcement


class Phase(enum.Enum):
    WAITING = "waiting"  # parked in the queue
    RINGING = "ringing"  # an agent's phone rings: music on, no new announcement
    DONE = "done"  # answered or ended: nothing more is played


@dataclass
class HoldTimeline:
    """One waiting call's music and announcement timing. Pure: every input carries `now`
    (monotonic seconds); each returns the steps to carry out, in order.

    Rules:
    - parked: the music starts `music_after_s` later (0: at once), also while an agent
      rings, or as soon as an announcement has played if that comes first (the caller
      is not left in silence after hearing something); a call answered before then is
      never played anything. The first announcement falls due `first_s` after parking;
    - an announcement falls due every `every_s`, start to start, measured from when it
      was asked for (0: never); it starts only while the call waits: one that falls
      due while an agent rings is made as soon as the ring ends unanswered;
    - one at a time: a new one is not asked for while one is being fetched or played;
      after an announcement longer than the interval, or a fetch that came back with
      nothing after longer than that, at least half an interval passes before the next;
    - an announcement whose fetch comes back after the agent answered (or the call
      ended) is dropped, and one that comes back while an agent rings waits for the
      ring to end unanswered (then it is asked for afresh: the position has changed);
    - the music starts again when an announcement has played (its duration), and
      after an announcement that could not be played.
    """

    every_s: float
    first_s: float
    music_after_s: float = 0.0
    phase: Phase = Phase.WAITING
    fetching: bool = False
    next_announce_at: float | None = None
    music_back_at: float | None = None  # while an announcement plays: when it ends
    music_at: float | None = None  # before the music first started: when it is due

    def start(self, now: float) -> list[Step | PlayAnnouncement]:
        self.next_announce_at = now + self.first_s if self.every_s > 0 else None
        if self.music_after_s > 0:
            self.music_at = now + self.music_after_s
            return []
        return [Step.MUSIC]

    @property
    def wants_music(self) -> bool:
        """The music should be playing now (not done, started, no announcement playing)."""
        return self.phase is not Phase.DONE and self.music_back_at is None and self.music_at is None

    def _may_announce(self) -> bool:
        return (
            self.phase is Phase.WAITING
            and not self.fetching
            and self.music_back_at is None
            and self.next_announce_at is not None
        )

    def next_wakeup(self) -> float | None:
        """When `due` has something to do next (None: nothing until another input)."""
        if self.phase is Phase.DONE:
            return None
        times = [] if self.music_back_at is None else [self.music_back_at]
        if self.music_at is not None and self.music_back_at is None:
            times.append(self.music_at)
        if self._may_announce():
            assert self.next_announce_at is not None
            times.append(self.next_announce_at)
        return min(times, default=None)

    def due(self, now: float) -> list[Step | PlayAnnouncement]:
        if self.phase is Phase.DONE:
            return []
        steps: list[Step | PlayAnnouncement] = []
        if self.music_back_at is not None and now >= self.music_back_at:
            self.music_back_at = None
            self.music_at = None
            steps.append(Step.MUSIC)
            if self.next_announce_at is not None:
                self.next_announce_at = max(self.next_announce_at, now + self.every_s / 2)
        elif self.music_at is not None and self.music_back_at is None and now >= self.music_at:
            self.music_at = None
            steps.append(Step.MUSIC)
        if self._may_announce():
            assert self.next_announce_at is not None
            if now >= self.next_announce_at:
                self.fetching = True
                self.next_announce_at = now + self.every_s
                steps.append(Step.FETCH)
        return steps

    def fetched(
        self, now: float, announcement: Announcement | None
    ) -> list[Step | PlayAnnouncement]:
        """The fetch came back: the sentence to play, or None (nothing to say)."""
        self.fetching = False
        if self.phase is Phase.DONE:
            return []
        if announcement is None:
            if self.next_announce_at is not None:  # a slow failure must not retry at once
                self.next_announce_at = max(self.next_announce_at, now + self.every_s / 2)
            return []
        if self.phase is Phase.RINGING:
            self.next_announce_at = now  # asked for again if the ring ends unanswered
            return []
        self.music_back_at = now + max(0.0, announcement.duration_s)
        return [PlayAnnouncement(announcement)]

    def announcement_failed(self, now: float) -> list[Step | PlayAnnouncement]:
        """rtpengine refused the announcement: back to the music at once, or to the
        silence before it if the music is not due yet."""
        if self.phase is Phase.DONE:
            return []
        self.music_back_at = None if self.music_at is not None and now < self.music_at else now
        return self.due(now)

    def ringing(self, now: float) -> list[Step | PlayAnnouncement]:
        if self.phase is Phase.WAITING:
            self.phase = Phase.RINGING
        return []

    def no_answer(self, now: float) -> list[Step | PlayAnnouncement]:
        if self.phase is Phase.RINGING:
            self.phase = Phase.WAITING
        return self.due(now)

    def done(self) -> None:
        self.phase = Phase.DONE
        self.music_back_at = None
        self.music_at = None
        self.next_announce_at = None


# ---------------------------------------------------------------- ports


class Player(Protocol):
    """Plays a file to a call's leg, `repeat` times in a row (replacing what plays)."""

    def play(self, cid: str, tag: str, file: Path, repeat: int) -> None: ...


class AnnouncementSource(Protocol):
    """Runs on a worker thread: the announcement for a call now, or None."""

    def announcement(
        self, cid: str, language: Language, cancelled: Callable[[], bool]
    ) -> Announcement | None: ...


Submit = Callable[[Callable[[], None]], None]


def wav_seconds(path: Path) -> float:
    """The length of a PCM WAV (the prompts and the music are such files)."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


class RtpenginePlayer:
    """`play media` on the controller's rtpengine connection (SIP loop thread only)."""

    def __init__(self, media: RtpengineNg) -> None:
        self._media = media

    def play(self, cid: str, tag: str, file: Path, repeat: int) -> None:
        # Through `RtpengineNg.play`, which notes the player: the bridge's `stop media`
        # is sent only to a caller something was played to.
        self._media.play(cid, tag, str(file), repeat=repeat)


class AcdAnnouncements:
    """GetCallPosition, then `prompts.queue_position_text` rendered into the cache."""

    def __init__(
        self,
        rpc: Any,
        cache_dir: Path,
        *,
        retry_s: float = 2.0,
        render: Callable[[str, Language, Path], Path] = prompts.render,
    ) -> None:
        self._rpc = rpc  # acd_client.AcdClient (or a fake with its `call`)
        self._cache_dir = cache_dir
        self._retry_s = retry_s
        self._render = render
        self._lock = threading.Lock()
        self._reported: set[str] = set()  # failures already logged at WARNING

    def announcement(
        self, cid: str, language: Language, cancelled: Callable[[], bool]
    ) -> Announcement | None:
        try:
            reply: pb.GetCallPositionResponse = self._rpc.call(
                "GetCallPosition",
                pb.GetCallPositionRequest(call_id=cid),
                pb.GetCallPositionResponse,
                retry_for=self._retry_s,
                cancelled=cancelled,
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            self._report(
                f"the ACD did not answer GetCallPosition ({code}); "
                "no announcement, the music goes on",
                cid,
            )
            return None
        if reply.HasField("error"):
            # UNKNOWN_CALL: not enqueued yet (Enqueue still in flight), or gone.
            log.debug("cid=%s no announcement: %s", cid, reply.error.message)
            return None
        if not reply.waiting or reply.position < 1:
            log.debug("cid=%s no announcement: the call is not waiting", cid)
            return None
        wait = reply.expected_wait_seconds if reply.HasField("expected_wait_seconds") else None
        text = prompts.queue_position_text(reply.position, wait, language)
        try:
            path = self._render(text, language, self._cache_dir)
            seconds = wav_seconds(path)
        except (PromptError, OSError, wave.Error, EOFError) as exc:
            # espeak-ng or sox missing or failing, the cache not writable: the caller
            # keeps the music; the call itself is not affected.
            self._report(f"cannot render the announcement ({exc}); the music goes on", cid)
            return None
        return Announcement(path.resolve(), seconds, text, reply.position, wait)

    def _report(self, message: str, cid: str) -> None:
        """WARNING the first time a failure is seen, DEBUG for every call after that:
        one missing espeak-ng must not write a line per caller per interval."""
        with self._lock:
            first = message not in self._reported
            self._reported.add(message)
        log.log(logging.WARNING if first else logging.DEBUG, "cid=%s %s", cid, message)


# ---------------------------------------------------------------- the adapter


_PENDING: Final = object()  # the default music is still being rendered


@dataclass(eq=False)
class _Held:
    cid: str
    queue: str
    settings: QueueMediaSettings
    timeline: HoldTimeline
    timer: Cancellable | None = None
    # Set when the call no longer waits here: a worker stops retrying its query.
    gone: threading.Event = field(default_factory=threading.Event)


class QueueMedia:
    """Queue media for this replica's waiting calls. Loop-owned, except the jobs it submits."""

    def __init__(
        self,
        options: QueueMediaOptions,
        *,
        player: Player,
        source: AnnouncementSource,
        post: Post,
        later: Later,
        submit: Submit,
        clock: Callable[[], float] = time.monotonic,
        default_music: Callable[[], Path] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """`default_music()` renders the stock music (worker thread; default
        `prompts.hold_music` into the cache); `submit(job)` runs a job on a worker."""
        self.options = options
        self._player = player
        self._source = source
        self._post = post
        self._later = later
        self._submit = submit
        self._clock = clock
        self._default_music_factory = default_music or partial(
            prompts.hold_music, options.cache_dir
        )
        self._on_close = on_close
        self._execute: Execute | None = None
        self._calls: dict[str, _Held] = {}
        self._default_music: object = _PENDING  # Path, None (failed) or _PENDING
        self._music_waiters: set[str] = set()

    # ------------------------------------------------------------ life

    def bind(self, execute: Execute) -> None:
        """The controller's command entry point (`Commands.execute`), run on the loop."""
        self._execute = execute

    def start(self) -> QueueMedia:
        """Render the stock music in the background: start-up does not wait for sox."""

        def job() -> None:
            try:
                path: Path | None = self._default_music_factory().resolve()
            except (PromptError, OSError) as exc:
                log.error(
                    "cannot render the music on hold (%s): callers waiting in queues "
                    "without their own music hear silence between announcements",
                    exc,
                )
                path = None
            self._post(partial(self._music_ready, path))

        self._submit(job)
        languages = {q: s.language for q, s in self.options.queues.items()}
        log.info(
            "queue media: cache %s, default %s every %ss, queues %s",
            self.options.cache_dir,
            self.options.default.language,
            self.options.default.announce_every_s,
            ",".join(f"{q}={lang}" for q, lang in sorted(languages.items())) or "-",
        )
        return self

    def close(self) -> None:
        for held in list(self._calls.values()):
            self._drop(held)
        if self._on_close is not None:
            self._on_close()

    @property
    def calls(self) -> Mapping[str, _Held]:
        return self._calls

    # ------------------------------------------------------------ inputs (SIP loop)

    def parked(self, cid: str, queue: str, language: Language | None = None) -> None:
        """The driver answered and parked the caller for `queue`. `language`, the
        caller's own (chosen in the IVR), replaces the queue's for its announcements.
        Never raises: a fault here must not hold up the call's Enqueue."""
        try:
            if cid in self._calls:
                return
            settings = self.options.for_queue(queue)
            if language is not None and language != settings.language:
                settings = replace(settings, language=language)
            held = _Held(
                cid,
                queue,
                settings,
                HoldTimeline(
                    settings.announce_every_s, self.options.first_announce_s, settings.music_after_s
                ),
            )
            self._calls[cid] = held
            self._run(held, held.timeline.start(self._clock()))
        except Exception:
            log.exception("cid=%s starting the music on hold failed", cid)

    def forget(self, cid: str) -> None:
        """The caller left the queue but not the call (voicemail): nothing more is
        played to it from here (its next prompt replaces the music)."""
        held = self._calls.get(cid)
        if held is not None:
            self._drop(held)

    def music(self, queue: str) -> Path | None:
        """`queue`'s music file: its own, else the stock music once rendered (None
        before that, or if rendering failed)."""
        own = self.options.for_queue(queue).music_file
        if own is not None:
            return own
        return self._default_music if isinstance(self._default_music, Path) else None

    def observe(self, event: Event) -> None:
        """The call's events (the driver's tap forwards each one)."""
        held = self._calls.get(event.correlation_id)
        if held is None:
            return
        now = self._clock()
        if event.kind == CALL_RINGING:
            self._run(held, held.timeline.ringing(now))
        elif event.kind == CALL_NO_ANSWER:
            self._run(held, held.timeline.no_answer(now))
        elif event.kind in (CALL_ANSWERED, CALL_ENDED):
            # On answer the bridge has already stopped the player (its `stop media`
            # comes before the event); from now on nothing is played to this call.
            log.debug("cid=%s queue media over (%s)", held.cid, event.kind)
            self._drop(held)

    # ------------------------------------------------------------ steps (SIP loop)

    def _run(self, held: _Held, steps: Sequence[Step | PlayAnnouncement]) -> None:
        for step in steps:
            if self._calls.get(held.cid) is not held:
                return
            if step is Step.MUSIC:
                self._play_music(held)
            elif step is Step.FETCH:
                self._fetch(held)
            elif isinstance(step, PlayAnnouncement):
                self._announce(held, step.announcement)
        self._rearm(held)

    def _announce(self, held: _Held, announcement: Announcement) -> None:
        if self._play(held, announcement.file, 1):
            wait = announcement.expected_wait_s
            log.info(
                "cid=%s announcement (position %d, expected wait %s): %s",
                held.cid,
                announcement.position,
                "-" if wait is None else f"{wait:.0f}s",
                announcement.text,
            )
        else:
            self._run(held, held.timeline.announcement_failed(self._clock()))

    def _play_music(self, held: _Held) -> None:
        file = held.settings.music_file
        if file is None:
            if self._default_music is _PENDING:
                self._music_waiters.add(held.cid)  # played when it is rendered
                return
            if not isinstance(self._default_music, Path):
                return  # rendering failed (logged once): silence between announcements
            file = self._default_music
        if self._play(held, file, MUSIC_REPEAT):
            log.debug("cid=%s music on hold %s", held.cid, file)

    def _music_ready(self, path: Path | None) -> None:
        self._default_music = path
        waiters, self._music_waiters = self._music_waiters, set()
        for cid in waiters:
            held = self._calls.get(cid)
            if held is not None and held.timeline.wants_music:
                self._play_music(held)

    def _play(self, held: _Held, file: Path, repeat: int) -> bool:
        """Play `file` to the caller if the controller still has it waiting (parked, or
        an agent rings): the last guard against playing over a bridged call."""
        state, tag = self._caller(held.cid)
        if state not in _PLAYABLE or tag is None:
            log.debug("cid=%s not playing %s: the call is %s", held.cid, file.name, state)
            return False
        try:
            self._player.play(held.cid, tag, file, repeat)
        except MediaError as exc:
            log.warning("cid=%s rtpengine cannot play %s: %s", held.cid, file, exc)
            return False
        return True

    def _caller(self, cid: str) -> tuple[str | None, str | None]:
        assert self._execute is not None, "bind() the controller's commands first"
        reply = self._execute({"cmd": "call", "cid": cid})
        if not reply.get("ok"):
            return None, None
        call = reply["result"]
        tag = next((leg["id"] for leg in call.get("legs", ()) if leg.get("role") == "caller"), None)
        return str(call.get("state")), tag

    def _fetch(self, held: _Held) -> None:
        cid, language, gone = held.cid, held.settings.language, held.gone

        def job() -> None:
            announcement = None
            if not gone.is_set():
                announcement = self._source.announcement(cid, language, gone.is_set)
            self._post(partial(self._fetched, held, announcement))

        self._submit(job)

    def _fetched(self, held: _Held, announcement: Announcement | None) -> None:
        if self._calls.get(held.cid) is not held:
            return  # answered or ended meanwhile: the announcement is dropped
        self._run(held, held.timeline.fetched(self._clock(), announcement))

    def _rearm(self, held: _Held) -> None:
        if held.timer is not None:
            held.timer.cancel()
            held.timer = None
        at = held.timeline.next_wakeup()
        if at is not None and self._calls.get(held.cid) is held:
            held.timer = self._later(max(0.0, at - self._clock()), partial(self._tick, held))

    def _tick(self, held: _Held) -> None:
        held.timer = None
        if self._calls.get(held.cid) is not held:
            return
        self._run(held, held.timeline.due(self._clock()))

    def _drop(self, held: _Held) -> None:
        held.timeline.done()
        held.gone.set()
        if held.timer is not None:
            held.timer.cancel()
            held.timer = None
        self._music_waiters.discard(held.cid)
        if self._calls.get(held.cid) is held:
            del self._calls[held.cid]


def attach_queue_media(
    options: QueueMediaOptions | None,
    driver: AcdDriver | None,
    acd: AcdOptions | None,
    media: RtpengineNg,
    execute: Execute,
) -> None:
    """With `--prompt-cache`, give the ACD driver its queue media (on Sippy's loop) and
    start it; the driver's `stop` closes it. Without, nothing."""
    if options is None or driver is None or acd is None:
        return
    hold = sippy_queue_media(options, acd, media)
    hold.bind(execute)
    driver.hold = hold
    hold.start()


def sippy_queue_media(
    options: QueueMediaOptions, acd: AcdOptions, media: RtpengineNg
) -> QueueMedia:
    """Queue media on Sippy's loop: its own ACD client (queries fail over like the
    driver's) and two worker threads for the queries and the rendering."""
    from sippy.Core.EventDispatcher import ED2  # noqa: PLC0415

    from acd_client import AcdClient  # noqa: PLC0415

    client = AcdClient(
        list(acd.addresses),
        timeout=options.rpc_timeout_s,
        retry_for=options.rpc_retry_s,
        token=acd.token,
    )
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="queue-media")

    def close() -> None:
        pool.shutdown(wait=False, cancel_futures=True)
        client.close()

    source = AcdAnnouncements(client, options.cache_dir, retry_s=options.rpc_retry_s)
    return QueueMedia(
        options,
        player=RtpenginePlayer(media),
        source=source,
        post=ED2.callFromThread,
        later=sippy_later,
        submit=logged_jobs(pool, log, "queue media"),
        on_close=close,
    )
