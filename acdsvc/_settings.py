"""What a replica needs from the one YAML config: the core's config, accounts, addresses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from acd import BUILTIN_STRATEGIES, Account, AcdConfig, QueueConfig, validate_config
from callcenter._config import AcdSection, CallCenterConfig, QueueSpec

from ._auth import read_token

__all__ = ["AccountEntry", "Settings", "settings_from_config"]


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """An account from the config. `account` is None when it has no numeric employee ID,
    which the ACD needs (such an account can still be an admin for supervisor commands)."""

    username: str
    password_hash: str
    roles: frozenset[str]
    account: Account | None


@dataclass(frozen=True, slots=True)
class Settings:
    acd: AcdConfig
    section: AcdSection
    accounts: Mapping[str, AccountEntry]
    redis: str  # host:port
    node: str  # this replica's name, in events and snapshots
    listen: str
    advertise: str
    # The service token (acdsvc._auth); None: the call methods are open to any peer.
    token: str | None = None

    @property
    def leader_lease_seconds(self) -> float:
        return self.section.leader_lease_ms / 1000


def _queue(spec: QueueSpec) -> QueueConfig:
    return QueueConfig(
        name=spec.name,
        skills=dict(spec.skills),
        strategy=spec.strategy,
        ring_timeout=spec.ring_timeout_ms / 1000,
        max_wait=None if spec.max_wait_ms is None else spec.max_wait_ms / 1000,
        overflow_queue=spec.overflow_queue,
        overflow_target=spec.overflow_target,
        wrap_up=spec.wrap_up_ms / 1000,
        max_no_answers=spec.max_no_answers,
        honour_priority=spec.honour_priority,
    )


def _employee_id(raw: str | None) -> int | None:
    if raw is None or not raw.isdigit():
        return None
    return int(raw)


def settings_from_config(
    config: CallCenterConfig,
    *,
    listen: str | None = None,
    advertise: str | None = None,
    node: str | None = None,
) -> Settings:
    """Build a replica's settings; `listen`/`advertise`/`node` override the config."""
    section = config.acd if config.acd is not None else AcdSection()
    acd = AcdConfig(
        queues=tuple(_queue(q) for q in config.queues),
        seat_range=section.seat_range,
        employee_id_range=section.employee_id_range,
        lease_seconds=section.lease_ms / 1000,
        direct_ring_timeout=section.direct_ring_timeout_ms / 1000,
        ended_call_retention=section.ended_call_retention_ms / 1000,
    )
    validate_config(acd, BUILTIN_STRATEGIES)  # raises acd.ConfigError listing every problem
    accounts: dict[str, AccountEntry] = {}
    for a in config.accounts:
        eid = _employee_id(a.employee_id)
        roles = frozenset(a.roles)
        core = None if eid is None else Account(a.username, eid, roles, dict(a.skills))
        accounts[a.username] = AccountEntry(a.username, a.password_hash, roles, core)
    bind = listen or section.listen
    return Settings(
        acd=acd,
        section=section,
        accounts=accounts,
        redis=config.redis.listen,
        node=node or f"{config.node.name}-acd-{bind.rpartition(':')[2]}",
        listen=bind,
        advertise=advertise or section.advertise or bind,
        token=None if section.token_file is None else read_token(section.token_file),
    )
