"""The mixer's commands (docs/monitoring.md, "The mixer's control protocol") on its
conferences: join, hear, leave, record, stop record, delete, list, statistics, ping.

A command either succeeds whole or changes nothing and says why (`result: error`,
`error-reason`). The commands run on the media thread, between ticks; only closing a
recording's file (an fsync) is handed off, as a `Deferred` reply.
"""

from __future__ import annotations

import logging
import selectors
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ._conference import Conference, Recording, Slot
from ._ng import error_reply
from ._ports import PortPool, PortsExhausted
from ._sdp import SdpError, answer_sdp, parse_offer
from ._settings import MixerSettings
from ._wav_writer import WavWriter

log = logging.getLogger("mixer")

Reply = dict[str, Any]
MAX_NAME: Final = 256  # characters of a conference or slot name
MAX_CHANNELS: Final = 8  # of a recording


@dataclass(frozen=True)
class Deferred:
    """A reply that needs work off the media thread first (a recording's file closed)."""

    work: Callable[[], Reply]


class CommandError(Exception):
    """What is wrong with a request; it becomes the reply's `error-reason`."""


def _name(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if value is None:
        raise CommandError(f"missing parameter {key!r}")
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise CommandError(f"{key!r} must be a string of 1 to {MAX_NAME} characters")
    return value


def finish_recording(conference: str, writer: WavWriter) -> Reply:
    """Close `writer`'s file (the deferred half of `stop record` and `delete`)."""
    try:
        writer.finish()
    except OSError as exc:
        log.error("recording %s of %s failed: %s", writer.path, conference, exc)
        return error_reply(f"recording {writer.path} failed: {exc}")
    log.info("recording %s of %s complete, %d ms", writer.path, conference, writer.duration_ms)
    return {"result": "ok", "file": str(writer.path), "duration_ms": writer.duration_ms}


class Bridge:
    def __init__(
        self,
        settings: MixerSettings,
        selector: selectors.BaseSelector,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.selector = selector
        self.clock = clock
        self.ports = PortPool(settings.interface, settings.port_min, settings.port_max)
        self.conferences: dict[str, Conference] = {}
        self.version = 0  # grows with every change of slots, hears or recordings
        self._commands: dict[str, Callable[[dict[str, Any]], Reply | Deferred]] = {
            "ping": self._ping,
            "join": self._join,
            "hear": self._hear,
            "leave": self._leave,
            "record": self._record,
            "stop record": self._stop_record,
            "delete": self._delete,
            "list": self._list,
            "statistics": self._statistics,
        }

    def handle(self, request: dict[str, Any]) -> Reply | Deferred:
        command = request.get("command")
        handler = self._commands.get(command) if isinstance(command, str) else None
        if handler is None:
            return error_reply(f"unknown command {command!r}")
        try:
            return handler(request)
        except CommandError as exc:
            if command not in ("ping", "list", "statistics"):
                log.info("%s refused: %s", command, exc)
            return error_reply(str(exc))

    # -- the commands ------------------------------------------------------------------
    def _ping(self, _request: dict[str, Any]) -> Reply:
        slots = sum(len(c.slots) for c in self.conferences.values())
        return {"result": "pong", "conferences": len(self.conferences), "slots": slots}

    def _join(self, request: dict[str, Any]) -> Reply:
        conference_name = _name(request, "conference")
        slot_name = _name(request, "slot")
        sdp = request.get("sdp")
        if not isinstance(sdp, str):
            raise CommandError("missing parameter 'sdp'")
        try:
            offer = parse_offer(sdp)
        except SdpError as exc:
            raise CommandError(f"sdp: {exc}") from None
        conference = self.conferences.get(conference_name)
        slot = conference.slots.get(slot_name) if conference is not None else None
        if slot is None:
            try:
                sock = self.ports.open()
            except PortsExhausted as exc:
                raise CommandError(str(exc)) from None
            except OSError as exc:
                raise CommandError(f"cannot open an RTP port: {exc}") from None
            if conference is None:
                conference = Conference(conference_name, last_packet=self.clock())
                self.conferences[conference_name] = conference
            slot = Slot(conference, slot_name, sock, self.settings.jitter_frames)
            conference.slots[slot_name] = slot
            self.selector.register(sock, selectors.EVENT_READ, slot)
        elif slot.offer is not None and slot.offer.law != offer.law:
            slot.playout.clear()  # queued frames are of the old law
        assert conference is not None
        slot.offer = offer
        slot.answers += 1
        conference.last_packet = max(conference.last_packet, self.clock())
        self.version += 1
        log.info(
            "%s joined %s on port %d, %s:%d pt %d %s",
            slot_name,
            conference_name,
            slot.port,
            offer.address,
            offer.port,
            offer.payload_type,
            offer.direction,
        )
        answer = answer_sdp(
            offer,
            self.settings.interface,
            slot.port,
            session_id=slot.ssrc & 0x7FFFFFFF,
            version=slot.answers,
        )
        return {"result": "ok", "sdp": answer}

    def _conference(self, request: dict[str, Any]) -> Conference:
        name = _name(request, "conference")
        conference = self.conferences.get(name)
        if conference is None:
            raise CommandError(f"unknown conference {name!r}")
        return conference

    def _hear(self, request: dict[str, Any]) -> Reply:
        conference = self._conference(request)
        hears = request.get("hears")
        if hears is None:
            raise CommandError("missing parameter 'hears'")
        if not isinstance(hears, dict):
            raise CommandError("'hears' must be a dictionary {slot: [slots it hears]}")
        result: dict[str, list[str]] = {}
        for listener, heard in hears.items():
            if listener not in conference.slots:
                raise CommandError(f"hears: unknown slot {listener!r}")
            if not isinstance(heard, list) or not all(isinstance(h, str) for h in heard):
                raise CommandError(f"hears[{listener!r}] must be a list of slot names")
            for name in heard:
                if name not in conference.slots:
                    raise CommandError(f"hears[{listener!r}]: unknown slot {name!r}")
                if name == listener:
                    raise CommandError(f"hears[{listener!r}]: a slot does not hear itself")
            if heard:
                result[listener] = list(dict.fromkeys(heard))
        conference.hears = result
        self.version += 1
        log.info("%s hears %s", conference.name, result)
        return {"result": "ok"}

    def _leave(self, request: dict[str, Any]) -> Reply:
        conference = self._conference(request)
        slot_name = _name(request, "slot")
        slot = conference.slots.get(slot_name)
        if slot is None:
            raise CommandError(f"unknown slot {slot_name!r} in {conference.name!r}")
        self._close_slot(slot)
        del conference.slots[slot_name]
        remaining = {
            listener: [h for h in heard if h != slot_name]
            for listener, heard in conference.hears.items()
            if listener != slot_name
        }
        conference.hears = {listener: heard for listener, heard in remaining.items() if heard}
        self.version += 1
        log.info("%s left %s", slot_name, conference.name)
        return {"result": "ok"}

    def _record(self, request: dict[str, Any]) -> Reply:
        conference = self._conference(request)
        file = request.get("file")
        if not isinstance(file, str) or not file:
            raise CommandError("missing parameter 'file'")
        path = Path(file)
        if not path.is_absolute():
            raise CommandError(f"file {file!r} is not an absolute path")
        channels = request.get("channels")
        if channels is None:
            raise CommandError("missing parameter 'channels'")
        if (
            not isinstance(channels, list)
            or not 1 <= len(channels) <= MAX_CHANNELS
            or not all(isinstance(c, list) and all(isinstance(s, str) for s in c) for c in channels)
        ):
            raise CommandError(
                f"'channels' must be a list of 1 to {MAX_CHANNELS} lists of slot names"
            )
        for other in self.conferences.values():
            if other.recording is not None and other.recording.writer.path == path:
                raise CommandError(f"{file} is being written for {other.name!r}")
        if conference.recording is not None:
            raise CommandError(
                f"{conference.name!r} is already recording to {conference.recording.writer.path}"
            )
        try:
            writer = WavWriter(path, len(channels))
        except OSError as exc:
            raise CommandError(f"cannot write {file}: {exc.strerror or exc}") from None
        conference.recording = Recording(writer, [list(c) for c in channels])
        self.version += 1
        log.info("recording %s to %s, channels %s", conference.name, path, channels)
        return {"result": "ok"}

    def _stop_record(self, request: dict[str, Any]) -> Deferred:
        conference = self._conference(request)
        recording = conference.recording
        if recording is None:
            raise CommandError(f"{conference.name!r} is not recording")
        conference.recording = None
        self.version += 1
        name, writer = conference.name, recording.writer
        return Deferred(lambda: finish_recording(name, writer))

    def _delete(self, request: dict[str, Any]) -> Reply | Deferred:
        conference = self._conference(request)
        writer = self.forget(conference, "deleted")
        if writer is None:
            return {"result": "ok"}
        name = conference.name
        return Deferred(lambda: finish_recording(name, writer))

    def _list(self, _request: dict[str, Any]) -> Reply:
        return {"result": "ok", "conferences": sorted(self.conferences)}

    def _statistics(self, request: dict[str, Any]) -> Reply:
        if request.get("conference") is not None:
            conference = self._conference(request)
            return {
                "result": "ok",
                "slots": {n: s.statistics() for n, s in conference.slots.items()},
            }
        return {
            "result": "ok",
            "conferences": {
                c.name: {n: s.statistics() for n, s in c.slots.items()}
                for c in self.conferences.values()
            },
        }

    # -- ends --------------------------------------------------------------------------
    def _close_slot(self, slot: Slot) -> None:
        self.selector.unregister(slot.sock)
        self.ports.release(slot.sock)

    def forget(self, conference: Conference, why: str) -> WavWriter | None:
        """End `conference`: its ports freed; its recording's writer, still to finish."""
        for slot in conference.slots.values():
            self._close_slot(slot)
        conference.slots.clear()
        del self.conferences[conference.name]
        self.version += 1
        log.info("conference %s %s", conference.name, why)
        return conference.recording.writer if conference.recording is not None else None

    def expire(self, now: float) -> list[tuple[str, WavWriter]]:
        """Forget the conferences idle for the timeout; the recordings to finish."""
        idle = [
            c
            for c in self.conferences.values()
            if now - c.last_packet > self.settings.idle_timeout_s
        ]
        writers = []
        for conference in idle:
            writer = self.forget(conference, "timed out (no packets)")
            if writer is not None:
                writers.append((conference.name, writer))
        return writers

    def close_all(self) -> list[tuple[str, WavWriter]]:
        writers = []
        for conference in list(self.conferences.values()):
            writer = self.forget(conference, "closed (mixer stopping)")
            if writer is not None:
                writers.append((conference.name, writer))
        return writers
