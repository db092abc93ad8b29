"""What a collect node's entry must satisfy besides its length: `validate:` in a flow.

A check answers pass or fail only: its description names the rule, never the digits
(a sensitive node's entry must not reach any text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum of account and card numbers: 12345674 passes."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@dataclass(frozen=True)
class Luhn:
    def passes(self, digits: str) -> bool:
        return luhn_valid(digits)

    def __str__(self) -> str:
        return "luhn"


@dataclass(frozen=True)
class Regex:
    pattern: re.Pattern[str]

    def passes(self, digits: str) -> bool:
        return self.pattern.fullmatch(digits) is not None

    def __str__(self) -> str:
        return f"regex {self.pattern.pattern!r}"


@dataclass(frozen=True)
class Lengths:
    """Only these lengths (within the node's min/max digits): {length: [8, 12]}."""

    allowed: frozenset[int]

    def passes(self, digits: str) -> bool:
        return len(digits) in self.allowed

    def __str__(self) -> str:
        return "length " + "/".join(str(n) for n in sorted(self.allowed))


Check = Luhn | Regex | Lengths
