"""The mixer nodes' control protocol (rtpengine's ng framing, docs/monitoring.md) and
the choice of a node per monitored call.

Requests run on the SIP loop, like rtpengine's: a mixer that stops answering costs one
timeout, then it is marked down (no new calls go to it) and every call on it goes back
to direct media (`mixer_failed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rtpengine import NgClient, NgError, NgUnreachable

__all__ = ["MixerError", "MixerNode", "MixerPool"]

log = logging.getLogger("controller.monitoring")


class MixerError(Exception):
    """A mixer refused a command or did not answer in time."""


class MixerNode:
    """One mixer replica's ng control port."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        timeout_s: float = 0.3,
        down_for_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.address = (host, port)
        self._ng = NgClient(host, port, timeout=timeout_s)
        self._down_for_s = down_for_s
        self._down_until = 0.0
        self._clock = clock
        self.conferences: set[str] = set()  # this controller's conferences on it

    def healthy(self) -> bool:
        return self._clock() >= self._down_until

    def close(self) -> None:
        self._ng.close()

    def request(self, command: str, **params: Any) -> dict[str, Any]:
        """One command; a node that stopped answering is not asked again for
        `down_for_s` (each ask would cost the SIP loop a timeout)."""
        if not self.healthy():
            raise MixerError(f"mixer {self.name} is marked down (it stopped answering)")
        try:
            reply = self._ng.request(command, **params)
        except NgUnreachable as exc:
            self._down_until = self._clock() + self._down_for_s
            raise MixerError(f"mixer {self.name} did not answer {command!r}: {exc}") from exc
        except NgError as exc:
            raise MixerError(f"mixer {self.name} refused {command!r}: {exc}") from exc
        return reply

    def ping(self) -> dict[str, Any]:
        reply = self.request("ping")
        if reply.get("result") != "pong":
            raise MixerError(f"mixer {self.name}: ping answered {reply.get('result')!r}")
        return reply

    def list(self) -> set[str]:
        """The conferences the mixer holds (a restarted one holds none of ours)."""
        conferences = self.request("list").get("conferences", [])
        if not isinstance(conferences, list):
            raise MixerError(f"mixer {self.name}: list answered {conferences!r}")
        return {str(c) for c in conferences}

    def join(self, conference: str, slot: str, sdp: str) -> str:
        """The mixer's SDP answer for `slot` (joined again: same port, new remote)."""
        reply = self.request("join", conference=conference, slot=slot, sdp=sdp)
        answer = reply.get("sdp")
        if not isinstance(answer, str) or not answer:
            raise MixerError(f"mixer {self.name}: join of {slot} answered without SDP")
        self.conferences.add(conference)
        return answer

    def hear(self, conference: str, hears: Mapping[str, Sequence[str]]) -> None:
        self.request("hear", conference=conference, hears={k: list(v) for k, v in hears.items()})

    def leave(self, conference: str, slot: str) -> None:
        self.request("leave", conference=conference, slot=slot)

    def record(self, conference: str, file: str, channels: Sequence[Sequence[str]]) -> None:
        self.request(
            "record", conference=conference, file=file, channels=[list(c) for c in channels]
        )

    def stop_record(self, conference: str) -> dict[str, Any]:
        return self.request("stop record", conference=conference)

    def delete(self, conference: str) -> None:
        self.conferences.discard(conference)
        self.request("delete", conference=conference)


class MixerPool:
    """The configured mixers; each monitored call goes to a healthy one with the fewest
    of this controller's conferences (replicas share nothing, so that spreads calls)."""

    def __init__(self, nodes: Sequence[MixerNode]) -> None:
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"mixer names must differ, got {names}")
        self.nodes = list(nodes)

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def candidates(self) -> list[MixerNode]:
        """The healthy nodes, least loaded first (the next is tried if one fails)."""
        healthy = [n for n in self.nodes if n.healthy()]
        if not healthy:
            raise MixerError(
                "no mixer configured" if not self.nodes else "every mixer is marked down"
            )
        return sorted(healthy, key=lambda n: len(n.conferences))

    def get(self, name: str) -> MixerNode | None:
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    def close(self) -> None:
        for node in self.nodes:
            node.close()
