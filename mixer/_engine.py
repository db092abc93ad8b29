"""The media thread: one loop over the control socket and every slot's socket, and a
20 ms tick on a monotonic schedule.

Between ticks it reads what arrived (epoll): ng requests run at once, RTP is counted
and placed in its slot's playout by timestamp. On each tick, due at start + n * 20 ms
(no drift: a late tick does not move the next), every slot with a frame due gives it, the frames are
decoded in one block, mixed for every output and recording channel (`_mixing`),
encoded and sent. A loop that fell more than `_CATCH_UP_TICKS` behind (the process
was stopped) skips the missed ticks rather than bursting them out.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import selectors
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from recording import g711_decode, g711_encode

from ._bridge import Bridge, Deferred, Reply, finish_recording
from ._conference import Conference, Slot
from ._mixing import FRAME, Index, mix, saturate, sounding, source_index
from ._ng import NgRequestError, ReplyCache, decode_request, encode_reply, error_reply, split_cookie
from ._rtp import parse_rtp
from ._settings import MixerSettings
from ._wav_writer import WavWriter

log = logging.getLogger("mixer")

TICK_S: Final = 0.020
_CATCH_UP_TICKS: Final = 5
_READ_BURST: Final = 64  # datagrams read from one socket before others get a turn
_EXPIRE_EVERY_TICKS: Final = 10  # idle conferences are looked for every 200 ms
_MAX_REPLY: Final = 65000  # bytes: a UDP datagram's payload is at most 65,507
_CONTROL: Final = "control"
_WAKE: Final = "wake"


class MixerStartError(RuntimeError):
    """The mixer cannot start here (its ng address or its whole port range taken)."""


@dataclass
class Plan:
    """Who feeds whom, as arrays: rebuilt when slots, hears or recordings change."""

    version: int
    slots: list[Slot]  # row i of the frame block is slots[i]; the last row is silence
    outputs: list[tuple[Slot, tuple[str, int]]] = field(default_factory=list)
    output_index: Index = field(default_factory=lambda: source_index([], 0))
    output_laws: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    recordings: list[tuple[WavWriter, int, int]] = field(default_factory=list)
    channel_index: Index = field(default_factory=lambda: source_index([], 0))


def build_plan(version: int, conferences: list[Conference]) -> Plan:
    slots = [slot for c in conferences for slot in c.slots.values()]
    rows = {id(slot): row for row, slot in enumerate(slots)}
    silent = len(slots)
    outputs: list[tuple[Slot, tuple[str, int]]] = []
    sources: list[list[int]] = []
    channels: list[list[int]] = []
    recordings: list[tuple[WavWriter, int, int]] = []
    for conference in conferences:
        for listener, heard in conference.hears.items():
            slot = conference.slots.get(listener)
            remote = slot.remote if slot is not None else None
            if slot is None or remote is None:
                continue
            heard_rows = [rows[id(conference.slots[h])] for h in heard if h in conference.slots]
            if heard_rows:
                outputs.append((slot, remote))
                sources.append(heard_rows)
        if conference.recording is not None:
            start = len(channels)
            for names in conference.recording.channels:
                channels.append(
                    [rows[id(conference.slots[n])] for n in names if n in conference.slots]
                )
            recordings.append((conference.recording.writer, start, len(channels)))
    return Plan(
        version,
        slots,
        outputs,
        source_index(sources, silent),
        np.array([slot.law for slot, _ in outputs], dtype=np.int32),
        recordings,
        source_index(channels, silent),
    )


class Engine:
    def __init__(self, settings: MixerSettings) -> None:
        self.settings = settings
        family = socket.AF_INET6 if ":" in settings.ng_host else socket.AF_INET
        self.control = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.control.bind((settings.ng_host, settings.ng_port))
        except OSError as exc:
            self.control.close()
            raise MixerStartError(
                f"cannot listen for ng on {settings.ng}: {exc.strerror or exc}"
            ) from None
        self.control.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.control, selectors.EVENT_READ, _CONTROL)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self.bridge = Bridge(settings, self.selector)
        self.cache = ReplyCache()
        self._next_due = 0.0  # monotonic time of the next tick
        self._open_tick = 0  # the next tick to run (due at _next_due)
        self._closer = ThreadPoolExecutor(1, thread_name_prefix="mixer-closer")
        self._finished: queue.SimpleQueue[tuple[Any, bytes, Reply]] = queue.SimpleQueue()
        self._plan = Plan(-1, [])
        self._stopping = False
        self.ticks = 0
        self.skipped_ticks = 0
        self.tick_errors = 0
        self.max_lag_us = 0  # how late a tick ran, at most
        self.tick_time_us = 0  # time spent in ticks, in total

    def check_ports(self) -> int:
        """How many of the range's ports bind; `MixerStartError` when none does."""
        pool = self.bridge.ports
        free = pool.bindable()
        if free == 0:
            raise MixerStartError(
                f"every port of {pool.interface}:{pool.port_min}-{pool.port_max} is in use"
            )
        return free

    # -- the loop ----------------------------------------------------------------------
    def stop(self) -> None:
        """Safe from a signal handler or another thread: the loop ends soon after."""
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already woken (buffer full) or closing
            self._wake_w.send(b"!")

    def run(self) -> None:
        tick = 0
        next_due = self._next_due = time.monotonic() + TICK_S
        while not self._stopping:
            # Read what is there even when a tick is due (timeout 0): a tick that runs
            # late must find the frames that arrived meanwhile, not drop them later.
            for key, _ in self.selector.select(max(0.0, next_due - time.monotonic())):
                self._dispatch(key.data)
            now = time.monotonic()
            if now < next_due:
                continue
            behind = int((now - next_due) / TICK_S)
            if behind > _CATCH_UP_TICKS:
                tick += behind
                next_due += behind * TICK_S
                self._next_due = next_due
                self._open_tick = tick
                self.skipped_ticks += behind
                self._pad_recordings(behind)
                log.warning("%d ticks late, skipped them", behind)
            self.max_lag_us = max(self.max_lag_us, int((now - next_due) * 1e6))
            try:
                self._tick(tick)
            except Exception:  # a bug must not end every monitored call: log, go on
                self.tick_errors += 1
                if self.tick_errors % 500 == 1:
                    log.exception("tick failed (%d times so far)", self.tick_errors)
            self.ticks += 1
            self.tick_time_us += int((time.monotonic() - now) * 1e6)
            tick += 1
            next_due += TICK_S
            self._next_due = next_due
            self._open_tick = tick
            if tick % _EXPIRE_EVERY_TICKS == 0:
                self._expire(now)

    def _dispatch(self, data: object) -> None:
        if isinstance(data, Slot):
            self._receive(data)
        elif data == _CONTROL:
            self._read_control()
        elif data == _WAKE:
            self._drain_wake()

    def _ticks_now(self) -> tuple[int, int]:
        """(arrival tick, open tick) for what is read now: the open tick is the first not
        run yet; the arrival tick is the one the clock is at (later than the open tick
        when the loop was held up: what arrives meanwhile is the catch-up ticks' input,
        and is not late for them, keeping the intent of the old queue bound)."""
        open_tick = self._open_tick
        behind = time.monotonic() - self._next_due
        if behind <= 0:
            return open_tick, open_tick
        return open_tick + math.ceil(behind / TICK_S), open_tick

    def _receive(self, slot: Slot) -> None:
        sock = slot.sock
        arrival_tick, open_tick = self._ticks_now()
        got_rtp = False
        for _ in range(_READ_BURST):
            try:
                data = sock.recv(2048)
            except OSError:  # nothing more (EAGAIN), or an ICMP error reported late
                break
            packet = parse_rtp(data)
            if packet is not None:
                slot.receive(packet, arrival_tick, open_tick)
                got_rtp = True
        if got_rtp:
            slot.conference.last_packet = time.monotonic()

    # -- the tick ----------------------------------------------------------------------
    def _current_plan(self) -> Plan:
        if self._plan.version != self.bridge.version:
            self._plan = build_plan(self.bridge.version, list(self.bridge.conferences.values()))
        return self._plan

    def _tick(self, tick: int) -> None:
        plan = self._current_plan()
        rows: list[int] = []
        chunks: list[bytes] = []
        laws: list[int] = []
        for row, slot in enumerate(plan.slots):
            frame = slot.take_frame(tick)
            if frame is not None:
                rows.append(row)
                chunks.append(frame)
                laws.append(slot.law)
        if not rows and not plan.recordings:
            return
        frames = np.zeros((len(plan.slots) + 1, FRAME), dtype=np.int32)
        if rows:
            codes = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(len(rows), FRAME)
            frames[rows] = g711_decode(codes, np.array(laws, dtype=np.int32)[:, None])
            if plan.outputs:
                has_frame = np.zeros(len(plan.slots) + 1, dtype=np.bool_)
                has_frame[rows] = True
                self._send(
                    plan, frames, np.flatnonzero(sounding(has_frame, plan.output_index)), tick
                )
        if plan.recordings:
            mixed = saturate(mix(frames, plan.channel_index))
            for writer, start, end in plan.recordings:
                writer.write(mixed[start:end].T)

    def _pad_recordings(self, ticks: int) -> None:
        """Silence for ticks that were skipped: a recording keeps the call's timeline."""
        for writer, start, end in self._current_plan().recordings:
            writer.write(np.zeros((ticks * FRAME, end - start), dtype=np.int16))

    def _send(
        self, plan: Plan, frames: npt.NDArray[np.int32], active: npt.NDArray[np.intp], tick: int
    ) -> None:
        if not active.size:
            return
        mixed = mix(frames, plan.output_index[active])
        payload = g711_encode(mixed, plan.output_laws[active, None]).tobytes()
        for k, output in enumerate(active.tolist()):
            slot, remote = plan.outputs[output]
            packet = slot.packet(payload[k * FRAME : (k + 1) * FRAME], tick)
            try:
                slot.sock.sendto(packet, remote)
            except OSError as exc:  # a full buffer or an unreachable peer: this frame only
                log.debug("send to %s failed: %s", remote, exc)

    def _expire(self, now: float) -> None:
        for name, writer in self.bridge.expire(now):
            self._closer.submit(finish_recording, name, writer)

    # -- control -----------------------------------------------------------------------
    def _read_control(self) -> None:
        for _ in range(_READ_BURST):
            try:
                data, address = self.control.recvfrom(65535)
            except OSError:
                return
            self._request(data, address)

    def _request(self, data: bytes, address: Any) -> None:
        try:
            cookie, body = split_cookie(data)
        except NgRequestError as exc:
            log.warning("dropped a datagram from %s: %s", address, exc)
            return
        seen, cached = self.cache.lookup(address, cookie)
        if seen:  # a retransmission: the same reply again (or, pending, the reply to come)
            if cached is not None:
                self._send_control(cached, address)
            return
        reply: Reply | Deferred
        try:
            request = decode_request(body)
        except NgRequestError as exc:
            reply = error_reply(str(exc))
        else:
            try:
                reply = self.bridge.handle(request)
            except Exception as exc:  # a bug: an answer all the same, and the loop goes on
                log.exception("%s failed", request.get("command"))
                reply = error_reply(f"internal error: {exc!r}")
            if request.get("command") == "statistics" and "conference" not in request:
                assert isinstance(reply, dict)
                reply["mixer"] = self.totals()
        if isinstance(reply, Deferred):
            self.cache.pending(address, cookie)
            future = self._closer.submit(reply.work)
            future.add_done_callback(lambda f: self._deferred_done(address, cookie, f))
            return
        self._answer(address, cookie, reply)

    def _deferred_done(self, address: Any, cookie: bytes, future: Future[Reply]) -> None:
        """On the closer thread: hand the reply to the media thread."""
        try:
            reply = future.result()
        except Exception as exc:  # a bug in the closing: still an answer
            log.exception("deferred command failed")
            reply = error_reply(f"internal error: {exc}")
        self._finished.put((address, cookie, reply))
        self._wake()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while True:
            try:
                address, cookie, reply = self._finished.get_nowait()
            except queue.Empty:
                return
            self._answer(address, cookie, reply)

    def _answer(self, address: Any, cookie: bytes, reply: Reply) -> None:
        datagram = encode_reply(cookie, reply)
        if len(datagram) > _MAX_REPLY:  # `statistics` of a full node: no datagram holds it
            datagram = encode_reply(
                cookie,
                error_reply(f"the reply would be {len(datagram)} bytes; ask per conference"),
            )
        self.cache.store(address, cookie, datagram)
        self._send_control(datagram, address)

    def _send_control(self, datagram: bytes, address: Any) -> None:
        try:
            self.control.sendto(datagram, address)
        except OSError as exc:
            log.warning("cannot reply to %s: %s", address, exc)

    def totals(self) -> dict[str, int]:
        return {
            "ticks": self.ticks,
            "skipped_ticks": self.skipped_ticks,
            "tick_errors": self.tick_errors,
            "max_lag_us": self.max_lag_us,
            "tick_time_us": self.tick_time_us,
            "free_ports": self.bridge.ports.free,
            "cpu_ms": int(time.process_time() * 1000),  # the process's, all threads
        }

    # -- the end -----------------------------------------------------------------------
    def close(self) -> None:
        """Finish every recording (complete files, not lost), free every port."""
        for name, writer in self.bridge.close_all():
            finish_recording(name, writer)
        self._closer.shutdown(wait=True)
        self._drain_wake()  # the replies of `stop record`s that finished meanwhile
        self.selector.close()
        self.control.close()
        self._wake_r.close()
        self._wake_w.close()
