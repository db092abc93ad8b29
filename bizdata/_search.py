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

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    bindparam,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from . import _desk_fields as check
from ._desk_records import connection
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
    with it). A number that is some customer's phone or account number exactly finds
    those customers only. Each is a summary: id, name,
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
    # Core, not the ORM, and three statements at most: twenty agents search at once.
    with connection(engine) as db:
        postgres = db.dialect.name == "postgresql"
        found: dict[int, None] = {}  # ordered, unique

        def add(statements: list[Select[Any]]) -> None:
            union = statements[0] if len(statements) == 1 else union_all(*statements)
            for customer_id in db.scalars(union.limit(limit)):
                found[customer_id] = None

        if number:
            add(
                [
                    select(Account.customer_id).where(Account.account_number == query),
                    select(Customer.id).where(Customer.phone == query),
                ]
            )
            if found:  # a whole number: what merely contains it is noise
                return _summaries(db, list(found)[:limit])
        if len(query) >= TRIGRAM:
            add(_substring(query, number=number, postgres=postgres))
        else:
            add(_prefix(query, number=number, postgres=postgres))
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
        .where(
            text(f"{table} MATCH :phrase").bindparams(
                # unique: two of these in one UNION keep their own values
                bindparam("phrase", f"{column} : {phrase}", unique=True)
            )
        )
    )


def _fts_phrase(query: str) -> str:
    """`query` as one FTS5 phrase: whatever it holds is matched as text, not syntax."""
    return '"' + query.replace('"', '""') + '"'


def _escape_like(query: str) -> str:
    return query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _summaries(db: Connection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = db.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.phone,
            Customer.language,
            Customer.customer_type,
            Customer.address,
            Account.account_number,
        )
        .outerjoin(Account, Account.customer_id == Customer.id)
        .where(Customer.id.in_(ids))
        .order_by(Account.account_number)
    )
    summaries: dict[int, dict[str, Any]] = {}
    for customer_id, name, phone, language, customer_type, address, number in rows:
        summary = summaries.setdefault(
            customer_id,
            {
                "id": customer_id,
                "name": name,
                "phone": phone,
                "language": language,
                "customer_type": customer_type,
                "address": address,
                "account_numbers": [],
            },
        )
        if number is not None:
            summary["account_numbers"].append(number)
    return [summaries[i] for i in ids if i in summaries]


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
