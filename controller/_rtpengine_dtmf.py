"""The DTMF events of this replica's rtpengine, read over TCP ng on a thread of their own.

rtpengine started with `--listen-tcp-ng` and `--dtmf-log-ng-tcp` pushes every digit it
detects to every TCP ng client. Each controller replica keeps one connection to its
rtpengine and hands each event to the SIP loop, where `DtmfDigits` keeps the digits of
the replica's own calls and counts the rest (docs/call-control.md, "DTMF").

Nothing is buffered while the connection is down: rtpengine sends an event once, to the
clients connected at that moment. The thread reconnects with a back-off (0.1 s doubling
to 2 s) after rtpengine restarts.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from controller._ports import Post
from rtpengine import NotificationDecoder, NotificationError, dtmf_event

log = logging.getLogger("controller.dtmf")

# (cid, monologue tag, digit), run on the SIP loop.
OnEvent = Callable[[str, str, str], None]

_BACKOFF_FIRST_S = 0.1
_BACKOFF_MAX_S = 2.0


class RtpengineDtmfFeed:
    """One TCP ng connection to rtpengine that turns `onDTMF` notifications into posts."""

    def __init__(
        self,
        host: str,
        port: int,
        on_event: OnEvent,
        post: Post,
        *,
        connect_timeout_s: float = 1.0,
    ) -> None:
        self.address = (host, port)
        self._on_event = on_event
        self._post = post
        self._connect_timeout_s = connect_timeout_s
        self._stopped = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rtpengine-dtmf", daemon=True)
        self.connected = False
        self.connects = 0
        self.lost = 0
        self.events = 0
        self.malformed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stopped.set()
        with self._lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recv
        self._thread.join(timeout_s)

    def stats(self) -> dict[str, Any]:
        return {
            "address": f"{self.address[0]}:{self.address[1]}",
            "connected": self.connected,
            "connects": self.connects,
            "lost": self.lost,
            "events": self.events,
            "malformed": self.malformed,
        }

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        backoff = _BACKOFF_FIRST_S
        warned = False
        while not self._stopped.is_set():
            try:
                sock = socket.create_connection(self.address, timeout=self._connect_timeout_s)
            except OSError as exc:
                if not warned:  # once per outage; the retries go on quietly
                    log.warning(
                        "rtpengine DTMF events: cannot connect to tcp %s:%s (%s); retrying",
                        *self.address,
                        exc,
                    )
                    warned = True
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            backoff = _BACKOFF_FIRST_S
            warned = False
            self._read(sock)

    def _read(self, sock: socket.socket) -> None:
        sock.settimeout(None)
        # A host that vanishes without a FIN is found by keepalive, not by waiting forever.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
            if hasattr(socket, option):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        with self._lock:
            self._sock = sock
        self.connected = True
        self.connects += 1
        log.info("rtpengine DTMF events: connected to tcp %s:%s", *self.address)
        decoder = NotificationDecoder()
        why = "closed by rtpengine"
        try:
            while not self._stopped.is_set():
                data = sock.recv(65536)
                if not data:
                    break
                for message in decoder.feed(data):
                    event = dtmf_event(message)
                    if event is None:
                        if message.get("notify") == "onDTMF":
                            self.malformed += 1
                        continue
                    self.events += 1
                    self._post(
                        partial(self._on_event, event.call_id, event.source_tag, event.digit)
                    )
        except NotificationError as exc:  # out of step: a fresh connection starts clean
            self.malformed += 1
            why = f"unreadable stream ({exc})"
        except OSError as exc:
            why = str(exc)
        finally:
            with self._lock:
                self._sock = None
            self.connected = False
            sock.close()
        if not self._stopped.is_set():
            self.lost += 1
            log.warning(
                "rtpengine DTMF events: connection to tcp %s:%s lost: %s; reconnecting",
                *self.address,
                why,
            )
