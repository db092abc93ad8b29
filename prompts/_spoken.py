"""Data values as words a caller hears: amounts, dates, numbers and digit strings.

Placeholder of the contract (the IVR's templates call `say`); the media work
replaces the bodies, not the signature.
"""

from __future__ import annotations

from typing import Literal

SayAs = Literal["amount", "date", "number", "digits", "text"]
SAY_AS: tuple[SayAs, ...] = ("amount", "date", "number", "digits", "text")


def say(value: object, as_: SayAs, language: str) -> str:
    """`value` (a Decimal/str amount, a date or ISO date string, an int, a digit
    string, any text) as the words to give the renderer in `language`."""
    return str(value)
