"""`HoldTimeline`: when a waiting caller hears music and announcements (pure, fake clock)."""

from __future__ import annotations

from pathlib import Path

from controller._queue_media import Announcement, HoldTimeline, PlayAnnouncement, Step

MUSIC, FETCH = Step.MUSIC, Step.FETCH


def announcement(seconds: float = 3.0) -> Announcement:
    return Announcement(Path("/cache/en-x.wav"), seconds, "You are next in the queue.", 1, None)


def timeline(every: float = 30.0, first: float = 5.0, at: float = 100.0) -> HoldTimeline:
    t = HoldTimeline(every_s=every, first_s=first)
    assert t.start(at) == [MUSIC], "music from the moment the caller is parked"
    return t


def test_music_at_once_first_announcement_after_first_s_then_every_interval() -> None:
    t = timeline()
    assert t.next_wakeup() == 105.0
    assert t.due(104.9) == []
    assert t.due(105.0) == [FETCH]
    assert t.next_wakeup() is None, "nothing to wake for while the fetch is out"
    ann = announcement(3.0)
    assert t.fetched(105.2, ann) == [PlayAnnouncement(ann)]
    assert t.next_wakeup() == 108.2, "the music comes back when the announcement has played"
    assert t.due(108.2) == [MUSIC]
    assert t.next_wakeup() == 135.0, "start to start: 30 s after the first was asked for"
    assert t.due(135.0) == [FETCH]


def test_interval_zero_is_music_only() -> None:
    t = timeline(every=0)
    assert t.next_wakeup() is None
    assert t.due(10_000.0) == []


def test_nothing_to_say_keeps_the_music_and_the_rhythm() -> None:
    t = timeline()
    assert t.due(105.0) == [FETCH]
    assert t.fetched(105.5, None) == [], "ACD unreachable, not waiting, or rendering failed"
    assert t.next_wakeup() == 135.0


def test_no_announcement_starts_while_an_agent_rings_it_is_made_when_the_ring_fails() -> None:
    t = timeline()
    assert t.ringing(103.0) == []
    assert t.next_wakeup() is None, "nothing due while ringing: the music just goes on"
    assert t.due(110.0) == []
    assert t.no_answer(120.0) == [FETCH], "overdue: asked for at once after the ring"
    assert t.next_wakeup() is None


def test_a_fetch_back_during_a_ring_is_dropped_and_asked_for_afresh_after_it() -> None:
    t = timeline()
    assert t.due(105.0) == [FETCH]
    t.ringing(105.1)
    assert t.fetched(105.3, announcement()) == [], "the position is stale: an agent rings"
    assert t.no_answer(118.0) == [FETCH]


def test_an_answer_drops_an_announcement_in_flight() -> None:
    t = timeline()
    assert t.due(105.0) == [FETCH]
    t.ringing(105.1)
    t.done()  # answered: the bridge stopped the player
    assert t.fetched(105.3, announcement()) == []
    assert t.due(200.0) == []
    assert t.next_wakeup() is None
    assert t.announcement_failed(200.0) == []


def test_an_announcement_playing_when_the_ring_starts_is_followed_by_music() -> None:
    t = timeline()
    assert t.due(105.0) == [FETCH]
    assert t.fetched(105.0, announcement(4.0)) == [PlayAnnouncement(announcement(4.0))]
    t.ringing(106.0)
    assert t.next_wakeup() == 109.0
    assert t.due(109.0) == [MUSIC], "typical ACDs keep the music while the agent's phone rings"
    assert t.next_wakeup() is None


def test_a_long_announcement_is_followed_by_half_an_interval_of_music() -> None:
    t = timeline(every=10.0)
    assert t.due(105.0) == [FETCH]
    t.fetched(105.0, announcement(12.0))  # longer than the interval
    assert t.next_wakeup() == 117.0
    assert t.due(117.0) == [MUSIC]
    assert t.next_wakeup() == 122.0, "not back to back: at least 5 s of music"


def test_an_announcement_rtpengine_refuses_brings_the_music_back_at_once() -> None:
    t = timeline()
    t.due(105.0)
    t.fetched(105.0, announcement(4.0))
    assert t.announcement_failed(105.0) == [MUSIC]
    assert t.next_wakeup() == 135.0


def test_one_fetch_at_a_time() -> None:
    t = timeline(every=1.0, first=1.0)
    assert t.due(101.0) == [FETCH]
    assert t.due(150.0) == [], "the first is still out"
    assert t.fetched(150.0, None) == []
    assert t.due(150.0) == [], "a slow failure is not retried at once"
    assert t.next_wakeup() == 150.5
    assert t.due(150.5) == [FETCH]


# ---------------------------------------------------------------- music only after a wait


def delayed(
    every: float = 30.0, first: float = 5.0, after: float = 1.0, at: float = 100.0
) -> HoldTimeline:
    t = HoldTimeline(every_s=every, first_s=first, music_after_s=after)
    assert t.start(at) == [], "silence while the caller has barely waited"
    return t


def test_music_starts_only_once_the_caller_has_waited() -> None:
    t = delayed()
    assert not t.wants_music
    assert t.next_wakeup() == 101.0
    assert t.due(100.9) == []
    assert t.due(101.0) == [MUSIC]
    assert t.wants_music
    assert t.next_wakeup() == 105.0, "the first announcement keeps its time from parking"
    assert t.due(105.0) == [FETCH]
    assert t.fetched(105.1, announcement(3.0)) == [PlayAnnouncement(announcement(3.0))]
    assert t.due(108.1) == [MUSIC]
    assert t.due(135.0) == [FETCH], "the interval is unchanged"


def test_a_call_answered_before_the_music_is_due_is_played_nothing() -> None:
    t = delayed()
    assert t.ringing(100.05) == []
    assert t.next_wakeup() == 101.0
    t.done()  # the agent answered 0.2 s after parking
    assert t.next_wakeup() is None
    assert t.due(101.0) == [] and t.due(105.0) == []
    assert not t.wants_music


def test_the_music_starts_on_time_while_an_agent_rings() -> None:
    t = delayed()
    t.ringing(100.1)
    assert t.next_wakeup() == 101.0, "the caller has waited: music through the ring"
    assert t.due(101.0) == [MUSIC]
    assert t.next_wakeup() is None, "no announcement while ringing"
    assert t.no_answer(106.0) == [FETCH], "the one due at 105 is made after the ring"


def test_a_ring_that_fails_before_the_music_is_due_keeps_the_delay() -> None:
    t = delayed(after=2.0)
    t.ringing(100.1)
    assert t.no_answer(100.5) == []
    assert t.next_wakeup() == 102.0
    assert t.due(102.0) == [MUSIC]


def test_an_announcement_before_the_music_is_followed_by_the_music() -> None:
    t = delayed(first=0.5, after=3.0)
    assert t.next_wakeup() == 100.5
    assert t.due(100.5) == [FETCH]
    assert t.fetched(100.6, announcement(1.0)) == [PlayAnnouncement(announcement(1.0))]
    assert t.next_wakeup() == 101.6, "the announcement's end, before the music's time"
    assert t.due(101.6) == [MUSIC], "no silence after the caller heard something"
    assert t.next_wakeup() == 130.5
    assert t.due(103.0) == [], "the music does not start a second time"


def test_the_music_due_during_an_announcement_comes_after_it() -> None:
    t = delayed(first=0.5, after=1.0)
    t.due(100.5)
    t.fetched(100.5, announcement(2.0))
    assert t.due(101.0) == [], "not over the announcement"
    assert t.next_wakeup() == 102.5
    assert t.due(102.5) == [MUSIC]


def test_a_refused_announcement_before_the_music_is_due_leaves_the_delay() -> None:
    t = delayed(first=0.5, after=3.0)
    t.due(100.5)
    t.fetched(100.5, announcement(1.0))
    assert t.announcement_failed(100.5) == [], "the music is not due yet"
    assert t.next_wakeup() == 103.0
    assert t.due(103.0) == [MUSIC]


def test_nothing_to_say_before_the_music_leaves_it_on_time() -> None:
    t = delayed(first=0.5, after=3.0)
    assert t.due(100.5) == [FETCH]
    assert t.fetched(101.0, None) == []
    assert t.next_wakeup() == 103.0
    assert t.due(103.0) == [MUSIC]


def test_music_after_zero_is_music_at_once() -> None:
    t = HoldTimeline(every_s=30.0, first_s=5.0, music_after_s=0.0)
    assert t.start(100.0) == [MUSIC]
    assert t.wants_music
