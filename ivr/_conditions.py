"""A branch node's conditions: on call data (`var`, `op`, `value`) or on open hours
(`open: <schedule>`). The first that holds chooses the way on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, get_args

Op = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "empty", "present"]
OPS: Final[tuple[Op, ...]] = get_args(Op)
UNARY_OPS: Final = frozenset({"empty", "present"})


@dataclass(frozen=True)
class DataCondition:
    path: tuple[str, ...]  # ("acct", "status")
    op: Op
    value: object  # a list for `in`; None for empty/present
    next: str

    @property
    def variable(self) -> str:
        return self.path[0]


@dataclass(frozen=True)
class OpenCondition:
    schedule: str
    next: str


Condition = DataCondition | OpenCondition


def holds(op: Op, actual: object, expected: object) -> bool:
    """`actual op expected`, with `actual` None when the variable has no value.

    Numbers compare as numbers (a record's Decimal 123.45 equals 123.450 in the flow),
    dates as dates (a date or an ISO date text); eq/ne/in compare anything else as
    text. An order (gt/ge/lt/le) between values that are not both numbers or both
    dates, or on a missing value, is false.
    """
    if op == "empty":
        return _empty(actual)
    if op == "present":
        return not _empty(actual)
    if actual is None:
        return op == "ne"
    if op == "in":
        return isinstance(expected, list | tuple) and any(_equal(actual, e) for e in expected)
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    order = _order(actual, expected)
    if order is None:
        return False
    return {"gt": order > 0, "ge": order >= 0, "lt": order < 0, "le": order <= 0}[op]


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and len(value) == 0)


def _equal(actual: object, expected: object) -> bool:
    order = _order(actual, expected)
    if order is not None:
        return order == 0
    return _text(actual) == _text(expected)


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _order(a: object, b: object) -> int | None:
    """-1, 0 or 1 as a is before, equal to or after b; None: not comparable."""
    number_a, number_b = _number(a), _number(b)
    if number_a is not None and number_b is not None:
        return (number_a > number_b) - (number_a < number_b)
    date_a, date_b = _date(a), _date(b)
    if date_a is not None and date_b is not None:
        return (date_a > date_b) - (date_a < date_b)
    return None


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
