"""The page's events: one ACD action feed and one snapshot stream per desktop process,
fanned out to the connected pages by employee ID.

- Offer: the caller's record is looked up (the IVR's account, else the calling number)
  before the event goes out, so the page shows it while the phone starts ringing; with
  `screen_pop_url` configured the filled URL goes instead. The offer is also noted in
  Redis (`desktop:calls:<employee_id>`), which is what lets that agent wrap the call up
  on any replica.
- CancelRing and Release go out as they come.
- State: every change of an agent's (state, reason, call, recording) in the snapshot
  stream; `recording` is the recording of the agent's call ("off", "on", "paused").

Each offer carries `offered_at` (when the feed delivered it here, epoch seconds) and
`sent_at` (when the socket sent it); their difference is logged, and the screen-pop
benchmark reads both.

The feed's thread only stamps an action and hands it to a lane: a few worker threads,
each agent's actions always on the same one. An offer's note and lookup (a few ms of
waiting on Redis and the store) then no longer hold up the offers to other agents that
came just behind it (benchmarks/screen_pop.py: in bursts of 5 offers the fifth waited
for the four before it, up to 60 ms at the median), and one agent's offer, cancel_ring
and release still reach its page in the ACD's order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any
from urllib.parse import quote

import grpc
import redis

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, ActionFeed

from ._acd import live_agent

__all__ = [
    "CALLS_PREFIX",
    "EventHub",
    "Lanes",
    "call_queue",
    "fill_screen_pop",
    "last_call",
    "took_call",
]

log = logging.getLogger(__name__)
CALLS_PREFIX = "desktop:calls:"
# How long an offered call stays wrap-up-able by its agent.
CALLS_TTL_S = 24 * 3600
# desktop:taken:<employee_id>: the calls the snapshot showed this agent talking on.
TAKEN_PREFIX = "desktop:taken:"
# The field of that hash naming the agent's latest offered call (not a call id).
LAST_CALL = "_last"
# Offers handled at once (each mostly waits on Redis and the store, not on the CPU).
LANES = 4
Event = dict[str, Any]


class Lanes:
    """Worker threads that run each key's jobs in order, different keys' side by side."""

    def __init__(self, count: int, name: str) -> None:
        self._queues: list[SimpleQueue[Callable[[], None] | None]] = [
            SimpleQueue() for _ in range(count)
        ]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"{name}-{n}", daemon=True)
            for n, q in enumerate(self._queues)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, key: int, job: Callable[[], None]) -> None:
        self._queues[key % len(self._queues)].put(job)

    def stop(self) -> None:
        for lane in self._queues:
            lane.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)

    @staticmethod
    def _work(jobs: SimpleQueue[Callable[[], None] | None]) -> None:
        while (job := jobs.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("event handler failed")


def fill_screen_pop(template: str, fields: dict[str, str]) -> str:
    return template.format(**{k: quote(v, safe="") for k, v in fields.items()})


def call_queue(client: redis.Redis, employee_id: int, call_id: str) -> str | None:
    """The queue of a call offered to this agent; None: never offered to it."""
    if not call_id or call_id == LAST_CALL:
        return None
    value = client.hget(f"{CALLS_PREFIX}{employee_id}", call_id)
    return None if value is None else _text(value)


def took_call(client: redis.Redis, employee_id: int, call_id: str) -> bool:
    """Whether this agent was seen talking on the call (what a wrap-up needs)."""
    return bool(call_id) and bool(client.sismember(f"{TAKEN_PREFIX}{employee_id}", call_id))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def last_call(client: redis.Redis, employee_id: int) -> str | None:
    value = client.hget(f"{CALLS_PREFIX}{employee_id}", LAST_CALL)
    return None if value is None else _text(value)


class EventHub:
    def __init__(
        self,
        acd: AcdClient,
        redis_client: redis.Redis,
        *,
        customer_for_call: Callable[[str | None, str], dict[str, Any] | None],
        screen_pop_url: str | None,
        wrap_up_ms: Callable[[str], int],
    ) -> None:
        self._acd = acd
        self._redis = redis_client
        self._customer_for_call = customer_for_call
        self._screen_pop_url = screen_pop_url
        self._wrap_up_ms = wrap_up_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pages: dict[int, set[asyncio.Queue[Event]]] = {}
        self._states: dict[int, tuple[str, str, str, str]] = {}
        # The call each agent was last seen talking on (written to Redis once per call).
        self._talking: dict[int, str] = {}
        self._feed: ActionFeed | None = None
        self._stop = threading.Event()
        self._snapshot_stream: Any = None
        self._latest: pb.Snapshot | None = None
        self._latest_at = 0.0
        self._watcher = threading.Thread(
            target=self._watch_snapshots, name="desk-snapshots", daemon=True
        )
        self._lanes = Lanes(LANES, "desk-actions")

    # Life cycle -------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lanes.start()
        self._feed = ActionFeed(self._acd, self._on_action, startup_grace_s=30.0).start(
            timeout=None
        )
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._feed is not None:
            self._feed.close()
        stream = self._snapshot_stream
        if stream is not None:
            stream.cancel()
        if self._watcher.is_alive():
            self._watcher.join(timeout=5)
        self._lanes.stop()

    @property
    def subscribed(self) -> bool:
        return self._feed is not None and self._feed.subscribed

    # Pages ------------------------------------------------------------------------
    def connect(self, employee_id: int) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)
        with self._lock:
            self._pages.setdefault(employee_id, set()).add(queue)
        return queue

    def disconnect(self, employee_id: int, queue: asyncio.Queue[Event]) -> None:
        with self._lock:
            pages = self._pages.get(employee_id)
            if pages is not None:
                pages.discard(queue)
                if not pages:
                    del self._pages[employee_id]
                    self._states.pop(employee_id, None)

    def _watched(self, employee_id: int) -> bool:
        with self._lock:
            return employee_id in self._pages

    def publish(self, employee_id: int, event: Event) -> None:
        """Hand `event` to every page of this agent (from any thread)."""
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            queues = list(self._pages.get(employee_id, ()))
        for queue in queues:
            loop.call_soon_threadsafe(_offer_to, queue, event)

    # The ACD's actions ---------------------------------------------------------------
    def _on_action(self, action: pb.Action) -> None:
        """On the feed's thread: stamp, and hand over to the agent's lane."""
        kind = action.WhichOneof("kind")
        if kind == "offer":
            offer, offered_at = action.offer, time.time()
            self._lanes.submit(offer.employee_id, lambda: self._on_offer(offer, offered_at))
        elif kind == "cancel_ring":
            c = action.cancel_ring
            event = {"type": "cancel_ring", "call_id": c.call_id, "reason": c.reason}
            self._lanes.submit(c.employee_id, lambda: self.publish(c.employee_id, event))
        elif kind == "release":
            r = action.release
            event = {"type": "release", "call_id": r.call_id, "reason": r.reason}
            self._lanes.submit(r.employee_id, lambda: self.publish(r.employee_id, event))

    def _on_offer(self, offer: pb.Offer, offered_at: float) -> None:
        key = f"{CALLS_PREFIX}{offer.employee_id}"
        try:
            with self._redis.pipeline() as pipe:
                pipe.hset(key, mapping={offer.call_id: offer.queue, LAST_CALL: offer.call_id})
                pipe.expire(key, CALLS_TTL_S)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("cannot note offer %s for %s: %s", offer.call_id, offer.employee_id, exc)
        if not self._watched(offer.employee_id):
            return
        call_data = dict(getattr(offer, "call_data", {}))
        account = call_data.get("account", "")
        ivr_path = [n for n in call_data.get("ivr_path", "").split(">") if n]
        customer: dict[str, Any] | None = None
        screen_pop: str | None = None
        if self._screen_pop_url:
            screen_pop = fill_screen_pop(
                self._screen_pop_url,
                {
                    "caller": offer.caller,
                    "account": account,
                    "call_id": offer.call_id,
                    "category": offer.category,
                    "queue": offer.queue,
                },
            )
        else:
            try:
                customer = self._customer_for_call(account or None, offer.caller)
            except Exception:
                log.exception("screen pop lookup for call %s failed", offer.call_id)
        event: Event = {
            "type": "offer",
            "call_id": offer.call_id,
            "caller": offer.caller,
            "category": offer.category,
            "queue": offer.queue,
            "ivr_path": ivr_path,
            "account": account,
            "ring_timeout_s": offer.ring_timeout_seconds,
            "customer": customer,
            "screen_pop_url": screen_pop,
            "offered_at": offered_at,
        }
        self.publish(offer.employee_id, event)

    # Agent states --------------------------------------------------------------------
    def _watch_snapshots(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                self._snapshot_stream = self._acd.watch_snapshot(max_interval=2.0)
                for reply in self._snapshot_stream:
                    backoff = 0.0
                    self._on_snapshot(reply.snapshot)
            except grpc.RpcError:
                pass
            except Exception:
                log.exception("snapshot handler failed")
            if self._stop.is_set():
                return
            backoff = min(2.0, backoff * 2 or 0.1)
            self._stop.wait(backoff)

    def latest_snapshot(self, max_age_s: float = 3.0) -> pb.Snapshot | None:
        """The stream's newest snapshot, None when older than `max_age_s` (the stream
        pushes every change and at least every 2 s: an older one means it is down)."""
        if time.monotonic() - self._latest_at > max_age_s:
            return None
        return self._latest

    def _on_snapshot(self, snapshot: pb.Snapshot) -> None:
        self._latest, self._latest_at = snapshot, time.monotonic()
        with self._lock:
            watched = set(self._pages)
        seen = set()
        for view in snapshot.agents:
            if view.state == pb.AGENT_STATE_TALKING and view.call_id:
                self._note_talking(int(view.employee_id), view.call_id)
            if view.employee_id not in watched:
                continue
            seen.add(view.employee_id)
            self.note_state(live_agent(view, snapshot.ts))
        for employee_id in watched - seen:
            self._push_state(employee_id, ("logged_out", "", "", "off"), None)

    def _note_talking(self, employee_id: int, call_id: str) -> None:
        if self._talking.get(employee_id) == call_id:
            return
        key = f"{TAKEN_PREFIX}{employee_id}"
        try:
            with self._redis.pipeline() as pipe:
                pipe.sadd(key, call_id)
                pipe.expire(key, CALLS_TTL_S)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("cannot note call %s taken by %s: %s", call_id, employee_id, exc)
            return
        self._talking[employee_id] = call_id

    def note_state(self, agent: Any) -> None:
        """Push a `state` event if this agent's state differs from the last one sent."""
        wrap_up_ends_at = None
        if agent.state == "wrap_up":
            call_id = agent.call_id or last_call(self._redis, agent.employee_id) or ""
            queue = call_queue(self._redis, agent.employee_id, call_id) or ""
            started = agent.snapshot_ts - agent.time_in_state_s
            wrap_up_ends_at = started + self._wrap_up_ms(queue) / 1000
        self._push_state(
            agent.employee_id,
            (agent.state, agent.reason, agent.call_id, agent.recording),
            wrap_up_ends_at,
        )

    def _push_state(
        self, employee_id: int, key: tuple[str, str, str, str], wrap_up_ends_at: float | None
    ) -> None:
        with self._lock:
            if self._states.get(employee_id) == key:
                return
            self._states[employee_id] = key
        state, reason, call_id, recording = key
        self.publish(
            employee_id,
            {
                "type": "state",
                "state": state,
                "reason": reason,
                "call_id": call_id,
                "wrap_up_ends_at": wrap_up_ends_at,
                "recording": recording,
            },
        )

    def forget_state(self, employee_id: int) -> None:
        """The next snapshot sends this agent's state again (a page just connected)."""
        with self._lock:
            self._states.pop(employee_id, None)


def _offer_to(queue: asyncio.Queue[Event], event: Event) -> None:
    try:
        queue.put_nowait(event)
    except asyncio.QueueFull:
        log.warning("a page is not reading its events; dropped a %s event", event.get("type"))
