"""The demo's accounts: the same on every run, the well-known ones as documented."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import bizdata
from bizdata import Account, luhn_valid


def test_the_demo_accounts_are_the_same_every_time() -> None:
    first, second = bizdata.demo_accounts(), bizdata.demo_accounts()
    assert first == second
    assert len(first) >= 300
    numbers = [a.account_number for a in first]
    assert len(set(numbers)) == len(numbers)
    assert all(luhn_valid(n) for n in numbers)
    assert {a.language for a in first} == {"zh", "en"}
    assert {a.status for a in first} == {"active", "suspended", "closed"}
    assert any(a.balance == 0 for a in first[len(bizdata.WELL_KNOWN) :])


def test_the_well_known_accounts() -> None:
    by_number = {a.account_number: a for a in bizdata.WELL_KNOWN}
    main = by_number["12345674"]
    assert (main.balance, main.due_date, main.status) == (
        Decimal("123.45"),
        date(2026, 12, 31),
        "active",
    )
    assert by_number["10000008"].balance == 0
    assert by_number["22222228"].status == "suspended"
    large = by_number["88888888"]
    assert (large.balance, large.language) == (Decimal("1234567.80"), "en")
    assert by_number["99999997"].status == "closed"


def test_seeding_is_idempotent_and_restores_the_well_known(sqlite_url: str) -> None:
    total = len(bizdata.demo_accounts())
    assert bizdata.seed_demo(sqlite_url) == total  # it migrates first
    engine = bizdata.open_engine(sqlite_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(
                update(Account).where(Account.account_number == "12345674").values(balance=1)
            )
        assert bizdata.seed_demo(sqlite_url) == 0
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Account)) == total
            account = session.scalars(
                select(Account).where(Account.account_number == "12345674")
            ).one()
            assert account.balance == Decimal("123.45")
            assert account.customer.name == "张伟"
    finally:
        engine.dispose()
