"""`QueueMedia` and `AcdAnnouncements` against fakes: the loop, the worker threads,
rtpengine, the controller's `call` command and the ACD are all driven by hand, with a
fake clock. The real path (every process) is tests/controller/acd_driver/test_queue_media.py."""

from __future__ import annotations

import logging
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest

from acd_api.v1 import acd_pb2 as pb
from controller._app import parse_args
from controller._media import MediaError
from controller._queue_media import (
    MUSIC_REPEAT,
    AcdAnnouncements,
    Announcement,
    QueueMedia,
    QueueMediaOptions,
    QueueMediaSettings,
    parse_music_after,
    parse_queue_media,
)
from eventlog import CALL_ANSWERED, CALL_ENDED, CALL_NO_ANSWER, CALL_RINGING, Event
from prompts import Language, PromptError

CID = "c" * 32
MUSIC = Path("/cache/music-on-hold.wav")
OWN_MUSIC = Path("/srv/moh/billing.wav")


@dataclass
class Timer:
    at: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class World:
    """The SIP loop, the workers, rtpengine and the controller, as lists and dicts."""

    now: float = 1000.0
    loop: list[Callable[[], None]] = field(default_factory=list)
    jobs: list[Callable[[], None]] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    plays: list[tuple[str, str, Path, int]] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)  # cid -> controller call state
    fail_play: set[Path] = field(default_factory=set)
    answers: list[Announcement | None] = field(default_factory=list)
    asked: list[tuple[str, Language]] = field(default_factory=list)

    # ports
    def later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def play(self, cid: str, tag: str, file: Path, repeat: int) -> None:
        if file in self.fail_play:
            raise MediaError("rtpengine 'play media': Failed to start media playback")
        self.plays.append((cid, tag, file, repeat))

    def announcement(
        self, cid: str, language: Language, cancelled: Callable[[], bool]
    ) -> Announcement | None:
        self.asked.append((cid, language))
        return self.answers.pop(0) if self.answers else None

    def execute(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert request["cmd"] == "call"
        state = self.states.get(request["cid"])
        if state is None:
            return {"ok": False, "error": f"no such call {request['cid']}"}
        legs = [{"id": "L1", "role": "caller", "state": "answered", "target": None}]
        return {"ok": True, "result": {"cid": request["cid"], "state": state, "legs": legs}}

    # driving
    def run(self) -> None:
        """Run the workers' jobs, then what they posted to the loop, until both are idle."""
        while self.jobs or self.loop:
            while self.jobs:
                self.jobs.pop(0)()
            while self.loop:
                self.loop.pop(0)()

    def advance(self, seconds: float) -> None:
        """Move the clock, firing due timers in order (and whatever they start)."""
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

    def armed(self) -> list[float]:
        return sorted(t.at for t in self.timers if not t.cancelled)


# Music at once (music_after_s 0): most tests here are about what plays once the music
# is on. The product's delay before it (1 s) has its own tests (DELAYED, below).
OPTIONS = QueueMediaOptions(
    cache_dir=Path("/cache"),
    default=QueueMediaSettings("zh", 30.0, music_after_s=0.0),
    queues={"vip": QueueMediaSettings("en", 20.0, OWN_MUSIC, music_after_s=0.0)},
    first_announce_s=5.0,
)
DELAYED = QueueMediaOptions(
    cache_dir=Path("/cache"),
    default=QueueMediaSettings("zh", 30.0),
    queues={"vip": QueueMediaSettings("en", 20.0, OWN_MUSIC, music_after_s=2.5)},
    first_announce_s=5.0,
)


def make(
    world: World, options: QueueMediaOptions = OPTIONS, *, music: Callable[[], Path] = lambda: MUSIC
) -> QueueMedia:
    media = QueueMedia(
        options,
        player=world,
        source=world,
        post=world.loop.append,
        later=world.later,
        submit=world.jobs.append,
        clock=lambda: world.now,
        default_music=music,
    )
    media.bind(world.execute)
    return media.start()


_FIELDS = {
    CALL_RINGING: {"agent": "1001", "seat": "1", "leg_id": "L2", "attempt": "1"},
    CALL_NO_ANSWER: {"agent": "1001", "leg_id": "L2"},
    CALL_ANSWERED: {"agent": "1001", "seat": "1", "leg_id": "L2"},
    CALL_ENDED: {"cause": "200", "side": "caller"},
}


def event(kind: str, cid: str = CID) -> Event:
    return Event.new(kind, correlation_id=cid, node="ctl", ts=0.0, **_FIELDS[kind])


def ann(text: str = "您是下一位接听的客户。", seconds: float = 3.0) -> Announcement:
    return Announcement(Path("/cache/zh-1.wav"), seconds, text, 1, None)


def test_parked_caller_hears_the_music_looped_on_its_leg() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()  # the stock music is rendered
    media.parked(CID, "billing")
    assert world.plays == [(CID, "L1", MUSIC, MUSIC_REPEAT)]
    assert world.armed() == [1005.0], "first announcement 5 s after parking"


def test_music_rendered_after_the_call_parked_starts_when_ready() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    media.parked(CID, "billing")  # the stock music job has not run yet
    assert world.plays == []
    world.run()
    assert world.plays == [(CID, "L1", MUSIC, MUSIC_REPEAT)]


def test_music_that_cannot_be_rendered_leaves_silence_not_a_broken_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_sox() -> Path:
        raise PromptError("sox not found; install the Debian package sox")

    world = World(states={CID: "parked"})
    media = make(world, music=no_sox)
    world.run()
    media.parked(CID, "billing")
    assert world.plays == []
    assert "cannot render the music on hold" in caplog.text
    world.answers = [ann()]
    world.advance(5.0)
    assert [p[2] for p in world.plays] == [Path("/cache/zh-1.wav")], "announcements still play"


def test_announcement_every_interval_then_music_again() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "billing")
    world.answers = [ann(seconds=3.0), ann(seconds=3.0)]
    world.advance(5.0)
    assert world.asked == [(CID, "zh")], "asked off the loop, in the queue's language"
    assert world.plays[-1] == (CID, "L1", Path("/cache/zh-1.wav"), 1)
    world.advance(3.0)
    assert world.plays[-1] == (CID, "L1", MUSIC, MUSIC_REPEAT), "music back after 3 s"
    world.advance(24.0)
    assert len(world.asked) == 1
    world.advance(5.0)  # 30 s after the first was asked for
    assert len(world.asked) == 2


def test_queue_settings_language_interval_and_own_music() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "vip")
    assert world.plays == [(CID, "L1", OWN_MUSIC, MUSIC_REPEAT)]
    world.advance(5.0)
    assert world.asked == [(CID, "en")]
    world.advance(20.0)
    assert world.asked == [(CID, "en")] * 2


def test_the_callers_own_language_replaces_the_queues_for_its_announcements() -> None:
    """The IVR's language: English in the Mandarin default queue, Mandarin in the
    English vip queue; the queue's interval and music stay."""
    world = World(states={CID: "parked", "e" * 32: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "billing", "en")
    media.parked("e" * 32, "vip", "zh")
    assert world.plays == [
        (CID, "L1", MUSIC, MUSIC_REPEAT),
        ("e" * 32, "L1", OWN_MUSIC, MUSIC_REPEAT),
    ]
    world.advance(5.0)
    assert sorted(world.asked) == [(CID, "en"), ("e" * 32, "zh")]
    world.advance(20.0)
    assert world.asked[-1] == ("e" * 32, "zh")  # vip's 20 s interval


def test_answer_with_a_fetch_in_flight_plays_nothing_more() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "billing")
    world.answers = [ann()]
    world.now = 1005.0
    world.timers.pop(0).callback()  # the first announcement falls due: its job is submitted
    assert len(world.jobs) == 1
    world.states[CID] = "bridged"
    media.observe(event(CALL_RINGING))
    media.observe(event(CALL_ANSWERED))  # the bridge stopped the player already
    world.run()  # the ACD answers and the sentence is rendered only now
    assert [p[2] for p in world.plays] == [MUSIC]
    assert media.calls == {}
    assert world.armed() == []


def test_the_controller_state_is_checked_before_each_play() -> None:
    """Belt and braces: even without the event, nothing is played over a bridged call."""
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "billing")
    world.states[CID] = "bridged"
    world.answers = [ann()]
    world.advance(5.0)
    assert [p[2] for p in world.plays] == [MUSIC]


def test_ringing_keeps_the_music_and_defers_the_announcement() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "billing")
    world.states[CID] = "ringing"
    media.observe(event(CALL_RINGING))
    world.advance(10.0)
    assert world.asked == [] and [p[2] for p in world.plays] == [MUSIC]
    world.states[CID] = "parked"
    world.answers = [ann()]
    media.observe(event(CALL_NO_ANSWER))
    world.run()
    assert world.asked == [(CID, "zh")]
    assert world.plays[-1][2] == Path("/cache/zh-1.wav")


def test_nothing_to_say_leaves_the_music_alone() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "billing")
    world.advance(5.0)  # no answer from the source (ACD down, rendering failed)
    assert world.asked == [(CID, "zh")]
    assert [p[2] for p in world.plays] == [MUSIC], "the music is not restarted"


def test_rtpengine_refusing_the_announcement_brings_the_music_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(states={CID: "parked"}, fail_play={Path("/cache/zh-1.wav")})
    media = make(world)
    world.run()
    media.parked(CID, "billing")
    world.answers = [ann()]
    world.advance(5.0)
    assert [p[2] for p in world.plays] == [MUSIC, MUSIC]
    assert "rtpengine cannot play /cache/zh-1.wav" in caplog.text


def test_call_end_cancels_everything() -> None:
    world = World(states={CID: "parked"})
    media = make(world)
    world.run()
    media.parked(CID, "billing")
    media.observe(event(CALL_ENDED))
    assert world.armed() == [] and media.calls == {}
    media.observe(event(CALL_NO_ANSWER))  # a late event for a call no longer held
    assert world.armed() == []


def test_close_drops_every_call() -> None:
    world = World(states={CID: "parked", "d" * 32: "parked"})
    closed: list[bool] = []
    media = QueueMedia(
        OPTIONS,
        player=world,
        source=world,
        post=world.loop.append,
        later=world.later,
        submit=world.jobs.append,
        clock=lambda: world.now,
        default_music=lambda: MUSIC,
        on_close=partial(closed.append, True),
    )
    media.bind(world.execute)
    media.parked(CID, "billing")
    media.parked("d" * 32, "billing")
    media.close()
    assert media.calls == {} and closed == [True] and world.armed() == []


# ---------------------------------------------------------------- music after a wait


def test_by_default_the_music_starts_after_one_second_of_waiting() -> None:
    world = World(states={CID: "parked"})
    media = make(world, DELAYED)
    world.run()
    media.parked(CID, "billing")
    assert world.plays == [], "nothing played at parking"
    assert world.armed() == [1001.0], "one timer: the music, then the first announcement"
    world.advance(1.0)
    assert world.plays == [(CID, "L1", MUSIC, MUSIC_REPEAT)]
    assert world.armed() == [1005.0]


def test_a_call_answered_before_the_music_is_due_gets_no_play() -> None:
    world = World(states={CID: "parked"})
    media = make(world, DELAYED)
    world.run()
    media.parked(CID, "billing")
    world.advance(0.05)
    world.states[CID] = "ringing"
    media.observe(event(CALL_RINGING))
    world.advance(0.15)
    world.states[CID] = "bridged"
    media.observe(event(CALL_ANSWERED))
    world.advance(60.0)
    assert world.plays == [] and world.asked == []
    assert world.armed() == [] and media.calls == {}


def test_a_queue_with_its_own_delay() -> None:
    world = World(states={CID: "parked"})
    media = make(world, DELAYED)
    world.run()
    media.parked(CID, "vip")
    world.advance(2.4)
    assert world.plays == []
    world.advance(0.1)
    assert world.plays == [(CID, "L1", OWN_MUSIC, MUSIC_REPEAT)]


def test_music_due_before_it_is_rendered_starts_when_ready() -> None:
    world = World(states={CID: "parked"})
    media = make(world, DELAYED)
    media.parked(CID, "billing")
    world.now += 1.0
    world.timers.pop(0).callback()  # the music is due; the stock music job has not run
    assert world.plays == []
    world.run()
    assert world.plays == [(CID, "L1", MUSIC, MUSIC_REPEAT)]


def test_music_rendered_before_it_is_due_waits_for_its_time() -> None:
    world = World(states={CID: "parked"})
    media = make(world, DELAYED)
    media.parked(CID, "billing")
    world.run()  # rendered at once
    assert world.plays == []
    world.advance(1.0)
    assert world.plays == [(CID, "L1", MUSIC, MUSIC_REPEAT)]


# ---------------------------------------------------------------- AcdAnnouncements


class FakeAcd:
    def __init__(self, reply: pb.GetCallPositionResponse | Exception) -> None:
        self.reply = reply
        self.sent: list[tuple[str, Any, float | None]] = []

    def call(
        self,
        method: str,
        request: Any,
        reply_type: type[Any],
        *,
        retry_for: float | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Any:
        self.sent.append((method, request, retry_for))
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


class Unavailable(grpc.RpcError):  # type: ignore[misc]
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


def fake_wav(tmp_path: Path, seconds: float = 2.0) -> Path:
    path = tmp_path / "prompt.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return path


def test_announcement_words_the_position_and_wait_in_the_queue_language(tmp_path: Path) -> None:
    wav = fake_wav(tmp_path, 2.5)
    rendered: list[tuple[str, str, Path]] = []

    def render(text: str, language: Language, cache: Path) -> Path:
        rendered.append((text, language, cache))
        return wav

    acd = FakeAcd(
        pb.GetCallPositionResponse(
            queue="billing", waiting=True, position=3, queue_length=4, expected_wait_seconds=110
        )
    )
    source = AcdAnnouncements(acd, tmp_path, retry_s=2.0, render=render)
    got = source.announcement(CID, "en", lambda: False)
    assert got == Announcement(
        wav.resolve(),
        2.5,
        "You are number 3 in the queue. The expected wait is about 2 minutes.",
        3,
        110.0,
    )
    assert acd.sent[0][0] == "GetCallPosition" and acd.sent[0][1].call_id == CID
    assert acd.sent[0][2] == 2.0
    zh = source.announcement(CID, "zh", lambda: False)
    assert zh is not None and zh.text == "您前面还有2位客户，预计等待2分钟。"
    assert rendered[1][1:] == ("zh", tmp_path)


@pytest.mark.parametrize(
    "reply",
    [
        pb.GetCallPositionResponse(error=pb.Error(code=pb.ERROR_CODE_UNKNOWN_CALL, message="x")),
        pb.GetCallPositionResponse(queue="billing", waiting=False),  # an agent rings
    ],
)
def test_nothing_to_announce(reply: pb.GetCallPositionResponse, tmp_path: Path) -> None:
    source = AcdAnnouncements(FakeAcd(reply), tmp_path, render=lambda *a: fake_wav(tmp_path))
    assert source.announcement(CID, "zh", lambda: False) is None


def test_failures_are_logged_once_and_give_no_announcement(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def no_espeak(text: str, language: Language, cache: Path) -> Path:
        raise PromptError("espeak-ng not found; install the Debian package espeak-ng")

    waiting = pb.GetCallPositionResponse(queue="billing", waiting=True, position=1)
    source = AcdAnnouncements(FakeAcd(waiting), tmp_path, render=no_espeak)
    with caplog.at_level(logging.DEBUG, logger="controller.queue_media"):
        assert source.announcement(CID, "zh", lambda: False) is None
        assert source.announcement("d" * 32, "zh", lambda: False) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "espeak-ng not found" in warnings[0].getMessage()
    down = AcdAnnouncements(FakeAcd(Unavailable()), tmp_path, render=no_espeak)
    assert down.announcement(CID, "zh", lambda: False) is None
    assert "did not answer GetCallPosition" in caplog.text


# ---------------------------------------------------------------- options


def test_queue_media_option_parsing() -> None:
    assert parse_queue_media("billing:en:20") == ("billing", QueueMediaSettings("en", 20.0))
    assert parse_queue_media("vip:zh:0:/srv/moh/a:b.wav") == (
        "vip",
        QueueMediaSettings("zh", 0.0, Path("/srv/moh/a:b.wav")),
    )
    for bad in (
        "billing",
        "billing:fr:20",
        "billing:en:soon",
        "billing:en:-1",
        ":en:3",
        "billing:en:inf",
        "billing:en:nan",
    ):
        with pytest.raises(ValueError):
            parse_queue_media(bad)


def test_controller_cli(tmp_path: Path) -> None:
    base = ["--sip", "127.0.0.1:5070", "--rtpengine", "127.0.0.1:2223"]
    acd = ["--acd", "127.0.0.1:50051", "--queue-for", "95598=billing", "--acd-timeout", "0.5"]
    assert parse_args([*base, *acd]).queue_media is None
    config = parse_args(
        [
            *base,
            *acd,
            "--prompt-cache",
            str(tmp_path),
            "--hold-language",
            "en",
            "--announce-every",
            "45",
            "--announce-first",
            "2",
            "--queue-media",
            "vip:zh:20",
        ]
    )
    options = config.queue_media
    assert options is not None
    assert options.cache_dir == tmp_path.resolve() and options.first_announce_s == 2.0
    assert options.default == QueueMediaSettings("en", 45.0)
    assert options.for_queue("vip") == QueueMediaSettings("zh", 20.0)
    assert options.rpc_timeout_s == 0.5
    for argv in (
        [*base, "--prompt-cache", str(tmp_path)],  # needs --acd
        [*base, *acd, "--queue-media", "vip:zh:20"],  # needs --prompt-cache
        [
            *base,
            *acd,
            "--prompt-cache",
            str(tmp_path),
            "--queue-media",
            "v:zh:1",
            "--queue-media",
            "v:en:2",
        ],
    ):
        with pytest.raises(SystemExit):
            parse_args(argv)


def test_music_after_option() -> None:
    base = [
        "--sip",
        "127.0.0.1:5070",
        "--rtpengine",
        "127.0.0.1:2223",
        "--acd",
        "127.0.0.1:50051",
        "--queue-for",
        "95598=billing",
        "--prompt-cache",
        "/c",
    ]
    options = parse_args(base).queue_media
    assert options is not None and options.for_queue("any").music_after_s == 1.0
    options = parse_args(
        [
            *base,
            "--queue-media",
            "vip:en:20",
            "--music-after",
            "0.5",
            "--music-after",
            "vip=0",
            "--music-after",
            "sales=3",
        ]
    ).queue_media
    assert options is not None
    assert options.default.music_after_s == 0.5
    assert options.for_queue("billing").music_after_s == 0.5, "the default for the rest"
    assert options.for_queue("vip") == QueueMediaSettings("en", 20.0, music_after_s=0.0)
    assert options.for_queue("sales") == QueueMediaSettings("zh", 30.0, music_after_s=3.0)
    assert parse_music_after("2") == (None, 2.0)
    assert parse_music_after("a=b=1.5") == ("a=b", 1.5)
    for bad in ("=1", "vip=", "vip=-1", "soon", "inf"):
        with pytest.raises(ValueError):
            parse_music_after(bad)
    for twice in (
        ["--music-after", "1", "--music-after", "2"],
        ["--music-after", "v=1", "--music-after", "v=2"],
    ):
        with pytest.raises(SystemExit):
            parse_args([*base, *twice])
