"""This replica's live calls in Redis, for the ACD's reconciler (docs/call-control.md,
"Reconcile").

With `--acd` and `--redis`, the replica's Enqueues carry `EnqueueRequest.source` =
"<--node>#<instance>" (a random instance ID per process start), and it writes the
record `<--acd-prefix>controllers:<source>` every `--acd-heartbeat` seconds: the
correlation IDs of its calls (`CallService.calls`), with a TTL of
`--acd-heartbeat-ttl`. The ACD leader ends a call whose record has expired (the
replica died or was restarted) or no longer lists the call (its Hangup was lost):
see `acdsvc/_reconciler.py`. One record per process, so two replicas never
overwrite each other's, even under one `--node` (the node only names them in logs
and causes).

Threads. The call list belongs to the SIP loop: the registry's thread posts a read to
the loop and waits for it at most one heartbeat, then writes to Redis itself, so the
loop never waits on Redis. A loop that does not answer gets no write: if it stays
stuck for the TTL, the record expires and the ACD treats the replica as dead, which a
loop that handles no SIP is. A clean stop writes a last record marked `stopped` (every
call was ended and logged by the shutdown), kept `STOPPED_TTL_S`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import redis

from acd_client import ControllerRecord, make_source, registry_key
from controller._acd_options import AcdOptions
from controller._redis import fail_fast_redis

__all__ = [
    "STOPPED_TTL_S",
    "CallRegistry",
    "RegistryOptions",
    "add_registry_arguments",
    "registry_for",
    "registry_options",
]

log = logging.getLogger("controller.registry")

DEFAULT_HEARTBEAT_S = 2.0
DEFAULT_PREFIX = "acd:"
# A cleanly stopped replica's last record stays this long, so that the ACD tells "it
# stopped and logged its calls' ends" from "it died" for any Hangup the shutdown could
# not deliver (the ACD needs two checks plus the grace to end such a call).
STOPPED_TTL_S = 300.0

Post = Callable[[Callable[[], None]], None]  # run it on the SIP loop, later


@dataclass(frozen=True)
class RegistryOptions:
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    ttl_s: float = 3 * DEFAULT_HEARTBEAT_S
    prefix: str = DEFAULT_PREFIX  # the ACD's acd.redis_prefix


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "ACD reconcile",
        "this replica's live calls in Redis, so that the ACD frees the "
        'agents of calls it lost (docs/call-control.md, "Reconcile"); needs --acd and --redis',
    )
    group.add_argument(
        "--acd-heartbeat",
        type=float,
        default=DEFAULT_HEARTBEAT_S,
        metavar="SECONDS",
        help="rewrite the record this often (0: no record, and the ACD never "
        "ends this replica's calls by itself)",
    )
    group.add_argument(
        "--acd-heartbeat-ttl",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the record's TTL: this long after the last write the ACD "
        "takes the replica for dead (default: 3 heartbeats)",
    )
    group.add_argument(
        "--acd-prefix", default=DEFAULT_PREFIX, help="the ACD's Redis key prefix (acd.redis_prefix)"
    )


def registry_options(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> RegistryOptions | None:
    """The parsed options, or None when off (`--acd-heartbeat 0`); misuse exits."""
    heartbeat = float(args.acd_heartbeat)
    if heartbeat < 0:
        parser.error("--acd-heartbeat must be 0 (off) or positive")
    if heartbeat == 0:
        return None
    ttl = 3 * heartbeat if args.acd_heartbeat_ttl is None else float(args.acd_heartbeat_ttl)
    if ttl < 2 * heartbeat:
        # One late or lost write must not make this replica look dead to the ACD.
        parser.error("--acd-heartbeat-ttl must be at least twice --acd-heartbeat")
    if not args.acd_prefix:
        parser.error("--acd-prefix must not be empty")
    return RegistryOptions(heartbeat_s=heartbeat, ttl_s=ttl, prefix=args.acd_prefix)


class CallRegistry:
    """Writes this replica's registry record from its own thread."""

    def __init__(
        self,
        client: Any,
        *,
        node: str,
        options: RegistryOptions,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.node = node
        self.options = options
        self.instance = secrets.token_hex(8)
        self.key = registry_key(options.prefix, make_source(node, self.instance))
        self._clock = clock
        self._monotonic = monotonic
        self._started = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read: Callable[[], Collection[str]] = list
        self._post: Post = lambda fn: fn()
        self._failing = False  # the last write failed (logged once until it works again)
        self._stalled = False  # the loop did not answer at the last beat
        self.writes = 0  # successful writes (diagnostics, tests)

    @property
    def source(self) -> str:
        """What this replica's Enqueues carry (`EnqueueRequest.source`)."""
        return make_source(self.node, self.instance)

    def sourced(self, acd: AcdOptions) -> AcdOptions:
        """The driver's options with this registry's source."""
        return dataclasses.replace(acd, source=self.source)

    # ---------------------------------------------------------------- life

    def start(self, read_calls: Callable[[], Collection[str]], post: Post) -> CallRegistry:
        """Write the first record now and keep it fresh. Call on the SIP loop's thread
        (before the loop runs, as `run` does): the first list is read directly."""
        self._read, self._post = read_calls, post
        self.write(read_calls())
        self._thread = threading.Thread(target=self._run, name="acd-registry", daemon=True)
        self._thread.start()
        log.info(
            "live calls registered at %s every %ss (ttl %ss)",
            self.key,
            self.options.heartbeat_s,
            self.options.ttl_s,
        )
        return self

    def stop(self, *, final: bool = True) -> None:
        """Stop the heartbeat; with `final`, leave a `stopped` record (after the shutdown
        ended every call and sent its Hangup). Closes the Redis client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.heartbeat_s + 2)
        if final:
            self.write((), stopped=True)
        self._client.close()

    # ---------------------------------------------------------------- the thread

    def _run(self) -> None:
        while not self._stop.wait(self.options.heartbeat_s):
            calls = self._snapshot()
            if calls is not None and not self._stop.is_set():
                self.write(calls)

    def _snapshot(self) -> Collection[str] | None:
        """The call IDs, read on the loop; None if it does not answer within a heartbeat."""
        box: queue.Queue[Collection[str]] = queue.Queue(maxsize=1)

        def read() -> None:
            box.put(list(self._read()))

        self._post(read)
        deadline = self._monotonic() + self.options.heartbeat_s
        while not self._stop.is_set():
            try:  # short slices: stop() is not held up by a loop that has already ended
                calls = box.get(timeout=max(0.0, min(0.1, deadline - self._monotonic())))
            except queue.Empty:
                if self._monotonic() >= deadline:
                    break
                continue
            if self._stalled:
                log.warning("the SIP loop answers again; the live-call record is written")
                self._stalled = False
            return calls
        if not self._stop.is_set() and not self._stalled:
            log.error(
                "the SIP loop did not list its calls within %ss; no record written "
                "(after %ss without one the ACD ends this replica's calls)",
                self.options.heartbeat_s,
                self.options.ttl_s,
            )
            self._stalled = True
        return None

    def write(self, calls: Collection[str], *, stopped: bool = False) -> bool:
        """One record write (SET ... PX); False if Redis failed."""
        now = self._clock()
        record = ControllerRecord(
            self.node,
            self.instance,
            frozenset(calls),
            started=self._started,
            ts=now,
            stopped=stopped,
        )
        ttl_s = STOPPED_TTL_S if stopped else self.options.ttl_s
        try:
            self._client.set(self.key, record.encode(), px=int(ttl_s * 1000))
        except redis.RedisError as exc:
            if not self._failing:
                log.error(
                    "cannot write the live-call record %s: %s (after %ss without one "
                    "the ACD ends this replica's calls)",
                    self.key,
                    exc,
                    self.options.ttl_s,
                )
                self._failing = True
            return False
        if self._failing:
            log.warning("the live-call record %s is written again", self.key)
            self._failing = False
        self.writes += 1
        return True


def registry_for(
    acd: AcdOptions | None,
    options: RegistryOptions | None,
    redis_address: tuple[str, int] | None,
    node: str,
) -> CallRegistry | None:
    """The replica's registry, not started; None (and why, logged) when there is none."""
    if acd is None:
        return None
    if options is None:
        log.warning(
            "--acd-heartbeat 0: no live-call record; the ACD will not free the "
            "agents of calls this replica loses"
        )
        return None
    if redis_address is None:
        log.warning(
            "no --redis: no live-call record; the ACD will not free the agents of "
            "calls this replica loses"
        )
        return None
    host, port = redis_address
    timeout = min(1.0, options.heartbeat_s)
    return CallRegistry(fail_fast_redis(host, port, timeout_s=timeout), node=node, options=options)
