"""The Luhn check digit that ends every account number: one mistyped digit, or two
neighbours swapped, make a number the check refuses before any lookup."""

from __future__ import annotations

__all__ = ["luhn_check_digit", "luhn_valid"]


def _luhn_sum(digits: str, *, double_last: bool) -> int:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if (i % 2 == 0) == double_last:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload` + digit pass the check."""
    if not payload.isdigit() or not payload.isascii():
        raise ValueError(f"not a digit string: {payload!r}")
    return str(-_luhn_sum(payload, double_last=True) % 10)


def luhn_valid(number: str) -> bool:
    """Whether `number` (digits, its last one the check digit) passes the Luhn check."""
    if len(number) < 2 or not number.isdigit() or not number.isascii():
        return False
    return _luhn_sum(number, double_last=False) % 10 == 0
