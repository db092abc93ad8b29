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
    BindParameter,
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
from ._fair import fair_turn
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
    # Core statements built once, and three at most per search: twenty agents search
    # at once, and building and caching a statement costs more than running it.
    with fair_turn(engine).turn(), connection(engine) as db:
        statements = _POSTGRES if db.dialect.name == "postgresql" else _SQLITE
        found: dict[int, None] = {}  # ordered, unique

        def add(kind: str, **values: str) -> None:
            for customer_id in db.scalars(statements[kind], {**values, "limit": limit}):
                found[customer_id] = None

        kind = "number" if number else "name"
        if number:
            add("exact", q=query)
            if found:  # a whole number: what merely contains it is noise
                return _summaries(db, list(found)[:limit])
        if len(query) >= TRIGRAM:
            phrase = _fts_phrase(query)
            add(
                f"{kind} substring",
                pattern=f"%{_escape_like(query)}%",
                **(
                    {
                        "phone_phrase": f"phone : {phrase}",
                        "account_phrase": f"account_number : {phrase}",
                    }
                    if number
                    else {"name_phrase": f"name : {phrase}"}
                ),
            )
        else:
            add(f"{kind} prefix", prefix=f"{_escape_like(query)}%", low=query, high=query + _TOP)
        return _summaries(db, list(found)[:limit])


def _statements(*, postgres: bool) -> dict[str, Any]:
    """The search's statements for a dialect, by kind; their parameters: q, pattern
    (LIKE, PostgreSQL), *_phrase (FTS5, SQLite), prefix (LIKE) or low and high (a
    range: SQLite), and limit."""
    limit: BindParameter[int] = bindparam("limit")

    def first(*parts: Select[Any]) -> Any:
        return (parts[0] if len(parts) == 1 else union_all(*parts)).limit(limit)

    exact = first(
        select(Account.customer_id).where(Account.account_number == bindparam("q")),
        select(Customer.id).where(Customer.phone == bindparam("q")),
    )
    if postgres:
        pattern: BindParameter[str] = bindparam("pattern")
        prefix: BindParameter[str] = bindparam("prefix")
        return {
            "exact": exact,
            "number substring": first(
                select(Customer.id).where(Customer.phone.like(pattern, escape="\\")),
                select(Account.customer_id).where(
                    Account.account_number.like(pattern, escape="\\")
                ),
            ),
            "name substring": first(
                select(Customer.id).where(Customer.name.ilike(pattern, escape="\\"))
            ),
            # LIKE 'x%' uses the varchar_pattern_ops index whatever the collation.
            "number prefix": first(
                select(Customer.id).where(Customer.phone.like(prefix, escape="\\")),
                select(Account.customer_id).where(Account.account_number.like(prefix, escape="\\")),
            ),
            "name prefix": first(
                select(Customer.id).where(Customer.name.like(prefix, escape="\\"))
            ),
        }

    def starts(column: Any) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = (column >= bindparam("low")) & (column < bindparam("high"))
        return condition

    return {
        "exact": exact,
        "number substring": first(
            _fts("customers_search", "phone_phrase"),
            select(Account.customer_id).where(
                Account.id.in_(_fts("accounts_search", "account_phrase"))
            ),
        ),
        "name substring": first(_fts("customers_search", "name_phrase")),
        "number prefix": first(
            select(Customer.id).where(starts(Customer.phone)),
            select(Account.customer_id).where(starts(Account.account_number)),
        ),
        "name prefix": first(select(Customer.id).where(starts(Customer.name))),
    }


def _fts(table: str, parameter: str) -> Select[Any]:
    # The rowid of the FTS table is the content table's id; the parameter holds
    # "column : phrase".
    return select(text("rowid")).select_from(text(table)).where(text(f"{table} MATCH :{parameter}"))


def _fts_phrase(query: str) -> str:
    """`query` as one FTS5 phrase: whatever it holds is matched as text, not syntax."""
    return '"' + query.replace('"', '""') + '"'


def _escape_like(query: str) -> str:
    return query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SQLITE = _statements(postgres=False)
_POSTGRES = _statements(postgres=True)
_SUMMARIES = (
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
    .where(Customer.id.in_(bindparam("ids", expanding=True)))
    .order_by(Account.account_number)
)


def _summaries(db: Connection, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = db.execute(_SUMMARIES, {"ids": ids})
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
    phrase = f"description : {_fts_phrase(fragment)}"
    return Complaint.id.in_(
        select(text("rowid"))
        .select_from(text("complaints_search"))
        .where(text("complaints_search MATCH :phrase").bindparams(phrase=phrase))
    )
