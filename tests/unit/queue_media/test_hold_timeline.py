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
