"""Who may act on the Supervisor page: the shared accounts (callcenter config), the login."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from configuration import load_config
from identity import verify_password


@dataclass(frozen=True, slots=True)
class Supervisor:
    """A logged-in supervisor. The password stays in this server-side session only:
    acd.v1 Force* requests carry AdminCredentials as the actor."""

    username: str
    password: str = field(repr=False)
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountInfo:
    username: str
    roles: tuple[str, ...]
    password_hash: str


class AccountDirectory(Protocol):
    def get(self, username: str) -> AccountInfo | None: ...


class StaticAccounts:
    def __init__(self, accounts: Mapping[str, AccountInfo]) -> None:
        self._accounts = dict(accounts)

    def get(self, username: str) -> AccountInfo | None:
        return self._accounts.get(username)


class ConfigAccounts:
    """Accounts from the callcenter config (and its accounts_file), re-read on change."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._cache: tuple[float, dict[str, AccountInfo]] | None = None

    def get(self, username: str) -> AccountInfo | None:
        mtime = self._path.stat().st_mtime
        if self._cache is None or self._cache[0] != mtime:
            config = load_config(self._path)
            self._cache = (
                mtime,
                {
                    a.username: AccountInfo(a.username, tuple(a.roles), a.password_hash)
                    for a in config.accounts
                },
            )
        return self._cache[1].get(username)


class LoginError(Exception):
    """A refused login. `reason`: "invalid" (unknown user or wrong password) or
    "no_role" (a valid account without the role); `username` as typed, trimmed."""

    def __init__(self, message: str, reason: str = "invalid", username: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.username = username


def check_login(
    accounts: AccountDirectory, supervisor_roles: tuple[str, ...], username: str, password: str
) -> Supervisor:
    """A supervisor for the actions page; LoginError (one message for unknown user and
    wrong password, another for a valid account without a supervisor role)."""
    account = accounts.get(username.strip())
    if account is None or not verify_password(account.password_hash, password):
        raise LoginError("invalid username or password", "invalid", username.strip())
    if not set(account.roles) & set(supervisor_roles):
        raise LoginError(
            f"{account.username} has no supervisor role: read-only access",
            "no_role",
            account.username,
        )
    return Supervisor(account.username, password, account.roles)
