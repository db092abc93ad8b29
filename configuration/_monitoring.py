"""The `monitoring:` section: supervisors' listen, whisper and barge-in (docs/monitoring.md).

rtpengine 10.5 cannot mix audio, so whisper and barge need a mixing element: the mixer
service (`python -m mixer`), an RTP conference bridge that speaks rtpengine's ng
dialect on its control port. Each mixer node below is one replica; a controller spreads
its monitoring sessions over the healthy ones, so no one process carries every
monitored call. Who may monitor whom is `accounts[].supervises` (the scope) and the
supervisor role.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from ._fields import HostPort, StrictModel

__all__ = [
    "MixerNode",
    "MonitoringKeys",
    "MonitoringSection",
    "SupervisorScope",
]

Key = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]


class MixerNode(StrictModel):
    """One mixer replica: its ng control port (UDP) and the RTP ports it allocates."""

    ng: HostPort
    # The address its RTP sockets bind to and that its SDP names.
    interface: str = "127.0.0.1"
    # One port per party in a monitored call (caller, agent, each supervisor).
    port_min: int = Field(40000, ge=1024, le=65535)
    port_max: int = Field(40999, ge=1024, le=65535)
    # managed: `callcenter up` starts it; otherwise it runs elsewhere.
    managed: bool = True
    # Its name in events and metrics; default: mixer<index>.
    name: str | None = Field(None, pattern=r"^[0-9A-Za-z_.\-]{1,64}$")

    @model_validator(mode="after")
    def _port_range(self) -> MixerNode:
        if self.port_max - self.port_min < 2:
            raise ValueError("port_max must be at least port_min + 3 (a monitored call needs 3)")
        return self


class MonitoringKeys(StrictModel):
    """The supervisor's keypad during a monitoring session (Asterisk ChanSpy's 4/5/6)."""

    listen: Key = "4"
    whisper: Key = "5"
    barge: Key = "6"
    # Take the caller over; the agent is released (the intercept that exists).
    intercept: Key = "*"

    @model_validator(mode="after")
    def _distinct(self) -> MonitoringKeys:
        keys = [self.listen, self.whisper, self.barge, self.intercept]
        if len(set(keys)) != len(keys):
            raise ValueError(f"monitoring keys must differ, got {keys}")
        return self


class MonitoringSection(StrictModel):
    """Supervisor monitoring. Without mixers, listen, whisper and barge are refused."""

    mixers: list[MixerNode] = []
    keys: MonitoringKeys = MonitoringKeys()
    # How long the supervisor's phone may ring before the session is given up.
    ring_timeout_ms: int = Field(20_000, ge=100)
    # Frames (20 ms each) a mixer input may queue before the oldest is dropped: the
    # bound on the delay the mixer adds to a party's voice.
    jitter_frames: int = Field(2, ge=1, le=10)

    @model_validator(mode="after")
    def _unique_mixers(self) -> MonitoringSection:
        addresses = [m.ng for m in self.mixers]
        dupes = sorted({a for a in addresses if addresses.count(a) > 1})
        if dupes:
            raise ValueError(f"mixers listed twice: {', '.join(dupes)}")
        return self


class SupervisorScope(StrictModel):
    """Whom a supervisor may monitor: calls of these queues, or agents of these teams.

    An account without `supervises` may monitor nobody (intercept keeps its own rules).
    `all: true` is every call, for a head of the floor.
    """

    queues: list[Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]] = []
    teams: list[Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_.\-]{1,64}$")]] = []
    all: bool = False
