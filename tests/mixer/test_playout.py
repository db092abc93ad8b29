"""An input's playout (mixer/_playout.py): which frame plays on which tick, and how the
cushion adapts. Pure: ticks are numbers, a stream is a list of (seq, ts, arrival tick)."""

from __future__ import annotations

from mixer._playout import (
    FRAME,
    MAX_SHRINK_AFTER_TICKS,
    REANCHOR_TICKS,
    SHRINK_AFTER_TICKS,
    Playout,
)


def frame(n: int) -> bytes:
    return n.to_bytes(2, "big") * (FRAME // 2)


class Run:
    """Drives a playout as the engine does: packets arrive between ticks, then the tick
    runs; records what each tick played (the frame's number, or None)."""

    def __init__(self, max_cushion: int = 2) -> None:
        self.playout = Playout(max_cushion)
        self.tick = 0  # the next tick to run
        self.played: dict[int, int | None] = {}

    def arrive(
        self,
        n: int,
        *,
        seq: int | None = None,
        ts: int | None = None,
        ssrc: int = 7,
        seq0: int = 1000,
        ts0: int = 5000,
    ) -> None:
        self.playout.push(
            ssrc,
            (seq0 + n if seq is None else seq) & 0xFFFF,
            (ts0 + n * FRAME if ts is None else ts) & 0xFFFFFFFF,
            frame(n),
            arrival_tick=self.tick,
            open_tick=self.tick,
        )

    def run_tick(self) -> None:
        got = self.playout.pop(self.tick)
        self.played[self.tick] = None if got is None else int.from_bytes(got[:2], "big")
        self.tick += 1

    def frames_played(self) -> list[int]:
        return [n for n in self.played.values() if n is not None]


def test_a_steady_stream_plays_with_no_cushion() -> None:
    run = Run()
    for n in range(200):
        run.arrive(n)  # just before its tick
        run.run_tick()
    assert run.frames_played() == list(range(200))
    assert run.played[0] == 0  # no added delay: the frame plays on the tick it came for
    assert run.playout.cushion == 0 and run.playout.late == 0 and run.playout.queued == 0


def test_jitter_around_the_tick_boundary_costs_one_gap_and_no_frame() -> None:
    """Packets land on both sides of the boundary (the FIFO's 0/2 frames a tick): the
    first one after its tick grows the cushion to one frame, plays on the next tick (one
    tick without it, no frame lost), and the cushion stays there."""
    run = Run()
    for t in range(500):  # frame n is for tick n; odd ones arrive just after their tick
        if t % 2 == 0:
            if t > 0:
                run.arrive(t - 1)
            run.arrive(t)
        run.run_tick()
    assert run.playout.late == 0 and run.playout.grown == 1 and run.playout.cushion == 1
    assert run.frames_played() == list(range(499))  # every frame
    assert run.played[1] is None and run.played[2] == 1  # one frame of delay from then


def test_reordered_packets_play_in_timestamp_order() -> None:
    run = Run(max_cushion=2)
    run.arrive(0)
    run.arrive(1)
    run.run_tick()
    for n in range(2, 60, 2):  # each pair arrives swapped, both a tick ahead
        run.arrive(n + 1)
        run.arrive(n)
        run.run_tick()
        run.run_tick()
    assert run.frames_played()[:58] == list(range(58))
    assert run.playout.late == 0


def test_a_delayed_burst_grows_the_cushion_by_what_it_needed() -> None:
    run = Run(max_cushion=2)
    for n in range(10):
        run.arrive(n)
        run.run_tick()
    for _ in range(3):  # frames 10-12 held up in the network...
        run.run_tick()
    for n in range(10, 14):  # ...and delivered together
        run.arrive(n)
    for n in range(14, 40):
        run.run_tick()
        run.arrive(n)
    run.run_tick()
    assert run.playout.cushion == 2  # needed 3, bounded by max_cushion
    assert run.playout.late == 1  # only frame 10: the cushion covers 11 and on
    assert run.frames_played() == [*range(10), *range(11, 38)]  # 38, 39 queued


def test_an_early_burst_is_queued_and_plays_on_time() -> None:
    run = Run()
    run.arrive(0)
    for n in range(1, 6):
        run.arrive(n)  # a burst: five frames ahead of time
    for _ in range(6):
        run.run_tick()
    assert run.frames_played() == list(range(6)) and run.playout.late == 0


def test_a_pause_then_resume_keeps_timing_and_adds_no_delay() -> None:
    """Silence suppression (or a DTMF pause): no packets for 2 s, seq goes on by one,
    the timestamp by the pause; playing resumes on the tick the frame came for."""
    run = Run()
    for n in range(20):
        run.arrive(n)
        run.run_tick()
    for _ in range(100):
        run.run_tick()
    for n in range(120, 140):
        run.arrive(n, seq=1000 + n - 100)  # seq continues, the timestamp jumped
        tick = run.tick
        run.run_tick()
        assert run.played[tick] == n
    assert run.playout.late == 0 and run.playout.cushion == 0 and run.playout.anchors == 1


def test_sequence_and_timestamp_wrap() -> None:
    run = Run()
    for n in range(40):
        run.arrive(n, seq0=65520, ts0=0xFFFFFFFF - 10 * FRAME)
        run.run_tick()
    assert run.frames_played() == list(range(40))
    assert run.playout.late == 0 and run.playout.anchors == 1 and run.playout.duplicates == 0


def test_duplicates_are_dropped_and_not_late() -> None:
    run = Run()
    for n in range(10):
        run.arrive(n)
        run.arrive(n)  # before its tick
        run.run_tick()
        run.arrive(n)  # after it
    assert run.frames_played() == list(range(10))
    assert run.playout.duplicates == 20 and run.playout.late == 0 and run.playout.cushion == 0


def test_a_new_ssrc_or_a_timestamp_jump_anchors_the_stream_again() -> None:
    run = Run()
    for n in range(10):
        run.arrive(n)
        run.run_tick()
    for n in range(10, 20):  # another source: its own seq and timestamp
        run.arrive(n, ssrc=8, seq=n * 7, ts=123456789 + n * FRAME)
        run.run_tick()
    for n in range(20, 30):  # same source, the timestamp jumps ahead by an hour
        run.arrive(n, ssrc=8, seq=n * 7, ts=123456789 + n * FRAME + 8000 * 3600)
        run.run_tick()
    assert run.frames_played() == list(range(30))
    assert run.playout.late == 0 and run.playout.anchors == 3
    assert REANCHOR_TICKS < 3600 * 50


def test_a_timestamp_jump_back_anchors_again_after_a_few_late_frames() -> None:
    run = Run(max_cushion=1)
    for n in range(10):
        run.arrive(n)
        run.run_tick()
    for n in range(10, 30):  # the timestamp goes back 10 frames (0.2 s)
        run.arrive(n, ts=5000 + (n - 10) * FRAME)
        run.run_tick()
    # 10 and 11 late (the cushion grows to its bound), 12 anchors the stream again
    assert run.playout.late == 2 and run.playout.cushion == 1 and run.playout.anchors == 2
    assert run.frames_played()[-17:] == list(range(12, 29))


def test_the_cushion_shrinks_after_a_calm_period() -> None:
    run = Run()
    for n in range(5):
        run.arrive(n)
        run.run_tick()
    run.run_tick()
    run.run_tick()
    for n in range(5, 8):  # frames 5-6 two ticks late: the cushion grows to two frames
        run.arrive(n)
    assert run.playout.cushion == 2 and run.playout.late == 0 and run.playout.grown == 1
    for n in range(8, 8 + 3 * SHRINK_AFTER_TICKS):  # then steady again
        run.run_tick()
        run.arrive(n)
    assert run.playout.cushion == 0  # one frame a calm period
    assert run.playout.trimmed == 2  # each shrink drops the frame due next
    assert run.playout.late == 0
    run.run_tick()
    last = 8 + 3 * SHRINK_AFTER_TICKS - 1
    assert run.played[run.tick - 1] == last  # no delay left: the newest frame played


def test_jitter_that_comes_back_makes_the_cushion_shrink_more_slowly() -> None:
    """A frame just after its tick every 3 s: with 2 s of calm enough, each shrink would
    be followed by a late frame (a frame lost for each). The shrink proved wrong doubles
    the calm period, longer than the jitter's: the cushion stays one frame."""
    run = Run()
    for t in range(60 * 50):  # a minute
        if t % 150 == 149:
            run.run_tick()
            run.arrive(t)  # after its tick
        else:
            run.arrive(t)
            run.run_tick()
    assert run.playout.shrink_after == 2 * SHRINK_AFTER_TICKS <= MAX_SHRINK_AFTER_TICKS
    # Of 3,000 frames; without the backoff, every cycle would shrink and trim a frame.
    assert (run.playout.late, run.playout.trimmed) == (0, 1)
    assert run.playout.cushion == 1


def test_a_held_up_loop_does_not_count_what_its_catch_up_ticks_will_play() -> None:
    """The loop ran late: ticks 10-12 are due by the clock and have not run. A frame for
    tick 10 read now is not late: the catch-up ticks play it (commit 1160808's intent)."""
    playout = Playout(2)
    for n in range(10):
        playout.push(7, n, n * FRAME, frame(n), arrival_tick=n, open_tick=n)
        assert playout.pop(n) == frame(n)
    for n in range(10, 13):  # read when the clock is at tick 13, the loop at 10
        playout.push(7, n, n * FRAME, frame(n), arrival_tick=13, open_tick=10)
    assert [playout.pop(t) for t in (10, 11, 12)] == [frame(10), frame(11), frame(12)]
    assert playout.late == 0 and playout.cushion == 0


def test_skipped_ticks_drop_their_frames_as_late() -> None:
    playout = Playout(2)
    for n in range(4):
        playout.push(7, n, n * FRAME, frame(n), arrival_tick=0, open_tick=0)
    assert playout.pop(0) == frame(0)
    assert playout.pop(3) == frame(3) and playout.late == 2 and playout.queued == 0


def test_a_packet_of_several_frames_fills_consecutive_ticks() -> None:
    playout = Playout(2)
    playout.push(7, 0, 0, frame(1) + frame(2), arrival_tick=0, open_tick=0)
    assert playout.pop(0) == frame(1) and playout.pop(1) == frame(2)
