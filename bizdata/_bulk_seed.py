"""A million customers for the benchmarks: `python -m bizdata seed-bulk URL --customers N`.

Each customer is a function of its index (`bulk_customer(i)`), so a benchmark rebuilds
any customer's keys without reading the store: a Chinese name (one in twenty
English), a distinct phone, one account with a distinct nine-digit number ending in a
Luhn check digit (the demo's are eight digits: the two never meet), an address. Rows
go in by the batch, straight through the driver: executemany on SQLite (the FTS
triggers index them as they land), COPY on PostgreSQL.

It is safe to run twice: a store that holds the same bulk already is left alone, and
one holding a different bulk (another --customers) is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from configuration import luhn_check_digit

from ._engine import display_url, driver_message, open_engine
from ._errors import StoreError
from ._migrate import migrate
from ._models import Account, Customer

__all__ = ["BulkCustomer", "bulk_customer", "seed_bulk"]

BATCH = 20_000
_FIRST_PAYLOAD = 10_000_000  # account payloads of eight digits, numbers of nine
# An odd multiplier not divisible by 5 permutes 0..10**9-1: distinct phones.
_PHONE_MULTIPLIER = 387_420_489
# Coprime with 90,000,000 (not divisible by 2, 3 or 5): distinct payloads scattered
# over 10,000,000-99,999,999, so their digits vary as real numbers' do.
_ACCOUNT_SPAN = 90_000_000
_ACCOUNT_MULTIPLIER = 7_777_777
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超英霞平刚华国庆晓丹鹏辉玲梅燕文斌宇浩婷雪佳怡涵欣轩然"
    "志红建春秀兰海波宁凯琳瑞思博子一嘉俊雨晨阳飞新东"
)
_FIRST = ("Emily", "Michael", "Sarah", "David", "Anna", "James", "Laura", "Thomas", "Olivia")
_LAST = ("Chen", "Brown", "Johnson", "Lee", "Müller", "Wilson", "Garcia", "Martin", "Smith")
_CITIES = ("北京市朝阳区", "上海市浦东新区", "广州市天河区", "深圳市南山区", "杭州市西湖区")
_ROADS = ("建国路", "人民路", "解放路", "中山路", "长安街", "新华路")
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class BulkCustomer:
    name: str
    phone: str
    account_number: str
    language: str
    address: str
    balance: Decimal
    status: str


def _mix(value: int) -> int:
    """splitmix64: well-spread bits from an index, without a generator's state."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def bulk_customer(index: int) -> BulkCustomer:
    """The bulk's customer number `index` (0-based), the same on every run."""
    bits = _mix(index)
    english = bits & 0xFF < 13
    if english:
        name = f"{_FIRST[(bits >> 8) % len(_FIRST)]} {_LAST[(bits >> 16) % len(_LAST)]}"
    else:
        name = _SURNAMES[(bits >> 8) % len(_SURNAMES)] + _GIVEN[(bits >> 16) % len(_GIVEN)]
        if (bits >> 24) & 3:  # three in four have a two-character given name
            name += _GIVEN[(bits >> 26) % len(_GIVEN)]
    phone = f"1{'3578'[index % 4]}{(index * _PHONE_MULTIPLIER + 123_456_789) % 10**9:09d}"
    payload = str(_FIRST_PAYLOAD + index * _ACCOUNT_MULTIPLIER % _ACCOUNT_SPAN)
    city, road = _CITIES[(bits >> 34) % len(_CITIES)], _ROADS[(bits >> 38) % len(_ROADS)]
    address = f"{city}{road}{(bits >> 42) % 300 + 1}号{(bits >> 50) % 30 + 1}栋"
    roll = (bits >> 56) % 100
    return BulkCustomer(
        name=name,
        phone=phone,
        account_number=payload + luhn_check_digit(payload),
        language="en" if english else "zh",
        address=address,
        balance=Decimal((bits >> 20) % 250_000) / 100,
        status="active" if roll < 90 else ("suspended" if roll < 97 else "closed"),
    )


def seed_bulk(url: str, *, customers: int, password_env: str | None = None) -> int:
    """Migrate the store at `url` and add `customers` bulk customers, each with one
    account; return how many were added (0: this bulk is there already). StoreError
    when the store holds a bulk of another size."""
    if customers < 1 or customers > _ACCOUNT_SPAN:
        raise StoreError(f"--customers must be from 1 to {_ACCOUNT_SPAN:,}, not {customers}")
    migrate(url, password_env=password_env)
    engine = open_engine(url, password_env=password_env)
    try:
        present = _bulk_present(engine, customers)
        if present:
            return 0
        if engine.dialect.name == "postgresql":
            _copy_postgresql(engine, customers)
        else:
            _insert_executemany(engine, customers)
    except SQLAlchemyError as exc:
        raise StoreError(f"{display_url(url)}: bulk seeding failed: {driver_message(exc)}") from exc
    finally:
        engine.dispose()
    return customers


def _bulk_present(engine: Engine, customers: int) -> bool:
    """True when exactly this bulk is there; StoreError when another is."""
    first, last, after = (bulk_customer(i).account_number for i in (0, customers - 1, customers))
    with engine.connect() as connection:
        have = set(
            connection.scalars(
                select(Account.account_number).where(
                    Account.account_number.in_((first, last, after))
                )
            )
        )
        if not have:
            return False
        if have == {first, last}:
            return True
        size = connection.scalar(
            select(func.count()).where(func.length(Account.account_number) == len(first))
        )
    raise StoreError(
        f"{display_url(engine.url)}: holds a bulk of about {size} customers already, not "
        f"{customers}: seed a fresh database"
    )


def _rows(
    start_id: int, customers: int, now: object
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    due = date(2026, 12, 31)
    for index in range(customers):
        c = bulk_customer(index)
        customer_id = start_id + index
        yield (
            (customer_id, c.name, c.phone, c.language, "resident", c.address, now, now, 1),
            (
                c.account_number,
                customer_id,
                c.address,
                c.balance,
                None if c.status == "closed" else due,
                c.status,
            ),
        )


_CUSTOMERS = (
    "customers (id, name, phone, language, customer_type, address, created_at, updated_at, version)"
)
_ACCOUNTS = "accounts (account_number, customer_id, service_address, balance, due_date, status)"
_INSERT_CUSTOMERS = (
    "INSERT INTO customers (id, name, phone, language, customer_type, address, created_at, "
    "updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_ACCOUNTS = (
    "INSERT INTO accounts (account_number, customer_id, service_address, balance, due_date, "
    "status) VALUES (?, ?, ?, ?, ?, ?)"
)


def _next_id(engine: Engine) -> int:
    with engine.connect() as connection:
        return (connection.scalar(select(func.max(Customer.id))) or 0) + 1


def _batches(
    engine: Engine, customers: int, now: object
) -> Iterator[list[tuple[tuple[Any, ...], tuple[Any, ...]]]]:
    """The rows by the batch: memory stays small whatever the count."""
    rows = _rows(_next_id(engine), customers, now)
    while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
        yield batch


def _insert_executemany(engine: Engine, customers: int) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy writes it
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for batch in _batches(engine, customers, now):
            cursor.executemany(_INSERT_CUSTOMERS, [c for c, _ in batch])
            cursor.executemany(
                _INSERT_ACCOUNTS,
                [
                    (number, owner, address, str(balance), due and due.isoformat(), status)
                    for number, owner, address, balance, due, status in (a for _, a in batch)
                ],
            )
        raw.commit()
        # One b-tree per FTS index instead of the many segments a million inserts left.
        for table in ("customers_search", "accounts_search"):
            cursor.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")  # noqa: S608
        raw.commit()
        cursor.execute("ANALYZE")
    finally:
        raw.close()


def _copy_postgresql(engine: Engine, customers: int) -> None:
    raw = engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        for batch in _batches(engine, customers, datetime.now(UTC)):
            with cursor.copy(f"COPY {_CUSTOMERS} FROM STDIN") as copy:
                for c, _ in batch:
                    copy.write_row(c)
            with cursor.copy(f"COPY {_ACCOUNTS} FROM STDIN") as copy:
                for _, a in batch:
                    copy.write_row(a)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), "
            "(SELECT max(id) FROM customers))"
        )
        raw.commit()
        # VACUUM merges what COPY left in the GIN indexes' pending lists (every search
        # would read those through), and ANALYZE gives the planner the new statistics.
        # Outside a transaction.
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        cursor.execute("VACUUM ANALYZE customers")
        cursor.execute("VACUUM ANALYZE accounts")
    finally:
        raw.close()
