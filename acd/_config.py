"""Admin configuration the core obeys: queues, ranges, timers; and the verified account."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ConfigError

__all__ = ["ROLES", "Account", "AcdConfig", "MonitorScope", "QueueConfig", "validate_config"]

# Roles an agent may log in with. "admin" exists on accounts but is not a desk role.
ROLES = frozenset({"agent", "supervisor"})


@dataclass(frozen=True, slots=True)
class MonitorScope:
    """Whom a supervisor may listen to, whisper to and barge in on (`accounts[].supervises`,
    docs/monitoring.md): the calls of these queues, the agents of these teams, or
    everyone (`everyone`, the config's `all: true`)."""

    queues: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    everyone: bool = False

    def covers(self, queue: str | None, team: str | None) -> bool:
        """A call of `queue` (None: no queue) answered by an agent of `team` is in scope."""
        return (
            self.everyone
            or (queue is not None and queue in self.queues)
            or (team is not None and team in self.teams)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"queues": sorted(self.queues), "teams": sorted(self.teams), "all": self.everyone}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorScope:
        return cls(
            frozenset(str(q) for q in data.get("queues", ())),
            frozenset(str(t) for t in data.get("teams", ())),
            bool(data.get("all", False)),
        )


@dataclass(frozen=True, slots=True)
class Account:
    """An account the identity module has already authenticated (password checked there).

    `skills` are what the administrator allows, skill -> highest level; a login
    may request a subset at or below those levels, never more. `team` and
    `supervises` are for monitoring: an agent's team, and whom a supervisor may
    monitor (None: nobody). Like the skills, a login keeps the ones it was given.
    """

    username: str
    employee_id: int
    roles: frozenset[str]
    skills: Mapping[str, int] = field(default_factory=dict)
    team: str | None = None
    supervises: MonitorScope | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue. Durations are seconds."""

    name: str
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> minimum level
    strategy: str = "longest_idle"
    ring_timeout: float = 20.0
    max_wait: float | None = None  # overflow after this long queued; needs an overflow
    overflow_queue: str | None = None  # another queue ...
    overflow_target: str | None = None  # ... or a named target outside the ACD ("voicemail")
    wrap_up: float = 0.0
    max_no_answers: int = 3  # consecutive no-answers before the agent goes not-ready; 0 = never
    honour_priority: bool = True  # False: strict FIFO, call priority ignored
    # The language of the queue's announcements ("zh" or "en"); a message the agent has
    # played to the caller (PlayMessage) is spoken in it unless the agent names one.
    language: str = "zh"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueConfig:
        return cls(**{**data, "skills": dict(data.get("skills", {}))})


@dataclass(frozen=True, slots=True)
class AcdConfig:
    queues: Sequence[QueueConfig] = ()
    seat_range: tuple[int, int] = (1, 9999)
    employee_id_range: tuple[int, int] = (1, 999_999)
    lease_seconds: float = 30.0  # a session not renewed by heartbeat this long is logged out
    direct_ring_timeout: float = 20.0  # internal calls and transfers to an agent
    # How long the ID of a call that left the ACD is remembered, so that a retried
    # Enqueue for it is refused (CALL_EXISTS) instead of creating the call again.
    # Must exceed any client's retry window; 0 = not remembered.
    ended_call_retention: float = 600.0
    # The call center records calls (a `recording:` section): agents may start, pause,
    # resume and stop recording their call. Off: RECORDING_DISABLED.
    recording: bool = False
    # Supervisors may listen, whisper and barge in (`monitoring.mixers` names at least
    # one mixer). Off: MONITORING_DISABLED.
    monitoring: bool = False
    # How long a monitoring supervisor's phone rings at most (monitoring.ring_timeout_ms):
    # a Monitor's ring timeout, 0 meaning this one, is capped at it.
    monitor_ring_timeout: float = 20.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AcdConfig:
        """Build from plain data (YAML/JSON), e.g. the admin configuration file."""
        fields = dict(data)
        fields["queues"] = tuple(QueueConfig.from_dict(q) for q in data.get("queues", ()))
        for name in ("seat_range", "employee_id_range"):
            if name in fields:
                lo, hi = fields[name]
                fields[name] = (int(lo), int(hi))
        return cls(**fields)


def _positive(value: float | None) -> bool:
    return value is not None and value > 0


def validate_config(config: AcdConfig, strategies: Collection[str]) -> None:
    """Raise ConfigError listing every problem, so an admin fixes them in one go."""
    problems = _global_problems(config)
    names = [q.name for q in config.queues]
    by_name = {q.name: q for q in config.queues}
    dupes = {n for n in names if names.count(n) > 1}
    problems += [f"queue {n!r} is defined more than once" for n in dupes]
    for q in config.queues:
        problems += _queue_problems(q, by_name, strategies)
    problems += _overflow_loops(by_name)
    if problems:
        raise ConfigError(sorted(set(problems)))


def _global_problems(config: AcdConfig) -> list[str]:
    problems: list[str] = []
    for label, (lo, hi) in (
        ("seat_range", config.seat_range),
        ("employee_id_range", config.employee_id_range),
    ):
        if lo > hi:
            problems.append(f"{label}: lower bound {lo} is above upper bound {hi}")
    if not _positive(config.lease_seconds):
        problems.append("lease_seconds must be > 0")
    if not _positive(config.direct_ring_timeout):
        problems.append("direct_ring_timeout must be > 0")
    if not config.ended_call_retention >= 0:  # also refuses NaN
        problems.append("ended_call_retention must be >= 0")
    if not _positive(config.monitor_ring_timeout):
        problems.append("monitor_ring_timeout must be > 0")
    return problems


def _queue_problems(
    q: QueueConfig, by_name: Mapping[str, QueueConfig], strategies: Collection[str]
) -> list[str]:
    where = f"queue {q.name!r}"
    checks = [
        (not q.name, "a queue has an empty name"),
        (
            q.strategy not in strategies,
            f"{where}: unknown strategy {q.strategy!r} (known: {', '.join(sorted(strategies))})",
        ),
        # Zero timers would make a timer due again the moment it is set.
        (not _positive(q.ring_timeout), f"{where}: ring_timeout must be > 0"),
        (
            q.max_wait is not None and not _positive(q.max_wait),
            f"{where}: max_wait must be > 0 or unset",
        ),
        (q.wrap_up < 0, f"{where}: wrap_up must be >= 0"),
        (q.max_no_answers < 0, f"{where}: max_no_answers must be >= 0"),
        (
            q.overflow_queue is not None and q.overflow_target is not None,
            f"{where}: set overflow_queue or overflow_target, not both",
        ),
        (
            q.overflow_queue is not None and q.overflow_queue not in by_name,
            f"{where}: overflow_queue {q.overflow_queue!r} does not exist",
        ),
        (
            q.max_wait is not None and q.overflow_queue is None and q.overflow_target is None,
            f"{where}: max_wait needs an overflow_queue or overflow_target",
        ),
        (q.language not in ("zh", "en"), f"{where}: language must be zh or en"),
    ]
    problems = [message for failed, message in checks if failed]
    problems += [
        f"{where}: skill {skill!r} needs a level >= 1"
        for skill, level in q.skills.items()
        if level < 1
    ]
    return problems


def _overflow_loops(by_name: Mapping[str, QueueConfig]) -> list[str]:
    """Overflow chains must end, or a call could bounce between queues forever."""
    problems: list[str] = []
    for q in by_name.values():
        seen = [q.name]
        nxt = q.overflow_queue
        while nxt is not None and nxt in by_name:
            if nxt in seen:
                problems.append(f"overflow loop: {' -> '.join([*seen, nxt])}")
                break
            seen.append(nxt)
            nxt = by_name[nxt].overflow_queue
    return problems
