"""Number normalisation rules (first match wins)."""

from __future__ import annotations

import pytest

from routing import RewriteRule, normalise

RULES = (
    RewriteRule.compile(r"^(?:\+|00)86(1[3-9]\d{9})$", r"\1"),
    RewriteRule.compile(r"^(?:\+|00)86([1-9]\d{8,10})$", r"0\1"),
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("+8613912345678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("13912345678", "13912345678"),
        ("+861088886666", "01088886666"),
        ("+442079460000", "+442079460000"),  # foreign numbers are left alone
        (" +8613912345678 ", "13912345678"),
        ("", ""),
    ],
)
def test_normalise(raw: str, normalised: str) -> None:
    assert normalise(raw, RULES) == normalised


def test_first_matching_rule_wins() -> None:
    rules = (RewriteRule.compile(r"^(\d+)$", r"a\1"), RewriteRule.compile(r"^(\d+)$", r"b\1"))
    assert normalise("1", rules) == "a1"
