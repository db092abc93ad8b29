"""Adding accounts to an accounts file: hashes only, never the password."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from configuration import ConfigError, parse_yaml
from identity import hash_password, sip_ha1


def account_entry(
    username: str,
    password: str,
    realm: str,
    roles: Iterable[str],
    *,
    employee_id: str | None = None,
    skills: dict[str, int] | None = None,
) -> dict[str, object]:
    entry: dict[str, object] = {
        "username": username,
        "roles": list(roles),
        "ha1": sip_ha1(username, realm, password),
        "password_hash": hash_password(password),
    }
    if employee_id:
        entry["employee_id"] = employee_id
    if skills:
        entry["skills"] = dict(skills)
    return entry


def upsert_accounts(path: Path, entries: Iterable[dict[str, object]]) -> None:
    # A file that does not parse is refused whole: rewriting it would lose its accounts.
    data = parse_yaml(path.read_text(encoding="utf-8"), str(path))[1] if path.exists() else None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}:1: an accounts file must be a YAML mapping with `accounts:`")
    accounts = list((data or {}).get("accounts") or [])
    by_name = {a["username"]: a for a in accounts}
    for entry in entries:
        by_name[str(entry["username"])] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"accounts": list(by_name.values())}, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
