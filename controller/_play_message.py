"""Play a message twice, then hang up (R-AG-8; docs/recording.md, "Play a message twice").

The ACD's `PlayMessageCall`: the agent's part is over (the ACD has moved it to
wrap-up), so its leg goes at once (`release`: blocked, BYE, the caller parked). The
text is rendered with the prompts' TTS (`prompts.render`, cached) on a worker thread,
joined into one WAV that holds it `repeats` times with 0.5 s of silence between, and
played to the caller; when that WAV has played the controller writes
`call.message_played` and hangs up (cause `message_played`, side `system`). A
recording running on the call stops at that hang-up, like at any other.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import wave
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import prompts
from controller._ports import EventPublisher, Execute, Later, Post
from eventlog import CALL_MESSAGE_PLAYED, Event

__all__ = ["CAUSE_MESSAGE_PLAYED", "MessagePlayer", "repeated_message"]

log = logging.getLogger("controller.acd")

CAUSE_MESSAGE_PLAYED = "message_played"
GAP_MS = 500
# After the WAV's length: rtpengine's player starts a packet or two late.
_TAIL_S = 0.3


def _silence(cache_dir: Path, ms: int) -> Path:
    path = cache_dir / f"silence-{ms}ms.wav"
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Replicas share the prompt cache: each writes its own temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(prompts.CHANNELS)
        w.setsampwidth(prompts.SAMPLE_WIDTH)
        w.setframerate(prompts.SAMPLE_RATE)
        w.writeframes(
            b"\x00" * (prompts.SAMPLE_RATE * ms // 1000 * prompts.SAMPLE_WIDTH * prompts.CHANNELS)
        )
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def repeated_message(
    text: str,
    language: str,
    repeats: int,
    cache_dir: Path,
    *,
    render: Callable[[str, str, Path], Path] = prompts.render,
) -> Path:
    """One WAV: `text` spoken `repeats` times with `GAP_MS` of silence between."""
    spoken = render(text, language, cache_dir)
    if repeats <= 1:
        return spoken
    gap = _silence(cache_dir, GAP_MS)
    parts = [spoken]
    for _ in range(repeats - 1):
        parts += [gap, spoken]
    return prompts.concat_wavs(parts, cache_dir)


@dataclass(frozen=True)
class _Message:
    cid: str
    text: str
    language: str
    repeats: int
    agent: str


class MessagePlayer:
    """Carries out PlayMessageCall on the SIP loop; renders on its own thread."""

    def __init__(
        self,
        *,
        run: Execute,
        post: Post,
        later: Later,
        hangup: Callable[[str, str], None],
        events: EventPublisher,
        cache_dir: Path | None,
        node: str = "",
        render: Callable[[str, str, int, Path], Path] = repeated_message,
        clock: Callable[[], float] = time.time,
        run_job: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """`hangup(cid, cause)` ends the call with that cause in its `call.ended`."""
        self._run = run
        self._post = post
        self._later = later
        self._hangup = hangup
        self._events = events
        self._cache_dir = cache_dir
        self._node = node
        self._render = render
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._run_job = run_job if run_job is not None else self._in_pool

    def _in_pool(self, job: Callable[[], None]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="play-message")
        self._pool.submit(job)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def play(self, cid: str, *, text: str, language: str, repeats: int, agent: str) -> None:
        """Drop the agent's leg now; the caller hears the message once it is rendered."""
        message = _Message(
            cid, text, language if prompts.is_language(language) else "zh", max(1, repeats), agent
        )
        reply = self._run({"cmd": "release", "cid": cid})
        if not reply.get("ok"):
            log.warning(
                "cid=%s play a message: cannot release the agent (%s)", cid, reply.get("error")
            )
            if "no such call" in str(reply.get("error", "")):
                return
        log.info("cid=%s agent %s leaves; the caller hears a message %s times", cid, agent, repeats)
        cache_dir = self._cache_dir
        if cache_dir is None or not text.strip():
            log.error("cid=%s no message to play (no --prompt-cache, or no text); hanging up", cid)
            self._hangup(cid, CAUSE_MESSAGE_PLAYED)
            return
        self._run_job(partial(self._render_job, message, cache_dir))

    def _render_job(self, message: _Message, cache_dir: Path) -> None:
        try:
            path = self._render(message.text, message.language, message.repeats, cache_dir)
            duration_ms = prompts.wav_duration_ms(path)
        except Exception as exc:  # espeak-ng or sox missing, cache not writable
            log.error("cid=%s the message could not be rendered: %s", message.cid, exc)
            self._post(partial(self._hangup, message.cid, CAUSE_MESSAGE_PLAYED))
            return
        self._post(partial(self._rendered, message, path, duration_ms))

    def _rendered(self, message: _Message, path: Path, duration_ms: int) -> None:
        reply = self._run({"cmd": "play", "cid": message.cid, "file": str(path.resolve())})
        if not reply.get("ok"):
            error = str(reply.get("error", ""))
            if "no such call" in error:
                return  # the caller hung up meanwhile
            log.error("cid=%s the message could not be played: %s", message.cid, error)
            self._hangup(message.cid, CAUSE_MESSAGE_PLAYED)
            return
        self._later(duration_ms / 1000 + _TAIL_S, partial(self._played, message))

    def _played(self, message: _Message) -> None:
        reply = self._run({"cmd": "call", "cid": message.cid})
        if not reply.get("ok"):
            return  # the caller hung up before the end
        self._events.publish(
            Event.new(
                CALL_MESSAGE_PLAYED,
                correlation_id=message.cid,
                node=self._node,
                ts=self._clock(),
                agent=message.agent,
                repeats=str(message.repeats),
            )
        )
        self._hangup(message.cid, CAUSE_MESSAGE_PLAYED)
