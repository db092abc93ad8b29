"""Chinese text to the tone-numbered pinyin that espeak-ng's pinyin voice reads.

Two steps, each a pure function so tests can assert on the text espeak-ng gets:
numbers and amounts become Chinese numerals (cn2an), then characters become
pinyin with tone numbers (pypinyin). Arabic digits left in would be read by
espeak-ng one way or another, but not as a Mandarin speaker says an amount.
"""

from __future__ import annotations

import re
from typing import Final

import cn2an
from pypinyin import Style, lazy_pinyin

from ._digits import spell_digit_strings
from ._errors import PromptError

# "1,234.50元": cn2an reads the comma as a break between two numbers.
_THOUSANDS_SEPARATOR: Final = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

# "123.50元" is said "一百二十三点五元"; "点五零" sounds like a misreading.
_TRAILING_ZEROS_IN_YUAN: Final = re.compile(r"(\d)\.(\d*?)0+(?=\s*[元块])")

# A bare 2 counting something is 两, not 二 ("两分钟", "两位客户"); cn2an always
# writes 二. Ordinals (第2位), parts of bigger numbers (12, 2.5) keep 二.
_TWO_BEFORE_MEASURE_WORD: Final = re.compile(
    r"(?<![\d.,第])2(?![\d.,])(?=\s*(?:位|个|名|分钟|小时|秒|天|次|张|条|元|块))"
)

# Full-width punctuation to ASCII, so espeak-ng pauses at it as it does in English.
_PUNCTUATION: Final = str.maketrans(
    {
        "，": ",",
        "、": ",",
        "。": ".",
        "？": "?",
        "！": "!",
        "；": ";",
        "：": ":",
        "（": "(",
        "）": ")",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
    }
)

_SPACE_BEFORE_PUNCTUATION: Final = re.compile(r"\s+([,.?!;:)])")


def normalise_numbers(text: str) -> str:
    """Numbers and amounts in `text` written as Chinese numerals.

    "您的余额是123.45元" -> "您的余额是一百二十三点四五元"; phone and account numbers
    are spelled digit by digit ("13800138000" -> "幺三八零零幺三八零零零").
    """
    text = _THOUSANDS_SEPARATOR.sub("", text)
    text = spell_digit_strings(text, "zh")
    text = _TRAILING_ZEROS_IN_YUAN.sub(lambda m: f"{m[1]}.{m[2]}" if m[2] else m[1], text)
    text = _TWO_BEFORE_MEASURE_WORD.sub("两", text)
    try:
        converted: str = cn2an.transform(text, "an2cn")
    except Exception as exc:  # cn2an raises bare ValueErrors and worse on odd input
        raise PromptError(f"cannot convert the numbers in {text!r}: {exc}") from exc
    return converted


def to_pinyin(text: str) -> str:
    """Characters in `text` as space-separated pinyin with tone numbers (5 = neutral).

    "您的余额" -> "nin2 de5 yu2 e2". Anything that is not a Chinese character
    (Latin words, punctuation) passes through; espeak-ng's pinyin voice reads
    Latin words that are not pinyin with its English rules. Tone sandhi (3-3 ->
    2-3) is left to espeak-ng, which applies it itself.
    """
    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    joined = " ".join(s.strip() for s in syllables if s.strip())
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", joined.translate(_PUNCTUATION))


def mandarin_speakable(text: str) -> str:
    """What espeak-ng's `cmn-latn-pinyin` voice is given for the Chinese `text`."""
    return to_pinyin(normalise_numbers(text))
