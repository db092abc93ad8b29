"""The recorder process: the event log in, the index, the WAVs and the events out.

Threads: the consumer folds recording events into memory and the index
(`_on_event`) and hands stopped recordings to the converter; the converter waits for
each one's segments and makes its WAV (`_convert`), leaving out the monitoring mixers'
packets, or, for a monitoring session's recording (which its mixer wrote as a WAV),
waits for that file and indexes it (`_monitor_recording`); the disk watch and retention run
on their own clocks; HTTP serves /healthz and /metrics.

Delivery: a batch is acknowledged after the index took it, so a crash re-delivers it;
every index function is idempotent and the fold skips what it already knows. A stopped
recording not yet converted is a `stopped` row: after a restart the converter picks it
up again from the index (`_resume_stopped`), its caller port from the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

import redis

import bizdata
import recording
from configuration import split_hostport
from eventlog import (
    RECORDING_FAILED,
    RECORDING_PAUSED,
    RECORDING_STARTED,
    RECORDING_STOPPED,
    RECORDING_STORED,
    VOICEMAIL_LEFT,
    Consumer,
    Delivery,
    Event,
    EventError,
    EventLog,
    decode,
)

from ._disk import DiskWatch, FreeBytes, free_bytes
from ._fold import (
    RECORDING_KINDS,
    Pause,
    Recording,
    SeenEvents,
    apply,
    parse_segments,
    recording_from_started,
    shortfall,
)
from ._http import serve_http
from ._metrics import Metrics
from ._monitor import MONITOR_CHANNELS, find_monitor_wav, monitor_wav_candidates, wav_info
from ._retention import apply_retention
from ._settings import RecorderSettings
from ._spool import Segments, remove_segments, segments_of
from ._wav import DiskFullError, write_wav_atomically

log = logging.getLogger("recorder")

# A voicemail message shorter than this is dropped with its files.
MIN_VOICEMAIL_MS = 1000
# How far around a row's start the log is searched for its recording.started.
STARTED_SEARCH_S = 600
# How long the disk-full key outlives the last check that found the disk low.
DISK_FULL_TTL_MS = 5000
# The message ids of voicemail come from the ref, so converting a message again (a crash
# between its WAV and the index) finds the same id, not a second message.
_VOICEMAIL_IDS = uuid.UUID("5b0a3f56-4f2b-4c55-9d52-7a4de0c1d9e1")

_SKIPPED_STORE_ERRORS = (
    bizdata.NotFound,
    bizdata.InvalidTransition,
    bizdata.InvalidField,
    bizdata.InUse,
)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def voicemail_message_id(ref: str) -> str:
    return uuid.uuid5(_VOICEMAIL_IDS, ref).hex


@dataclass
class Job:
    """A stopped recording waiting for its segments."""

    recording: Recording
    deadline: float  # wall clock: missing after this
    retry_at: float = 0.0  # monotonic: after a failure (the store away), not before
    backoff_s: float = 0.0


@dataclass
class Outcome:
    status: str  # stored | failed | dropped
    reason: str = ""
    file: str = ""


class RecorderService:
    def __init__(
        self,
        settings: RecorderSettings,
        *,
        engine: Any = None,
        client: redis.Redis | None = None,
        free: FreeBytes = free_bytes,
    ) -> None:
        self.settings = settings
        self.engine = engine or bizdata.open_engine(
            settings.store_url, password_env=settings.store_password_env
        )
        host, port = split_hostport(settings.redis)
        self.redis = client or redis.Redis(
            host=host, port=port, socket_timeout=max(5.0, settings.block_ms / 500)
        )
        self.events = EventLog(self.redis, stream=settings.stream)
        self.served = settings.served
        self.metrics = Metrics()
        self.stop_event = threading.Event()
        self.disk = DiskWatch(
            [settings.spool_dir, settings.wav_dir, settings.voicemail_dir],
            settings.min_free_mb,
            free,
        )
        self._lock = threading.Lock()  # recordings and jobs: consumer and converter share them
        self._wake = threading.Condition(self._lock)
        self.recordings: dict[str, Recording] = {}
        self.jobs: dict[str, Job] = {}
        self._foreign: SeenEvents = SeenEvents(50_000)  # refs of other media nodes
        self._seen = SeenEvents()
        self._http: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.ready = False
        self.errors = 0
        self.last_error = ""
        self.started_at = time.time()

    # -- running ---------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Start every thread and HTTP; the bound (host, port) of HTTP."""
        for path in self.disk.paths:
            path.mkdir(parents=True, exist_ok=True)
        self._http = serve_http(self.settings.listen, self.metrics, self.health)
        for target, name in (
            (self.run_consumer, "consumer"),
            (self.run_converter, "converter"),
            (self.run_disk_watch, "disk-watch"),
            (self.run_retention, "retention"),
        ):
            thread = threading.Thread(target=target, name=f"recorder-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        addr = self._http.server_address
        return str(addr[0]), int(addr[1])

    def stop(self) -> None:
        self.stop_event.set()
        with self._wake:
            self._wake.notify_all()

    def close(self) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self.redis.close()
        self.engine.dispose()

    def health(self) -> dict[str, Any]:
        with self._lock:
            pending = len(self.jobs)
        return {
            "ok": self.ready,
            "media_nodes": sorted(self.served),
            "group": self.settings.group,
            "pending": pending,
            "disk_low": sorted(str(p) for p in self.disk.low),
            "errors": self.errors,
            "last_error": self.last_error,
            "uptime_s": time.time() - self.started_at,
            "pid": os.getpid(),
        }

    def _failed_loop(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{what}: {type(exc).__name__}: {exc}"
        log.exception("%s failed; retrying", what)

    # -- the consumer ------------------------------------------------------------------

    def run_consumer(self) -> None:
        backoff = 0.1
        while not self.stop_event.is_set():
            try:
                self._resume_stopped()
                consumer = Consumer(
                    self.redis,
                    group=self.settings.group,
                    name=self.settings.node,
                    stream=self.settings.stream,
                    batch_size=200,
                    block_ms=self.settings.block_ms,
                )
                consumer.ensure_group()
                self.ready = True
                while not self.stop_event.is_set():
                    consumer.poll(self.handle)
                    backoff = 0.1
            except Exception as exc:  # Redis or the store away: rebuild, nothing was acked
                self._failed_loop("consumer", exc)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def handle(self, batch: Sequence[Delivery]) -> None:
        """Fold a batch; raising leaves it pending, to be delivered again."""
        for delivery in batch:
            event = delivery.event
            if event.kind not in RECORDING_KINDS or event.event_id in self._seen:
                continue
            try:
                self._on_event(event)
            except ValueError as exc:  # a malformed field: logged, never blocks the log
                log.error("%s %s: %s", event.kind, delivery.entry_id, exc)
            self._seen.add(event.event_id)

    def _on_event(self, event: Event) -> None:
        ref = event.data["ref"]
        if event.kind == RECORDING_STARTED:
            if event.data["media_node"] not in self.served or self._past_retention(event):
                self._foreign.add(ref)
                return
            rec = recording_from_started(event)
            row = self._index(
                bizdata.recording_started,
                ref=ref,
                call_id=rec.call_id,
                name=rec.name,
                reason=rec.reason,
                media_node=rec.media_node,
                caller=rec.caller,
                agent=rec.agent,
                queue=rec.queue,
                number=rec.number,
                started_at=_utc(rec.started_ts),
            )
            if row is not None and row["status"] == "recording":  # not a late re-delivery
                with self._lock:
                    self.recordings.setdefault(ref, rec)
            return
        rec_or_none = self._recording(ref)
        if rec_or_none is None:
            return
        rec = rec_or_none
        if event.kind == RECORDING_STOPPED:
            row = self._index(
                bizdata.recording_stopped,
                ref,
                at=_utc(event.ts),
                segments=parse_segments(event),
            )
        elif event.kind == RECORDING_PAUSED:
            row = self._index(
                bizdata.recording_paused, ref, at=_utc(event.ts), reason=event.data["reason"]
            )
        else:
            row = self._index(bizdata.recording_resumed, ref, at=_utc(event.ts))
        with self._lock:
            apply(rec, event)
            if event.kind == RECORDING_STOPPED and row is not None and row["status"] == "stopped":
                self._enqueue(rec)
            elif event.kind == RECORDING_STOPPED:
                self.recordings.pop(ref, None)  # done before (a re-delivery)

    def _past_retention(self, event: Event) -> bool:
        """A new group reads the log from its start: a recording older than retention
        had its row deleted, and must not come back as a new row."""
        days = self.settings.retention_days
        return days > 0 and event.ts < time.time() - days * 86_400

    def _index(self, function: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Call an index function; a transition the row has gone past is a re-delivery
        (or an event out of order) and is logged, not retried."""
        try:
            result: dict[str, Any] = function(self.engine, *args, **kwargs)
        except _SKIPPED_STORE_ERRORS as exc:
            log.info("index: %s: %s", function.__name__, exc)
            return None
        return result

    def _recording(self, ref: str) -> Recording | None:
        """The recording `ref` if it is ours: from memory, else from the index (a
        restart), else None (another host's, or unknown)."""
        with self._lock:
            rec = self.recordings.get(ref)
        if rec is not None:
            return rec
        if ref in self._foreign:
            return None
        try:
            row = bizdata.get_recording(self.engine, ref)
        except _SKIPPED_STORE_ERRORS:  # unknown here (another host's), or no ref at all
            self._foreign.add(ref)
            return None
        if row["media_node"] not in self.served:
            self._foreign.add(ref)
            return None
        rec = self._from_row(row)
        with self._lock:
            return self.recordings.setdefault(ref, rec)

    def _from_row(self, row: dict[str, Any]) -> Recording:
        started = _ts(row["started_at"])
        rec = Recording(
            ref=row["ref"],
            call_id=row["call_id"],
            name=row["name"],
            reason=row["reason"],
            media_node=row["media_node"],
            caller=row["caller"],
            agent=row["agent"],
            queue=row["queue"],
            number=row["number"],
            # Only a recording still to convert needs its caller's port (a mixer's WAV
            # is made: no port to look for).
            caller_port=self._caller_port(row["ref"], started)
            if row["status"] in ("recording", "stopped") and row["reason"] != "monitor"
            else 0,
            started_ts=started,
            pauses=[
                Pause(
                    started + p["start_ms"] / 1000,
                    None if p["end_ms"] is None else started + p["end_ms"] / 1000,
                    p["reason"],
                )
                for p in row["pauses"]
            ],
        )
        if row["status"] != "recording" and row.get("ended_at"):
            rec.stopped_ts = _ts(row["ended_at"])
            rec.segments = int(row.get("segments") or 0)
        return rec

    def _caller_port(self, ref: str, started_ts: float) -> int:
        """recording.started's caller_port, found in the log near the recording's start
        (the index has no column for it). 0: not found; everything goes right."""
        low = int((started_ts - STARTED_SEARCH_S) * 1000)
        high = int((started_ts + STARTED_SEARCH_S) * 1000)
        start = f"{max(low, 0)}-0"
        while True:
            entries: Any = self.redis.xrange(self.settings.stream, start, f"{high}-0", count=500)
            for entry_id, fields in entries:
                try:
                    event = decode(fields, entry_id=_text(entry_id))
                except EventError:
                    continue
                if event.kind == RECORDING_STARTED and event.data["ref"] == ref:
                    return recording_from_started(event).caller_port
            if len(entries) < 500:
                break
            start = "(" + _text(entries[-1][0])
        log.error("recording %s: no recording.started in the log; caller side unknown", ref)
        return 0

    def _resume_stopped(self) -> None:
        """The index's stopped recordings of our nodes go back to the converter."""
        for row in bizdata.recordings_stopped(self.engine):
            if row["media_node"] not in self.served:
                continue
            with self._lock:
                known = row["ref"] in self.jobs
            if known:
                continue
            rec = self._from_row(row)
            with self._lock:
                self.recordings[rec.ref] = rec
                self._enqueue(rec)
            log.info("recording %s: stopped before a restart; converting it now", rec.ref)

    def _enqueue(self, rec: Recording) -> None:
        """Under the lock: the converter waits for `rec`'s segments."""
        if rec.ref in self.jobs or rec.stopped_ts is None:
            return
        deadline = rec.stopped_ts + self.settings.missing_after_ms / 1000
        self.jobs[rec.ref] = Job(rec, deadline)
        self.metrics.set_pending(len(self.jobs))
        self._wake.notify_all()

    # -- the converter ----------------------------------------------------------------

    def run_converter(self, poll_s: float = 0.05) -> None:
        while not self.stop_event.is_set():
            with self._wake:
                if not self.jobs:
                    self._wake.wait(0.5)
                jobs = list(self.jobs.values())
            for job in jobs:
                if self.stop_event.is_set():
                    return
                if time.monotonic() < job.retry_at:
                    continue
                try:
                    self._try_convert(job)
                except Exception as exc:  # the store away: the job stays and is tried again
                    self._failed_loop(f"recording {job.recording.ref}", exc)
                    job.backoff_s = min(max(job.backoff_s * 2, 0.2), 10.0)
                    job.retry_at = time.monotonic() + job.backoff_s
            self.stop_event.wait(poll_s)

    def _try_convert(self, job: Job) -> None:
        rec = job.recording
        assert rec.segments is not None
        if rec.monitor:
            if not self._monitor_recording(rec, job):
                return
            self._done(rec)
            return
        segments = segments_of(self.settings.spool_dir, rec.ref, rec.segments)
        if segments.complete:
            self._convert(rec, segments)
        elif time.time() > job.deadline:
            got = rec.segments - len(segments.missing())
            self._fail(
                rec,
                "missing",
                f"{got} of {rec.segments} segments in {self.settings.spool_dir / 'metadata'}"
                f" {self.settings.missing_after_ms} ms after the stop; missing"
                f" {segments.missing()}",
            )
        else:
            return
        self._done(rec)

    def _done(self, rec: Recording) -> None:
        with self._lock:
            self.jobs.pop(rec.ref, None)
            self.recordings.pop(rec.ref, None)
            self.metrics.set_pending(len(self.jobs))

    def _monitor_recording(self, rec: Recording, job: Job) -> bool:
        """A monitoring session's WAV, which its mixer wrote: indexed as stored with the
        WAV's own length once it is there, `missing` when it is not there
        `missing_after_ms` after the stop. False: still waiting for it."""
        assert rec.stopped_ts is not None
        wav_dir = self.settings.wav_dir
        relative = find_monitor_wav(wav_dir, rec.ref, rec.started_ts, rec.stopped_ts)
        if relative is None:
            if time.time() <= job.deadline:
                return False
            where = monitor_wav_candidates(rec.ref, rec.started_ts, rec.stopped_ts)[0]
            self._fail(
                rec,
                "missing",
                f"no {wav_dir / where} from mixer {rec.media_node}"
                f" {self.settings.missing_after_ms} ms after the stop",
            )
            return True
        try:
            info = wav_info(wav_dir / relative)
        except (ValueError, OSError) as exc:
            self._fail(rec, "convert", str(exc), file=relative)
            return True
        if info.channels != MONITOR_CHANNELS:
            log.warning(
                "recording %s: %s has %d channels, not %d (caller, agent, supervisors)",
                rec.ref,
                relative,
                info.channels,
                MONITOR_CHANNELS,
            )
        self._index(bizdata.recording_stored, rec.ref, file=relative, duration_ms=info.duration_ms)
        self._emit(
            rec.call_id,
            RECORDING_STORED,
            ref=rec.ref,
            file=relative,
            duration_ms=str(info.duration_ms),
        )
        self.metrics.count_stored()
        log.info("monitoring recording %s stored: %s (%d ms)", rec.ref, relative, info.duration_ms)
        return True

    def _convert(self, rec: Recording, segments: Segments) -> Outcome:
        assert rec.stopped_ts is not None
        began = time.monotonic()
        try:
            conversion = recording.convert(
                segments.pcaps(),
                start_ts=rec.started_ts,
                end_ts=rec.stopped_ts,
                caller_port=rec.caller_port,
                pauses=rec.pause_spans(),
                mono=rec.voicemail,
                ignore_sources=self.settings.ignore_sources,
            )
        except (recording.RecordingFormatError, OSError, ValueError) as exc:
            return self._fail(rec, "convert", str(exc))
        self.metrics.count_ignored(conversion.ignored)
        duration_ms = rec.duration_ms()
        message_id = ""
        if rec.voicemail and duration_ms < MIN_VOICEMAIL_MS:
            remove_segments(segments)
            self._index(bizdata.delete_recording, rec.ref)
            log.info("voicemail %s in box %s: %d ms, dropped", rec.ref, rec.name, duration_ms)
            return Outcome("dropped")
        if rec.voicemail:
            message_id = voicemail_message_id(rec.ref)
            relative = f"{rec.name}/{message_id}.wav"
            path = self.settings.voicemail_dir / relative
        else:
            day = _utc(rec.started_ts)
            relative = f"{day:%Y/%m/%d}/{rec.ref}.wav"
            path = self.settings.wav_dir / relative
        try:
            write_wav_atomically(path, conversion.pcm)
        except DiskFullError as exc:
            return self._fail(rec, "disk_full", str(exc))
        except OSError as exc:
            return self._fail(rec, "convert", f"{path}: {exc}")
        remove_segments(segments)
        self.metrics.observe_conversion(time.monotonic() - began)
        short = shortfall(
            rec, truncated=conversion.truncated, last_packet_ts=conversion.last_packet_ts
        )
        if rec.voicemail:
            self._index(
                bizdata.add_voicemail,
                message_id=message_id,
                box=rec.name,
                caller=rec.caller,
                call_id=rec.call_id,
                recording_ref=rec.ref,
                received_at=_utc(rec.started_ts),
                duration_ms=duration_ms,
                file=relative,
            )
        if short is not None:
            self._fail(rec, "short", short, file=relative, duration_ms=duration_ms)
        else:
            self._index(bizdata.recording_stored, rec.ref, file=relative, duration_ms=duration_ms)
            self._emit(
                rec.call_id,
                RECORDING_STORED,
                ref=rec.ref,
                file=relative,
                duration_ms=str(duration_ms),
            )
            self.metrics.count_stored()
            log.info("recording %s stored: %s (%d ms)", rec.ref, path, duration_ms)
        if rec.voicemail:
            self._emit(
                rec.call_id,
                VOICEMAIL_LEFT,
                box=rec.name,
                message_id=message_id,
                caller=rec.caller,
                duration_ms=str(duration_ms),
                ref=rec.ref,
            )
        return Outcome("failed" if short else "stored", "short" if short else "", relative)

    def _fail(
        self,
        rec: Recording,
        reason: str,
        detail: str,
        *,
        file: str | None = None,
        duration_ms: int | None = None,
    ) -> Outcome:
        log.error("recording %s failed (%s): %s", rec.ref, reason, detail)
        self._index(
            bizdata.recording_failed,
            rec.ref,
            reason=reason,
            detail=detail[:500],
            file=file,
            duration_ms=duration_ms,
        )
        self._emit(rec.call_id, RECORDING_FAILED, ref=rec.ref, reason=reason, detail=detail[:500])
        self.metrics.count_failed(reason)
        return Outcome("failed", reason, file or "")

    def _emit(self, call_id: str, kind: str, **fields: str) -> None:
        self.events.append(
            Event(
                kind=kind,
                ts=time.time(),
                correlation_id=call_id,
                node=f"{self.settings.node}-recorder",
                data=fields,
            )
        )

    # -- disk --------------------------------------------------------------------------

    def run_disk_watch(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.check_disk()
            except Exception as exc:  # Redis away: the next check tries again
                self._failed_loop("disk watch", exc)
            self.stop_event.wait(self.settings.disk_interval_s)

    def check_disk(self) -> None:
        state = self.disk.check()
        for path in state.free_mb:
            self.metrics.set_disk_full(str(path), path in state.low)
        for path in state.newly_low:
            detail = (
                f"{path}: {state.free_mb[path]:.1f} MB free, below recording.min_free_mb"
                f" {self.settings.min_free_mb}"
            )
            log.error("disk full: %s; recordings on %s fail", detail, ", ".join(self.served))
            self.metrics.count_failed("disk_full")
            self._emit("", RECORDING_FAILED, ref="", reason="disk_full", detail=detail)
        for path in state.recovered:
            log.warning("disk space back: %s has %.1f MB free", path, state.free_mb[path])
        pipe = self.redis.pipeline(transaction=False)
        for node in sorted(self.served):
            if state.low:
                pipe.set(self.settings.disk_full_key(node), "1", px=DISK_FULL_TTL_MS)
            elif state.recovered:
                pipe.delete(self.settings.disk_full_key(node))
        pipe.execute()

    # -- retention ----------------------------------------------------------------------

    def run_retention(self) -> None:
        while not self.stop_event.is_set():
            try:
                apply_retention(self.engine, self.settings)
            except Exception as exc:  # the store away: the next round tries again
                self._failed_loop("retention", exc)
            self.stop_event.wait(self.settings.retention_interval_s)
