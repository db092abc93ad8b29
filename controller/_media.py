"""The rtpengine adapter: offer/answer/play/delete over ng, one rtpengine call per call.

Session design (docs/call-control.md): the rtpengine call-id is the controller's
correlation ID; each SIP leg is one rtpengine monologue tagged with the leg's id,
and a "park" monologue stands in for the far side while no agent is connected.
Re-pointing media (bridge, release, transfer, consult, intercept) is an offer/answer
between two legs' tags inside the same rtpengine call; a leg that leaves while the
call goes on is blocked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from rtpengine import NgClient, NgError, NgUnreachable

# Keep SDP plain: loopback/LAN addresses as given, no ICE toward SIP phones.
_SDP_FLAGS: dict[str, Any] = {
    "flags": ["trust-address"],
    "replace": ["origin", "session-connection"],
    "ICE": "remove",
}


class MediaError(Exception):
    """rtpengine refused a command or did not answer in time."""


class MediaServer(Protocol):
    def offer(self, call_id: str, from_tag: str, to_tag: str | None, sdp: str) -> str: ...
    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str) -> str: ...
    def play(self, call_id: str, tag: str, file: str) -> None: ...
    def stop_media(self, call_id: str, tag: str) -> None: ...
    def block(self, call_id: str, tag: str) -> None: ...
    def delete(self, call_id: str) -> None: ...
    def list_calls(self) -> list[str]: ...


class RtpengineNg:
    """The controller's media commands over rtpengine.NgClient. Event-loop thread only."""

    def __init__(self, host: str, port: int, *, timeout: float = 0.5,
                 down_for_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ng = NgClient(host, port, timeout=timeout)
        # Circuit breaker: requests run on the SIP loop, so an rtpengine that stopped
        # answering would cost every call event a full timeout and stall all calls.
        # After one unanswered request the node is "down" for `down_for_s`: requests
        # fail at once (the calls end cleanly with cause `media failure`) until one
        # probe request is let through after the period.
        self._down_for_s = down_for_s
        self._down_until = 0.0
        self._clock = clock

    def close(self) -> None:
        self._ng.close()

    def request(self, command: str, **params: Any) -> dict[str, Any]:
        now = self._clock()
        if now < self._down_until:
            raise MediaError(f"rtpengine {self._ng.address} marked down for another "
                             f"{self._down_until - now:.1f} s after it stopped answering")
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
        reply = self.request("answer", **{"call-id": call_id, "from-tag": from_tag,
                                          "to-tag": to_tag, "sdp": sdp}, **_SDP_FLAGS)
        return str(reply["sdp"])

    def play(self, call_id: str, tag: str, file: str) -> None:
        self.request("play media", **{"call-id": call_id, "from-tag": tag, "file": file})

    def stop_media(self, call_id: str, tag: str) -> None:
        self.request("stop media", **{"call-id": call_id, "from-tag": tag})

    def block(self, call_id: str, tag: str) -> None:
        """Drop everything the `tag` leg sends, to whichever monologue still listens to it.

        Re-pairing a leg's peer does not stop the leg's own media: its old peer stays
        subscribed to it (measured on rtpengine 10.5). A leg that leaves a call that goes
        on (release, transfer, intercept) is blocked so that nobody hears it any more,
        even if its phone keeps sending after our BYE.
        """
        self.request("block media", **{"call-id": call_id, "from-tag": tag})

    def delete(self, call_id: str) -> None:
        self.request("delete", **{"call-id": call_id})

    def list_calls(self) -> list[str]:
        return self._ng.list_calls(limit=100_000)
