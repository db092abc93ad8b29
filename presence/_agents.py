"""Which SIP usernames belong to which employee, as the ACD sees the accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configuration import CallCenterConfig

__all__ = ["agents_from_config"]


def agents_from_config(config: CallCenterConfig) -> dict[str, int]:
    """SIP username -> employee ID for every account with the agent role that the ACD
    knows by a numeric employee ID (`Account.numeric_employee_id`, the rule the ACD's
    settings use too, so both sides agree on who is who); the others are ignored."""
    return {
        account.username: employee_id
        for account in config.accounts
        if (employee_id := account.numeric_employee_id) is not None and "agent" in account.roles
    }
