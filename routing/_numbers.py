"""Number normalisation: configured regex rules, first match wins."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RewriteRule:
    pattern: re.Pattern[str]
    replace: str

    @classmethod
    def compile(cls, match: str, replace: str) -> RewriteRule:
        return cls(re.compile(match), replace)


def normalise(number: str, rules: Iterable[RewriteRule]) -> str:
    """Apply the first rule whose pattern matches the whole number.

    Carriers send the same subscriber as +8613912345678, 008613912345678 or
    13912345678; CDRs, screen pops and VIP lists need one form.
    """
    number = number.strip()
    for rule in rules:
        if rule.pattern.fullmatch(number):
            return rule.pattern.sub(rule.replace, number, count=1)
    return number
