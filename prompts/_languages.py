"""Which languages prompts come in, and the espeak-ng voice that reads each."""

from __future__ import annotations

from typing import Final, Literal, TypeGuard

from ._errors import PromptError

Language = Literal["zh", "en"]

# Mandarin is fed to espeak-ng as tone-numbered pinyin, not as characters: the
# plain `cmn` voice spells many characters out as Latin letters (DESIGN.md).
VOICES: Final[dict[Language, str]] = {
    "zh": "cmn-latn-pinyin",
    "en": "en",
}

LANGUAGES: Final[tuple[Language, ...]] = tuple(VOICES)


def is_language(value: str) -> TypeGuard[Language]:
    return value in VOICES


def check_language(value: str) -> Language:
    """`value` as a `Language`, or a `PromptError` naming the ones we have."""
    if not is_language(value):
        raise PromptError(
            f"unknown prompt language {value!r}; expected one of {', '.join(LANGUAGES)}"
        )
    return value
