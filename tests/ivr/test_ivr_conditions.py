"""A branch node's tests on data: numbers as numbers, dates as dates, else text."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from ivr._conditions import Op, holds


@pytest.mark.parametrize(
    ("actual", "op", "expected", "result"),
    [
        (Decimal("123.45"), "eq", 123.450, True),
        ("123.45", "eq", "123.450", True),
        ("active", "eq", "active", True),
        ("active", "ne", "closed", True),
        (True, "eq", "true", True),
        (Decimal("-0.01"), "lt", 0, True),
        (Decimal(0), "le", 0, True),
        (5, "gt", "4.5", True),
        (5, "ge", 6, False),
        (date(2026, 12, 31), "gt", "2026-12-09", True),
        (datetime(2026, 12, 31, 9, 0), "eq", date(2026, 12, 31), True),
        ("2026-12-01", "lt", date(2026, 12, 9), True),
        ("abc", "gt", 1, False),  # neither numbers nor dates: no order
        ("blocked", "in", ["closed", "blocked"], True),
        ("7", "in", [7, 8], True),
        ("x", "in", "x", False),  # `in` needs a list
        (None, "eq", "x", False),
        (None, "ne", "x", True),
        (None, "gt", 0, False),
        (None, "in", [None], False),
        (None, "empty", None, True),
        ("", "empty", None, True),
        ({}, "empty", None, True),
        ("0", "empty", None, False),
        ("0", "present", None, True),
        (None, "present", None, False),
    ],
)
def test_holds(actual: object, op: Op, expected: object, result: bool) -> None:
    assert holds(op, actual, expected) is result
