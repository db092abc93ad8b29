"""Helpers for the ACD core tests (a uniquely named module, so that `import` is unambiguous)."""

from __future__ import annotations

from collections.abc import Mapping

from acd import Account, Acd, AcdConfig, QueueConfig, Result

START = 1_000.0


def account(
    employee_id: int,
    *,
    roles: tuple[str, ...] = ("agent",),
    skills: Mapping[str, int] | None = None,
) -> Account:
    return Account(
        username=f"user{employee_id}",
        employee_id=employee_id,
        roles=frozenset(roles),
        skills=dict({"billing": 5} if skills is None else skills),
    )


ADMIN = Account("root", 1, frozenset({"admin"}), {})


def default_config(*queues: QueueConfig, **overrides: object) -> AcdConfig:
    """One billing queue; leases long enough not to interfere unless a test sets them."""
    if not queues:
        queues = (QueueConfig("billing", skills={"billing": 1}, ring_timeout=15.0),)
    settings: dict[str, object] = {
        "seat_range": (1, 500),
        "employee_id_range": (1000, 9999),
        "lease_seconds": 86_400.0,
        **overrides,
    }
    return AcdConfig(queues=queues, **settings)  # type: ignore[arg-type]


def login(
    acd: Acd,
    employee_id: int,
    *,
    seat: int | None = None,
    role: str = "agent",
    skills: Mapping[str, int] | None = None,
    ready: bool = True,
) -> Result:
    """Log in employee N at seat N - 1000 (unless given) with the account's skills."""
    roles = ("agent", "supervisor") if role == "supervisor" else ("agent",)
    result = acd.login(
        account(employee_id, roles=roles, skills=skills),
        seat=employee_id - 1000 if seat is None else seat,
        employee_id=employee_id,
        role=role,
        ready=ready,
    )
    assert result.ok, result.error
    return result


def rung(result: Result) -> list[tuple[str, int]]:
    """(call, agent) pairs the result asks the controller to ring, in order."""
    return [(o.call_id, o.agent) for o in result.offers()]


def kinds(result: Result) -> list[str]:
    return [str(e["kind"]) for e in result.events]


def sound(acd: Acd) -> None:
    assert acd.check_invariants() == []
