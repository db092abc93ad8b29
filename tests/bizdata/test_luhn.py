"""Account numbers end in a Luhn check digit."""

from __future__ import annotations

import pytest

from bizdata import luhn_check_digit, luhn_valid


@pytest.mark.parametrize(
    ("payload", "digit"), [("1234567", "4"), ("7992739871", "3"), ("0", "0"), ("1000000", "8")]
)
def test_check_digit(payload: str, digit: str) -> None:
    assert luhn_check_digit(payload) == digit
    assert luhn_valid(payload + digit)


@pytest.mark.parametrize(
    "number",
    [
        "12345675",  # last digit wrong
        "12345647",  # neighbours swapped
        "1234567",  # the check digit missing
        "",
        "4",
        "1234 5674",
        "１２３４５６７４",  # fullwidth digits: isdigit() but not what a keypad sends
    ],
)
def test_invalid_numbers(number: str) -> None:
    assert not luhn_valid(number)


def test_check_digit_needs_digits() -> None:
    with pytest.raises(ValueError, match="not a digit string"):
        luhn_check_digit("12a4")
