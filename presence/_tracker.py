"""The decision: which agents' phone presence to report to the ACD. Pure.

It compares what Kamailio knows (who is registered) with what the ACD believes
(`phone_ok` of each logged-in agent, from its snapshot), every poll. Comparing with
the ACD's actual view rather than with what this watcher reported last means there
is nothing to resynchronise: a report lost on the way, an ACD that lost its state,
and an agent who logs in while the phone is not registered (login starts with
phone_ok true) are all corrected on the next poll, and a report that failed is
simply derived again. Agents who are not logged in are left alone: the ACD has no
state for them (it would answer NOT_LOGGED_IN).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

__all__ = ["Change", "changes"]


@dataclass(frozen=True, order=True)
class Change:
    employee_id: int
    username: str
    reachable: bool


def changes(
    agents: Mapping[str, int], registered: Set[str], acd_phone_ok: Mapping[int, bool]
) -> list[Change]:
    """The reports that bring the ACD in line with the registrations, by employee ID.

    agents: SIP username -> employee ID, for the accounts the ACD takes calls for.
    registered: usernames with a live registration on this Kamailio.
    acd_phone_ok: employee ID -> phone_ok, for every agent logged in at the ACD.
    Logged-in employees not in `agents` (no phone account here) are not touched.
    """
    out = []
    for username, employee_id in agents.items():
        believed = acd_phone_ok.get(employee_id)
        if believed is None:
            continue
        reachable = username in registered
        if believed != reachable:
            out.append(Change(employee_id, username, reachable))
    return sorted(out)
