"""The store's tables, as SQLAlchemy 2 models: one `Base`, one `MetaData`.

Every table of the business data goes on this `Base` (later: tickets, recording and
voicemail indexes, campaigns and the do-not-call list, the SMS log, the admin audit
log), so that the one migration history (bizdata/migrations/) and the test that
compares it with the models see all of them. A new table: a class here, then a new
file in migrations/versions/ (`alembic revision --autogenerate` writes a draft; see
docs/bizdata.md).

Constraint and index names come from the naming convention, never from the database:
a later migration can then drop or alter them by name on SQLite and PostgreSQL alike.
Enumerations are short strings with a CHECK constraint rather than native enum types,
which PostgreSQL cannot extend inside a transaction and SQLite does not have.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, MetaData, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from ._luhn import luhn_valid

__all__ = [
    "ACCOUNT_STATUSES",
    "LANGUAGES",
    "NAMING_CONVENTION",
    "Account",
    "Base",
    "Customer",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

LANGUAGES = ("zh", "en")
ACCOUNT_STATUSES = ("active", "suspended", "closed")
# Up to 9,999,999,999.99: Numeric(12, 2), exact on PostgreSQL and within a double's
# exact range on SQLite, which stores it as REAL.
Money = Numeric(12, 2)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Customer(Base):
    """A person or business with electricity accounts; the phone is how a call finds them."""

    __tablename__ = "customers"
    __table_args__ = (CheckConstraint(_one_of("language", LANGUAGES), name="language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # As the edge normalises calling numbers (national form): the screen pop's key.
    phone: Mapped[str] = mapped_column(String(32), index=True)
    # The language the IVR and agents speak to them in.
    language: Mapped[str] = mapped_column(String(2))

    accounts: Mapped[list[Account]] = relationship(back_populates="customer")


class Account(Base):
    """An electricity account: what a caller asks about by its number."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint(_one_of("status", ACCOUNT_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Digits ending in a Luhn check digit (checked when set, see _account_number).
    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_address: Mapped[str] = mapped_column(String(200))
    # What the customer owes now (negative: in credit).
    balance: Mapped[Decimal] = mapped_column(Money)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    last_payment_date: Mapped[date | None] = mapped_column(Date)
    last_payment_amount: Mapped[Decimal | None] = mapped_column(Money)

    customer: Mapped[Customer] = relationship(back_populates="accounts")

    @validates("account_number")
    def _account_number(self, _key: str, number: str) -> str:
        if not luhn_valid(number):
            raise ValueError(f"account number {number!r} fails its Luhn check digit")
        return number
