"""Prompt texts and lookup keys with slots for call data:
`"您的余额是{acct.balance:amount}，缴费截止日期是{acct.due_date:date}。"`.

A slot is `{path}` or `{path:as}`: `path` names a variable and, after dots, fields of
a record (`acct.balance`); `as` says how a prompt speaks the value (`prompts.say`:
amount, date, number, digits, text; text when left out). `{{` and `}}` are braces.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from prompts import SAY_AS, SayAs, say

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_SLOT = re.compile(rf"^({_NAME}(?:\.{_NAME})*)(?::([a-z]+))?$")


class TemplateError(ValueError):
    """A template that cannot be parsed, or a slot without a value when rendering.
    The text never carries a slot's value (it may be a sensitive one)."""


@dataclass(frozen=True)
class Slot:
    path: tuple[str, ...]  # ("acct", "balance")
    as_: SayAs

    @property
    def variable(self) -> str:
        return self.path[0]

    def __str__(self) -> str:
        return "{" + ".".join(self.path) + "}"


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Slot, ...]

    @property
    def slots(self) -> tuple[Slot, ...]:
        return tuple(p for p in self.parts if isinstance(p, Slot))

    def speak(self, value_of: Callable[[Slot], object], language: str) -> str:
        """The text to render: each slot's value in words (`prompts.say`)."""
        return "".join(
            p if isinstance(p, str) else _said(p, value_of(p), language) for p in self.parts
        )

    def fill(self, value_of: Callable[[Slot], object]) -> str:
        """The text with each slot's value as it is (a lookup key, call data)."""
        return "".join(p if isinstance(p, str) else str(value_of(p)) for p in self.parts)


def _said(slot: Slot, value: object, language: str) -> str:
    try:
        return say(value, slot.as_, language)
    except Exception as exc:
        # Not the exception's text: it may quote the value.
        raise TemplateError(f"{slot} cannot be said as {slot.as_} ({type(exc).__name__})") from None


def parse_template(text: str) -> Template:
    """`text` as literal parts and slots; TemplateError says what is wrong where."""
    parts: list[str | Slot] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:  # {{ or }}
            literal.append(char)
            i += 2
        elif char == "{":
            end = text.find("}", i)
            if end < 0:
                raise TemplateError(f"slot at character {i + 1} has no closing }}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_parse_slot(text[i + 1 : end], i))
            i = end + 1
        elif char == "}":
            raise TemplateError(f"a lone }} at character {i + 1} (write }}}} for a brace)")
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def _parse_slot(inside: str, at: int) -> Slot:
    match = _SLOT.match(inside.strip())
    if match is None:
        raise TemplateError(
            f"slot {{{inside}}} at character {at + 1} is not {{name}}, {{name.field}} "
            "or {name.field:as}"
        )
    as_ = match.group(2) or "text"
    for known in SAY_AS:
        if as_ == known:
            return Slot(tuple(match.group(1).split(".")), known)
    raise TemplateError(
        f"slot {{{inside}}} at character {at + 1}: {as_!r} is not one of {', '.join(SAY_AS)}"
    )
