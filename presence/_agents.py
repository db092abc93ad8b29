"""Which SIP usernames belong to which employee, as the ACD sees the accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from acdsvc import settings_from_config

if TYPE_CHECKING:
    from callcenter._config import CallCenterConfig

__all__ = ["agents_from_config"]


def agents_from_config(config: CallCenterConfig) -> dict[str, int]:
    """SIP username -> employee ID for every account with the agent role that the ACD
    knows by a numeric employee ID. The rule is the ACD's own (acdsvc's settings), so
    both sides agree on who is who; accounts without one are ignored.

    Raises acd.ConfigError when the ACD part of the config is invalid.
    """
    return {
        username: entry.account.employee_id
        for username, entry in settings_from_config(config).accounts.items()
        if entry.account is not None and "agent" in entry.roles
    }
