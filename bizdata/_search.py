"""Finding customers by what an agent types: a name, a phone number or an account
number, or a piece of one (R-AG-5); and complaints by a piece of their text.

A substring needs a trigram index to be fast at a million rows: SQLite's FTS5 with the
trigram tokenizer, PostgreSQL's pg_trgm (both made by migration 0002; docs/bizdata.md,
"Search"). A trigram is three characters, so a shorter query matches by prefix only,
through btree indexes: a two-character Chinese name (张伟), the start of a number.
Exact matches of a phone or an account number come first.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, select, text
from sqlalchemy.orm import Session

from . import _desk_fields as check
from ._desk_records import session
from ._errors import InvalidField
from ._models import Account, Complaint, Customer

__all__ = ["MAX_RESULTS", "TRIGRAM", "complaint_text_filter", "search_customers"]

MAX_RESULTS = 20
TRIGRAM = 3
# Digits, maybe after a +, maybe typed with spaces: a phone or account number.
_NUMBER = re.compile(r"\+?[0-9][0-9\s\-]*")
# Above every character in UTF-8 byte order: `x <= s < x + _TOP` is "s starts with x".
_TOP = "\U0010ffff"


def search_customers(engine: Engine, query: str, limit: int = MAX_RESULTS) -> list[dict[str, Any]]:
    """At most `limit` (<= 20) customers whose name, phone or account number contains
    `query` (at least 3 characters; shorter: whose name, phone or account number starts
    with it), exact phone and account matches first. Each is a summary: id, name,
    phone, language, customer_type, address, account_numbers."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidField("query", "type a name, a phone number or an account number")
    query = query.strip()
    if len(query) > 100:
        raise InvalidField("query", "is longer than any name or number (at most 100)")
    limit = max(1, min(int(limit), MAX_RESULTS))
    number = _NUMBER.fullmatch(query) is not None
    if number:
        query = re.sub(r"[\s\-]", "", query)
    with session(engine) as db:
        postgres = db.get_bind().dialect.name == "postgresql"
        found: dict[int, None] = {}  # ordered, unique

        def add(statement: Select[Any]) -> None:
            if len(found) < limit:
                for customer_id in db.scalars(statement.limit(limit)):
                    found[customer_id] = None

        if number:
            add(select(Account.customer_id).where(Account.account_number == query))
            add(select(Customer.id).where(Customer.phone == query))
        if len(query) >= TRIGRAM:
            for statement in _substring(query, number=number, postgres=postgres):
                add(statement)
        else:
            for statement in _prefix(query, number=number, postgres=postgres):
                add(statement)
        return _summaries(db, list(found)[:limit])


def _substring(query: str, *, number: bool, postgres: bool) -> list[Select[Any]]:
    if postgres:
        pattern = f"%{_escape_like(query)}%"
        if number:
            return [
                select(Customer.id).where(Customer.phone.like(pattern, escape="\\")),
                select(Account.customer_id).where(
                    Account.account_number.like(pattern, escape="\\")
                ),
            ]
        return [select(Customer.id).where(Customer.name.ilike(pattern, escape="\\"))]
    phrase = _fts_phrase(query)
    if number:
        return [
            _fts("customers_search", "phone", phrase),
            select(Account.customer_id).where(
                Account.id.in_(_fts("accounts_search", "account_number", phrase))
            ),
        ]
    return [_fts("customers_search", "name", phrase)]


def _prefix(query: str, *, number: bool, postgres: bool) -> list[Select[Any]]:
    columns: list[tuple[Any, Any]] = (
        [(Customer.id, Customer.phone), (Account.customer_id, Account.account_number)]
        if number
        else [(Customer.id, Customer.name)]
    )
    statements = []
    for key, column in columns:
        condition: ColumnElement[bool]
        if postgres:
            # LIKE 'x%' uses the varchar_pattern_ops index whatever the collation.
            condition = column.like(f"{_escape_like(query)}%", escape="\\")
        else:
            condition = (column >= query) & (column < query + _TOP)
        statements.append(select(key).where(condition))
    return statements


def _fts(table: str, column: str, phrase: str) -> Select[Any]:
    # The rowid of the FTS table is the content table's id.
    return (
        select(text("rowid"))
        .select_from(text(table))
        .where(text(f"{table} MATCH :phrase").bindparams(phrase=f"{column} : {phrase}"))
    )


def _fts_phrase(query: str) -> str:
    """`query` as one FTS5 phrase: whatever it holds is matched as text, not syntax."""
    return '"' + query.replace('"', '""') + '"'


def _escape_like(query: str) -> str:
    return query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _summaries(db: Session, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    customers = {c.id: c for c in db.scalars(select(Customer).where(Customer.id.in_(ids)))}
    numbers: dict[int, list[str]] = {}
    for customer_id, number in db.execute(
        select(Account.customer_id, Account.account_number)
        .where(Account.customer_id.in_(ids))
        .order_by(Account.account_number)
    ):
        numbers.setdefault(customer_id, []).append(number)
    return [
        {
            "id": c.id,
            "name": c.name,
            "phone": c.phone,
            "language": c.language,
            "customer_type": c.customer_type,
            "address": c.address,
            "account_numbers": numbers.get(c.id, []),
        }
        for c in (customers[i] for i in ids if i in customers)
    ]


def complaint_text_filter(db: Session, fragment: str) -> ColumnElement[bool]:
    """A WHERE clause for complaints whose description contains `fragment`: through
    the trigram index from 3 characters on, a plain LIKE below (a short word is
    searched within a customer's complaints, which are few)."""
    fragment = check.text("text", fragment, max_len=200)
    if len(fragment) < TRIGRAM:
        return Complaint.description.like(f"%{_escape_like(fragment)}%", escape="\\")
    if db.get_bind().dialect.name == "postgresql":
        return Complaint.description.ilike(f"%{_escape_like(fragment)}%", escape="\\")
    return Complaint.id.in_(_fts("complaints_search", "description", _fts_phrase(fragment)))
