"""Reconcile: the leader ends the calls that the call controllers no longer have.

A call controller replica (`python -m controller --acd ... --redis ...`) names
itself in every Enqueue (`EnqueueRequest.source` = "<node>#<instance>", a new
instance ID per process start, kept on the core's call record) and keeps its live
calls in a registry record in Redis, `<acd.redis_prefix>controllers:<source>`,
rewritten every heartbeat with a TTL of a few heartbeats (`controller/_registry.py`).
One record per process: two replicas never share one, even under one node name,
and a restarted replica writes a new one while its predecessor's expires. The
leader checks every `reconcile_interval`:

- a call whose record is gone (the replica died: SIGKILL, power, a wedged loop, or
  it was restarted) is lost with its caller's dialog; nobody else will write its
  `call.ended`, so the ACD does (cause `reconciled: controller <node> gone`, side
  `system`);
- a call the live record no longer lists (its Hangup or Abandon never reached the
  ACD: the driver gave up after `--acd-retry`) has ended at the controller, which
  wrote its `call.ended`; the ACD only frees the agent (cause
  `reconciled: call not at controller <node>`), and writes no second end (unless
  `acd.call_events: acd`). A record marked `stopped` (a clean shutdown, which ended
  and logged every call) is treated the same way.

Either way the call ends as a Hangup does (`Acd.end_calls`): a talking agent wraps
up, then goes idle; ringing agents are released; a queued call leaves its queue; its
supervisors' monitoring sessions end (reason `call_ended`), so a dead controller
leaves none on the wallboard.

Against races with calls that are just starting or ending: a call is never judged
within `reconcile_grace` of its arrival (its controller may not have rewritten the
record yet), and it is ended only when it is missing at two checks in a row. Calls
without a source (simulated agents, other clients without a registry) are never
touched. Only the leader runs checks; a new leader starts counting afresh.

`decide` is the pure decision; `Reconciler` reads the records and runs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from acd_client import ControllerRecord, registry_key, split_source

from ._engine import Engine, NotLeader, StoreUnavailable

__all__ = [
    "STRIKES",
    "Lost",
    "Reconciler",
    "decide",
    "judge",
]

log = logging.getLogger(__name__)

STRIKES = 2  # checks in a row a call must be missing at before it is ended
CAUSE_GONE = "reconciled: controller {node} gone"
CAUSE_STOPPED = "reconciled: controller {node} stopped"
CAUSE_NOT_LISTED = "reconciled: call not at controller {node}"


@dataclass(frozen=True, slots=True)
class Lost:
    """A call to end: why, and whether the ACD writes its `call.ended` (no one else can)."""

    call_id: str
    source: str
    cause: str
    write_end: bool


def judge(call_id: str, source: str, record: ControllerRecord | None) -> tuple[str, bool] | None:
    """Is the call missing from its controller? (cause, ACD writes the end), or None.
    `record` is the one of the call's source, None when Redis has none."""
    node, _ = split_source(source)
    if record is None:
        return CAUSE_GONE.format(node=node), True
    if call_id in record.calls:
        return None
    if record.stopped:
        return CAUSE_STOPPED.format(node=node), False
    return CAUSE_NOT_LISTED.format(node=node), False


def decide(
    calls: Iterable[tuple[str, str, float]],
    records: Mapping[str, ControllerRecord | None],
    *,
    now: float,
    grace_s: float,
    strikes: Mapping[str, int],
    needed: int = STRIKES,
) -> tuple[list[Lost], dict[str, int]]:
    """One check. `calls`: (call ID, source, arrived) from `Acd.sourced_calls()`;
    `records`: source -> its record, None when Redis has none (expired), a source left
    out when its record could not be read (no verdict on its calls this time); `strikes`:
    the previous check's counts. Returns the calls to end now and the new counts (a call
    seen, or not judged, starts again from zero)."""
    lost: list[Lost] = []
    counts: dict[str, int] = {}
    for call_id, source, arrived in calls:
        if now - arrived < grace_s:
            continue  # its controller may not have rewritten the record since it arrived
        if source not in records:
            continue
        verdict = judge(call_id, source, records[source])
        if verdict is None:
            continue
        count = strikes.get(call_id, 0) + 1
        if count >= needed:
            lost.append(Lost(call_id, source, *verdict))
        else:
            counts[call_id] = count
    return lost, counts


class Reconciler:
    """The leader's periodic check (a thread of every replica; only the leader acts)."""

    def __init__(
        self,
        engine: Engine,
        client: redis.Redis,
        *,
        prefix: str,
        interval_s: float,
        grace_s: float,
        needed: int = STRIKES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0 or grace_s < 0 or needed < 1:
            raise ValueError("need interval > 0, grace >= 0 and at least one strike")
        self._engine = engine
        self._client = client
        self._prefix = prefix
        self.interval_s = interval_s
        self.grace_s = grace_s
        self._needed = needed
        self._clock = clock  # wall time, like the core's SystemClock (calls' `arrived`)
        self._strikes: dict[str, int] = {}
        self._epoch: int | None = None  # the lease the strikes were counted under
        self._unreadable: set[str] = set()  # sources whose bad record was logged already
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acd-reconciler", daemon=True)
        self.checks = 0  # checks run as leader (diagnostics, tests)
        self.ended = 0  # calls ended

    def start(self) -> Reconciler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # a bug here must not stop later checks
                log.exception("reconcile check failed")

    def check(self) -> list[Lost]:
        """One check; returns the calls it ended (nothing when not leading)."""
        lease = self._engine.lease
        if lease is None or lease.epoch != self._epoch:
            self._strikes = {}  # counted by another leader, or under another lease
            self._epoch = None if lease is None else lease.epoch
        if lease is None:
            return []
        try:
            calls = self._engine.read(lambda acd: acd.sourced_calls())
        except NotLeader:
            return []
        records = self._records({source for _, source, _ in calls})
        if records is None:
            return []  # Redis unreadable: no verdict, and the strikes stay as they were
        self.checks += 1
        lost, self._strikes = decide(
            calls,
            records,
            now=self._clock(),
            grace_s=self.grace_s,
            strikes=self._strikes,
            needed=self._needed,
        )
        log.debug(
            "reconcile: %d calls of %d controllers checked, %d missing once, %d lost",
            len(calls),
            len(records),
            len(self._strikes),
            len(lost),
        )
        if not lost:
            return []
        return self._end(lost)

    def _records(self, sources: set[str]) -> dict[str, ControllerRecord | None] | None:
        if not sources:
            return {}
        ordered = sorted(sources)
        try:
            raw: list[Any] = self._client.mget([registry_key(self._prefix, n) for n in ordered])
        except redis.RedisError as exc:
            log.warning("reconcile: cannot read the controllers' records: %s", exc)
            return None
        records: dict[str, ControllerRecord | None] = {}
        for source, value in zip(ordered, raw, strict=True):
            if value is None:
                records[source] = None
                continue
            try:
                records[source] = ControllerRecord.decode(value)
            except ValueError as exc:
                if source not in self._unreadable:  # once: it is rewritten every heartbeat
                    log.error(
                        "reconcile: controller %s: %s; its calls are not checked", source, exc
                    )
                    self._unreadable.add(source)
                continue
            self._unreadable.discard(source)
        return records

    def _end(self, lost: list[Lost]) -> list[Lost]:
        # A call ID is unique forever, so a call still there is the one judged; one that
        # ended meanwhile is skipped by the core.
        reconciled = {item.call_id: item.write_end for item in lost}
        try:
            out = self._engine.execute(
                lambda acd: acd.end_calls({item.call_id: item.cause for item in lost}),
                reconciled=reconciled,
            )
        except (NotLeader, StoreUnavailable) as exc:
            log.warning("reconcile: ending %d calls failed (%s); next check", len(lost), exc)
            return []
        ended_ids = {
            str(e["call"])
            for e in out.result.events
            if e["kind"] in ("call.ended", "call.abandoned")
        }
        done = [item for item in lost if item.call_id in ended_ids]
        for item in done:
            self._strikes.pop(item.call_id, None)
            log.warning(
                "cid=%s %s: the ACD ended the call (event log end %s)",
                item.call_id,
                item.cause,
                "written by the ACD" if item.write_end else "left to the controller",
            )
        self.ended += len(done)
        return done
