"""Dead-leg detection (capability 9): end a call whose leg stopped sending media.

A phone that crashes, loses power or loses its network sends no BYE; without this
check its call (and the agent it holds "in call") would last until someone hangs
up by hand. rtpengine sees every packet of every leg, so the controller asks it.

How it works:
- A worker thread, with its own ng client, asks rtpengine `query` for each call
  (call-id = correlation ID). The reply has, per monologue (tag = leg id), per
  stream, `stats.packets`: the packets rtpengine *received from* that leg. Media
  that rtpengine plays to a leg (`play media`) is not counted there.
- Each call is queried once per `--media-check-interval`, and the queries of one
  round are spread evenly over the interval, so 1,000 calls do not become a burst
  of 1,000 ng requests.
- The replies go back to the SIP loop (`post`, i.e. `ED2.callFromThread`, in
  batches of up to 0.1 s), where `judge` decides with the call's state *at that
  moment* (a hold may have started while the query was in flight). A leg is
  dead when its packet count has not moved for `--rtp-timeout` seconds of the
  controller's monotonic clock; the service then ends the call
  (`CallService.media_timeout`: cause `media timeout`, side of the silent leg).

Why packet counts rather than the streams' `last packet` time: `last packet` is
in whole seconds of rtpengine's wall clock (another host's, in production), and
it starts at the stream's creation time. A count compared on our own monotonic
clock has neither the skew nor the one-second granularity. The price is
resolution: a leg is declared dead between `timeout` and `timeout + 2 * interval`
after its last packet. RTCP counts as life too: a phone using silence suppression
sends RTCP while it sends no RTP, and it is not dead.

Which legs are watched (`watched_legs`): every answered leg whose own last SDP
is `sendrecv` (the caller also while parked or hearing a prompt: it still sends
RTP). Nothing is watched while the call is on hold (`held_by`): the holder may
send music or nothing, and the held side sends nothing. Watching starts afresh
(a full timeout of grace) whenever a leg becomes watched again, e.g. after a
resume.

Nothing here blocks the SIP loop: the ng requests (each up to `--ng-timeout`) run
on the worker; the loop only takes a snapshot of call ids and applies replies.
(The worker's Python work, mostly decoding replies, still takes the GIL from the
loop for ~0.1 ms per query.)

Cost, measured (benchmarks/controller_media.py, 600 calls): about 0.35 ms of the
controller's CPU per query (a `query` reply is ~2.6 KB of bencode, decoded in
Python), so (concurrent calls / interval) x 0.35 ms each second: 3.5 % of a core
for 1,000 calls at the default 10 s interval, twice that at 5 s. Hence the
default: a dead leg is found 30-50 s after its last packet with the default 30 s
timeout.
"""

from __future__ import annotations

import argparse
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from controller._call import Call, CallLeg, CallPhase, LegState
from controller._sdp import direction, media_endpoint
from rtpengine import NgClient, NgError

log = logging.getLogger("controller.liveness")

DEFAULT_RTP_TIMEOUT_S = 30.0
DEFAULT_CHECK_INTERVAL_S = 10.0
BATCH_S = 0.1  # the longest a reply waits on the worker before it goes to the loop


class LivenessService(Protocol):
    """What the checker needs of `CallService` (read-only calls, one ending hook)."""

    @property
    def calls(self) -> Mapping[str, Call]: ...

    def media_timeout(self, cid: str, leg_id: str) -> None: ...


Post = Callable[..., None]  # run a callable with arguments on the SIP loop, later


# ------------------------------------------------------------------- pure decisions
@dataclass(frozen=True, slots=True)
class Heard:
    """What was last seen of one leg: its packet count, and when that count last moved."""

    packets: int | None  # None: rtpengine had no such leg (or no such call) at first sight
    since: float  # the checker's clock when the count last changed, or watching began


@dataclass(frozen=True, slots=True)
class Verdict:
    tracks: dict[str, Heard]  # the legs still watched, to pass to the next `judge`
    dead_leg: str | None  # the leg to end the call for, if any
    silent_s: float = 0.0  # how long that leg has been silent


def sends_media(sdp: str | None) -> bool:
    """True when a party's last SDP says it will send us audio (sendrecv, not 0.0.0.0)."""
    if sdp is None:
        return False
    endpoint = media_endpoint(sdp)
    return direction(sdp) == "sendrecv" and not (
        endpoint is not None and endpoint[0] in ("0.0.0.0", "::")
    )


def watched_legs(call: Call) -> list[str]:
    """The legs of `call` that must be sending RTP now, caller first.

    Every answered leg whose own last SDP is `sendrecv`: the caller while parked,
    hearing a prompt or ringing an agent (it still sends), the agent once it
    answered, a consulted or intercepting agent once it answered. Nothing while
    any hold is on (`held_by`: a party's hold, or the caller waiting during a
    consultation), since then some legs may rightly be silent.
    """
    if call.state in (CallPhase.NEW, CallPhase.ENDED) or call.held_by:
        return []
    # The third slot (transfer target, intercepting supervisor) where the call has one.
    consult: CallLeg | None = getattr(call, "consult", None)
    return [
        leg.leg_id
        for leg in (call.caller, call.agent, consult)
        if leg is not None and leg.state is LegState.ANSWERED and sends_media(leg.remote_sdp)
    ]


def judge(
    previous: Mapping[str, Heard],
    watched: Sequence[str],
    packets: Mapping[str, int],
    now: float,
    timeout_s: float,
) -> Verdict:
    """Which watched leg (if any) has sent nothing for `timeout_s`, given a fresh query.

    `packets` maps rtpengine tags (leg ids) to packets received from that leg. A leg
    seen for the first time, or whose count changed (up, or down when rtpengine
    replaced its streams), is alive as of `now`. A watched leg missing from
    `packets` sent nothing new: rtpengine dropped it or the whole call (its own
    --timeout, a restart), so its silence goes on counting from before. Of several
    dead legs, the one silent longest is named (the caller on a tie).
    """
    tracks: dict[str, Heard] = {}
    dead: str | None = None
    dead_since = float("inf")
    for leg in watched:
        count = packets.get(leg)
        before = previous.get(leg)
        if before is None or (count is not None and count != before.packets):
            tracks[leg] = Heard(count, now)
            continue
        tracks[leg] = before
        if now - before.since >= timeout_s and before.since < dead_since:
            dead, dead_since = leg, before.since
    return Verdict(tracks, dead, now - dead_since if dead is not None else 0.0)


def leg_packets(reply: Mapping[str, Any]) -> dict[str, int]:
    """Packets received from each tag (RTP and RTCP, every stream) in an ng `query` reply."""
    counts: dict[str, int] = {}
    tags = reply.get("tags")
    if not isinstance(tags, Mapping):
        return counts
    for tag, monologue in tags.items():
        total = 0
        medias = monologue.get("medias") if isinstance(monologue, Mapping) else None
        for media in medias if isinstance(medias, list) else []:
            streams = media.get("streams") if isinstance(media, Mapping) else None
            for stream in streams if isinstance(streams, list) else []:
                stats = stream.get("stats") if isinstance(stream, Mapping) else None
                value = stats.get("packets") if isinstance(stats, Mapping) else None
                if isinstance(value, int):
                    total += value
        counts[str(tag)] = total
    return counts


# ------------------------------------------------------------------ the checker
class ProbeError(Exception):
    """rtpengine did not answer a query: no information, so no decision."""


class RtpengineProbe:
    """Packets per leg of one call, from rtpengine. Worker thread only (own socket)."""

    def __init__(self, host: str, port: int, *, timeout: float) -> None:
        self._ng = NgClient(host, port, timeout=timeout)

    def __call__(self, cid: str) -> dict[str, int]:
        try:
            return leg_packets(self._ng.query(cid))
        except NgError as exc:
            # rtpengine forgot the call (its own --timeout, a restart): its media is
            # gone, which is silence on every leg, not a lack of information.
            if "Unknown call-id" in str(exc):
                return {}
            raise ProbeError(str(exc)) from exc

    def close(self) -> None:
        self._ng.close()


Probe = Callable[[str], Mapping[str, int]]


class LivenessChecker:
    """Asks rtpengine about every call's legs from a worker thread; decides on the loop."""

    def __init__(
        self,
        service: LivenessService,
        probe: Probe,
        *,
        rtp_timeout_s: float,
        interval_s: float,
        post: Post,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rtp_timeout_s <= 0 or interval_s <= 0:
            raise ValueError("rtp timeout and check interval must be positive")
        self.service = service
        self.probe = probe
        self.rtp_timeout_s = rtp_timeout_s
        self.interval_s = interval_s
        self.post = post
        self.clock = clock
        self._tracks: dict[str, dict[str, Heard]] = {}  # loop thread only
        self._stop = threading.Event()
        # Pacing between queries; returns True once stop() was called.
        self.wait: Callable[[float], bool] = self._stop.wait
        self._thread: threading.Thread | None = None
        # Counters (each written by one thread, read for diagnostics and tests).
        self.queries = 0
        self.probe_errors = 0
        self.ended = 0
        self._failing = False  # worker thread: the last query got no answer

    @classmethod
    def start_if_enabled(
        cls,
        service: LivenessService,
        rtpengine: tuple[str, int],
        *,
        rtp_timeout_s: float,
        interval_s: float,
        ng_timeout_s: float,
        post: Post,
    ) -> LivenessChecker | None:
        """The controller's checker on `rtpengine`, running; None when the timeout is 0."""
        if rtp_timeout_s <= 0:
            log.info("media liveness check off (--rtp-timeout 0)")
            return None
        probe = RtpengineProbe(*rtpengine, timeout=ng_timeout_s)
        checker = cls(service, probe, rtp_timeout_s=rtp_timeout_s, interval_s=interval_s, post=post)
        checker.start(close=probe.close)
        log.info(
            "media liveness check: rtp timeout %ss, every call queried every %ss",
            rtp_timeout_s,
            interval_s,
        )
        return checker

    def stats(self) -> dict[str, Any]:
        """What the `liveness` control command reports (read from any thread)."""
        return {
            "enabled": True,
            "rtp_timeout_s": self.rtp_timeout_s,
            "check_interval_s": self.interval_s,
            "queries": self.queries,
            "probe_errors": self.probe_errors,
            "ended": self.ended,
        }

    def start(self, close: Callable[[], None] | None = None) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(close,), name="liveness", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- worker thread
    def _run(self, close: Callable[[], None] | None) -> None:
        try:
            while not self._stop.is_set():
                self.run_round()
        finally:
            if close is not None:
                close()

    def run_round(self) -> None:
        """One interval: query each due call, evenly spaced; hand the replies to the loop.

        Replies go to the loop in batches, at most every `BATCH_S`: one loop wake-up
        per batch rather than per call (each costs the loop a signal and a hand-off).
        """
        started = self.clock()
        due = self._due_calls()
        if not due:
            self.wait(max(0.0, started + self.interval_s - self.clock()))
            return
        gap = self.interval_s / len(due)
        batch: list[tuple[str, Mapping[str, int], float]] = []
        posted = started
        for index, cid in enumerate(due):
            if self._stop.is_set():
                return
            # A call that ended since the snapshot (up to an interval ago) has no
            # rtpengine session any more, and rtpengine logs a WARNING for a query of an
            # unknown call-id. A membership test of the loop's dict is atomic under the
            # GIL; the window left (ended between this test and the query) is a packet's.
            if cid in self.service.calls:
                self._query(cid, batch)
            if batch and (index == len(due) - 1 or self.clock() - posted >= BATCH_S):
                self.post(self._apply_batch, batch)
                batch, posted = [], self.clock()
            self.wait(max(0.0, started + (index + 1) * gap - self.clock()))

    def _query(self, cid: str, batch: list[tuple[str, Mapping[str, int], float]]) -> None:
        try:
            packets = self.probe(cid)
        except ProbeError as exc:  # rtpengine slow or down: decide nothing this time
            self.probe_errors += 1
            if not self._failing:
                log.warning("media check: %s; no call is judged until rtpengine answers", exc)
            self._failing = True
        else:
            if self._failing:
                log.warning("media check: rtpengine answers again")
            self._failing = False
            self.queries += 1
            batch.append((cid, packets, self.clock()))

    def _due_calls(self) -> list[str]:
        """The calls with a watched leg, read on the loop (the worker never reads calls)."""
        box: queue.Queue[list[str]] = queue.Queue(maxsize=1)
        self.post(self._snapshot, box)
        # A loop that does not answer within an interval is stopping or stalled; wait in
        # short slices so that stop() is not held up by a loop that has already ended.
        deadline = self.clock() + self.interval_s
        while not self._stop.is_set():
            try:
                return box.get(timeout=max(0.0, min(0.1, deadline - self.clock())))
            except queue.Empty:
                if self.clock() >= deadline:
                    break
        return []

    # -- SIP loop
    def _snapshot(self, box: queue.Queue[list[str]]) -> None:
        due = []
        for cid, call in self.service.calls.items():
            if watched_legs(call):
                due.append(cid)
            else:
                # Not watched now (on hold, not answered): watching starts afresh later.
                self._tracks.pop(cid, None)
        for cid in [cid for cid in self._tracks if cid not in self.service.calls]:
            del self._tracks[cid]
        box.put(due)

    def _apply_batch(self, batch: Sequence[tuple[str, Mapping[str, int], float]]) -> None:
        for cid, packets, observed_at in batch:
            self._apply(cid, packets, observed_at)

    def _apply(self, cid: str, packets: Mapping[str, int], observed_at: float) -> None:
        call = self.service.calls.get(cid)
        if call is None:
            self._tracks.pop(cid, None)
            return
        verdict = judge(
            self._tracks.get(cid, {}), watched_legs(call), packets, observed_at, self.rtp_timeout_s
        )
        if verdict.dead_leg is None:
            self._tracks[cid] = verdict.tracks
            return
        self._tracks.pop(cid, None)
        self.ended += 1
        log.info(
            "cid=%s leg %s sent no media for %.1fs (rtp timeout %ss)",
            cid,
            verdict.dead_leg,
            verdict.silent_s,
            self.rtp_timeout_s,
        )
        self.service.media_timeout(cid, verdict.dead_leg)


def seconds(value: str) -> float:
    """argparse type: a non-negative number of seconds."""
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {value}")
    return number


def positive_seconds(value: str) -> float:
    """argparse type: a number of seconds above 0."""
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value}")
    return number
