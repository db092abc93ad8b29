"""The rtpengine adapter: offer/answer/play/delete over ng, one rtpengine call per call.

Session design (docs/call-control.md): the rtpengine call-id is the controller's
correlation ID; each SIP leg is one rtpengine monologue tagged with the leg's id,
and a "park" monologue stands in for the far side while no agent is connected.
Re-pointing media (bridge, release, transfer, consult, intercept) is an offer/answer
between two legs' tags inside the same rtpengine call; a leg that leaves while the
call goes on is blocked.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from recording import recording_metadata
from rtpengine import NgClient, NgError, NgUnreachable

# Keep SDP plain: loopback/LAN addresses as given, no ICE toward SIP phones.
_SDP_FLAGS: dict[str, Any] = {
    "flags": ["trust-address"],
    "replace": ["origin", "session-connection"],
    "ICE": "remove",
}


log = logging.getLogger("controller.media")


class MediaError(Exception):
    """rtpengine refused a command or did not answer in time."""


_STOP = object()


class _Deleter:
    """Sends `delete` from its own thread, on its own ng socket, in the order given.

    Nothing waits for the reply of a `delete`: the call is already gone from the
    controller. So the SIP loop hands it over and goes on (one ng round trip less per
    call on the loop, 0.2 ms on an idle rtpengine and several under load).
    """

    def __init__(self, ng: NgClient) -> None:
        self._ng = ng
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ng-delete", daemon=True)
        self._thread.start()

    def submit(self, call_id: str) -> None:
        self._queue.put(call_id)

    def close(self, timeout_s: float) -> None:
        """Send what is queued (within `timeout_s`), then stop."""
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning(
                "rtpengine deletes still queued at exit; rtpengine's own "
                "timeout will remove those sessions"
            )
        else:
            self._ng.close()

    def _run(self) -> None:
        while True:
            call_id = self._queue.get()
            if call_id is _STOP:
                return
            try:
                self._ng.request("delete", **{"call-id": call_id})
            except NgError as exc:  # e.g. never reached rtpengine, or it is down
                log.debug("cid=%s rtpengine delete: %s", call_id, exc)


class MediaServer(Protocol):
    def offer(self, call_id: str, from_tag: str, to_tag: str | None, sdp: str) -> str: ...
    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str) -> str: ...
    def play(self, call_id: str, tag: str, file: str) -> None: ...
    def stop_media(self, call_id: str, tag: str) -> None: ...
    def block(self, call_id: str, tag: str) -> None: ...
    def detect_dtmf(self, call_id: str, tag: str) -> None: ...
    def start_recording(self, call_id: str, ref: str, segment: int) -> None: ...
    def stop_recording(self, call_id: str) -> None: ...
    def delete(self, call_id: str) -> None: ...
    def list_calls(self) -> list[str]: ...


class RtpengineNg:
    """The controller's media commands over rtpengine.NgClient. Event-loop thread only."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 0.5,
        down_for_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        delete_in_background: bool = False,
    ) -> None:
        """`delete_in_background`: `delete` returns at once and a thread of this
        client sends it (`_Deleter`); its failures are logged, not raised."""
        self._ng = NgClient(host, port, timeout=timeout)
        self._deleter = (
            _Deleter(NgClient(host, port, timeout=timeout)) if delete_in_background else None
        )
        # Circuit breaker: requests run on the SIP loop, so an rtpengine that stopped
        # answering would cost every call event a full timeout and stall all calls.
        # After one unanswered request the node is "down" for `down_for_s`: requests
        # fail at once (the calls end cleanly with cause `media failure`) until one
        # probe request is let through after the period.
        self._down_for_s = down_for_s
        self._down_until = 0.0
        self._clock = clock
        # call-id -> the tags this client asked rtpengine to play a file to, until
        # stopped or deleted: `stop_media` goes out only for those (see there).
        self._players: dict[str, set[str]] = {}

    def close(self, timeout_s: float = 2.0) -> None:
        if self._deleter is not None:
            self._deleter.close(timeout_s)
        self._ng.close()

    def request(self, command: str, **params: Any) -> dict[str, Any]:
        now = self._clock()
        if now < self._down_until:
            raise MediaError(
                f"rtpengine {self._ng.address} marked down for another "
                f"{self._down_until - now:.1f} s after it stopped answering"
            )
        try:
            return self._ng.request(command, **params)
        except NgUnreachable as exc:
            self._down_until = self._clock() + self._down_for_s
            raise MediaError(str(exc)) from exc
        except NgError as exc:  # an error reply: the node is alive
            raise MediaError(str(exc)) from exc

    def offer(self, call_id: str, from_tag: str, to_tag: str | None, sdp: str) -> str:
        params: dict[str, Any] = {"call-id": call_id, "from-tag": from_tag, "sdp": sdp}
        if to_tag is not None:
            params["to-tag"] = to_tag
        return str(self.request("offer", **params, **_SDP_FLAGS)["sdp"])

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str) -> str:
        reply = self.request(
            "answer",
            **{"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag, "sdp": sdp},
            **_SDP_FLAGS,
        )
        return str(reply["sdp"])

    def play(self, call_id: str, tag: str, file: str, *, repeat: int | None = None) -> None:
        """Play `file` to `tag`, `repeat` times in a row (rtpengine's `repeat-times`)."""
        params: dict[str, Any] = {"call-id": call_id, "from-tag": tag, "file": file}
        if repeat is not None:
            params["repeat-times"] = repeat
        # Noted before the request: one that timed out may still have started the player.
        self._players.setdefault(call_id, set()).add(tag)
        self.request("play media", **params)

    def stop_media(self, call_id: str, tag: str) -> None:
        """Stop the player of `tag`; nothing is sent if this client never started one.

        Every file played to a call's legs goes through `play` on this one connection
        (the commands' `play`, the consult's hold file, the queue media), and a call is
        only ever handled by this replica, so "never started" is exact. The bridge
        stops the caller's player on every answer: most queued callers are answered
        before their music is due (`_queue_media`, `music_after_s`), and for them this
        saves a round trip on the SIP loop.
        """
        tags = self._players.get(call_id)
        if tags is None or tag not in tags:
            return
        self.request("stop media", **{"call-id": call_id, "from-tag": tag})
        tags.discard(tag)  # after the reply: one that failed is sent again next time
        if not tags:
            del self._players[call_id]

    def block(self, call_id: str, tag: str) -> None:
        """Drop everything the `tag` leg sends, to whichever monologue still listens to it.

        Re-pairing a leg's peer does not stop the leg's own media: its old peer stays
        subscribed to it (measured on rtpengine 10.5). A leg that leaves a call that goes
        on (release, transfer, intercept) is blocked so that nobody hears it any more,
        even if its phone keeps sending after our BYE.
        """
        self.request("block media", **{"call-id": call_id, "from-tag": tag})

    def detect_dtmf(self, call_id: str, tag: str) -> None:
        """Run what `tag` sends through rtpengine's DTMF tone detector (in-band DTMF).

        rtpengine then decodes that leg's audio (as when transcoding) and reports each
        tone as a DTMF event, like an RFC 4733 one. The `detect-DTMF` flag does nothing
        on `offer`/`answer` (10.5 and 12.5 alike): only `block DTMF`/`unblock DTMF` set
        it on a monologue, and `unblock DTMF` rebuilds the leg's codec handlers only
        when it also carries `delay-buffer` (0: no delay). The setting stays with the
        monologue across later offers and answers (measured on 10.5).
        """
        self.request(
            "unblock DTMF",
            **{"call-id": call_id, "from-tag": tag, "flags": ["detect-DTMF"], "delay-buffer": 0},
        )

    def start_recording(self, call_id: str, ref: str, segment: int) -> None:
        """Start writing everything rtpengine receives on the call into a new pcap file
        (recording-method pcap), tagged with our recording's `ref` and the segment's
        number in its metadata file (docs/recording.md, "The spool").

        rtpengine 10.5 has no pause: `stop recording` closes the file and the next
        `start recording` opens another, so a pause is the gap between two segments.
        """
        self.request(
            "start recording",
            **{"call-id": call_id, "metadata": recording_metadata(ref, segment)},
        )

    def stop_recording(self, call_id: str) -> None:
        """Close the call's current pcap segment (rtpengine moves its metadata file from
        tmp/ to metadata/, which is what the recorder waits for)."""
        self.request("stop recording", **{"call-id": call_id})

    def delete(self, call_id: str) -> None:
        self._players.pop(call_id, None)  # deleting the call stops its players
        if self._deleter is not None:
            self._deleter.submit(call_id)
            return
        self.request("delete", **{"call-id": call_id})

    def list_calls(self) -> list[str]:
        return self._ng.list_calls(limit=100_000)
