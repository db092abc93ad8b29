"""Our own store as a data source (kind `store`): an account by its number."""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, select

from ._models import Account, Customer
from ._sql_source import SqlSource

__all__ = ["ACCOUNT_FIELDS", "StoreSource"]

# The record: flat, so a flow says `{balance}` rather than `{account.balance}`.
_ACCOUNT_BY_NUMBER = (
    select(
        Account.account_number,
        Customer.name.label("customer_name"),
        Customer.phone.label("customer_phone"),
        Customer.language,
        Account.service_address,
        Account.balance,
        Account.due_date,
        Account.status,
        Account.last_payment_date,
        Account.last_payment_amount,
    )
    .join(Account.customer)
    .where(Account.account_number == bindparam("key"))
)
ACCOUNT_FIELDS = tuple(column.name for column in _ACCOUNT_BY_NUMBER.selected_columns)


class StoreSource(SqlSource):
    """Look an account up by its number in the store: account_number, customer_name,
    customer_phone, language (zh/en), service_address, balance (Decimal), due_date
    (date or None), status (active/suspended/closed), last_payment_date and
    last_payment_amount (None when there was none)."""

    kind = "store"

    def __init__(self, name: str, engine: Engine, *, deadline_ms: int) -> None:
        super().__init__(name, engine, _ACCOUNT_BY_NUMBER, deadline_ms=deadline_ms)
