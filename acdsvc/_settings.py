"""What a replica needs from the one YAML config: the core's config, accounts, addresses."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import bizdata
from acd import (
    BUILTIN_STRATEGIES,
    Account,
    AcdConfig,
    MonitorScope,
    QueueConfig,
    validate_config,
)
from acd_client import read_token
from configuration import (
    AcdSection,
    CallCenterConfig,
    ConfigError,
    FileWatch,
    QueueSpec,
    SupervisorScope,
    VoicemailSection,
    load_config,
    split_hostport,
)

__all__ = [
    "AccountEntry",
    "ReloadingAccounts",
    "Settings",
    "accounts_from_config",
    "settings_from_config",
]

log = logging.getLogger(__name__)


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
    # The service token (acd_client); None: the call methods are open to any peer.
    token: str | None = None
    # Voicemail (docs/recording.md): the boxes, the business store holding the index
    # (None: no `bizdata:` section, so no voicemail RPCs) and where the WAV files are.
    voicemail: VoicemailSection = field(default_factory=VoicemailSection)
    store_url: str | None = None
    store_password_env: str | None = None
    voicemail_dir: Path = Path("voicemail")

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
        language=spec.language,
    )


def _scope(scope: SupervisorScope | None) -> MonitorScope | None:
    if scope is None:
        return None
    return MonitorScope(frozenset(scope.queues), frozenset(scope.teams), scope.all)


def accounts_from_config(config: CallCenterConfig) -> dict[str, AccountEntry]:
    accounts: dict[str, AccountEntry] = {}
    for a in config.accounts:
        eid = a.numeric_employee_id
        roles = frozenset(a.roles)
        core = (
            None
            if eid is None
            else Account(
                a.username, eid, roles, dict(a.skills), team=a.team, supervises=_scope(a.supervises)
            )
        )
        accounts[a.username] = AccountEntry(a.username, a.password_hash, roles, core)
    return accounts


class ReloadingAccounts(Mapping[str, AccountEntry]):
    """The accounts of a config file, read again when the file changes.

    `callcenter account add` rewrites the accounts in a running stack's runtime.json;
    a replica takes them within `check_every_s` (one stat per period, on the next
    lookup), without a restart. A file that fails validation is logged and the
    accounts already loaded stay in force.
    """

    def __init__(
        self,
        path: str | Path,
        accounts: Mapping[str, AccountEntry],
        *,
        check_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = Path(path)
        self._accounts = dict(accounts)
        self._watch = FileWatch(self._path, every_s=check_every_s, clock=clock)
        self._lock = threading.Lock()

    def _current(self) -> dict[str, AccountEntry]:
        with self._lock:
            if self._watch.changed():
                self._reload()
            return self._accounts

    def _reload(self) -> None:
        try:
            accounts = accounts_from_config(load_config(self._path))
        except ConfigError as exc:
            log.error("accounts not reloaded, keeping the %d loaded: %s", len(self._accounts), exc)
            return
        self._watch.taken()
        added = sorted(accounts.keys() - self._accounts.keys())
        removed = sorted(self._accounts.keys() - accounts.keys())
        self._accounts = accounts
        log.info(
            "accounts reloaded from %s: %d (added %s, removed %s)",
            self._path,
            len(accounts),
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
        )

    def __getitem__(self, username: str) -> AccountEntry:
        return self._current()[username]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


def settings_from_config(
    config: CallCenterConfig,
    *,
    listen: str | None = None,
    advertise: str | None = None,
    node: str | None = None,
    run_dir: Path | None = None,
) -> Settings:
    """Build a replica's settings; `listen`/`advertise`/`node` override the config.
    `run_dir`: the stack's run directory, which relative store and voicemail paths are
    taken from (default: node.run_dir, from the working directory)."""
    section = config.acd if config.acd is not None else AcdSection()
    acd = AcdConfig(
        queues=tuple(_queue(q) for q in config.queues),
        seat_range=section.seat_range,
        employee_id_range=section.employee_id_range,
        lease_seconds=section.lease_ms / 1000,
        direct_ring_timeout=section.direct_ring_timeout_ms / 1000,
        ended_call_retention=section.ended_call_retention_ms / 1000,
        recording=config.recording is not None,
        monitoring=bool(config.monitoring.mixers),
        monitor_ring_timeout=config.monitoring.ring_timeout_ms / 1000,
    )
    validate_config(acd, BUILTIN_STRATEGIES)  # raises acd.ConfigError listing every problem
    accounts = accounts_from_config(config)
    bind = listen or section.listen
    run = (run_dir or Path(config.node.run_dir)).resolve()
    return Settings(
        acd=acd,
        section=section,
        accounts=accounts,
        redis=config.redis.listen,
        node=node or f"{config.node.name}-acd-{split_hostport(bind)[1]}",
        listen=bind,
        advertise=advertise or section.advertise or bind,
        token=None if section.token_file is None else read_token(section.token_file),
        voicemail=config.voicemail,
        store_url=None if config.bizdata is None else bizdata.store_url(config.bizdata, run),
        store_password_env=None if config.bizdata is None else config.bizdata.password_env,
        voicemail_dir=run / config.voicemail.dir,
    )
