"""Data values as words a caller hears: amounts, dates, numbers and digit strings.

The IVR fills templates such as "您的余额是{amount}" with `say(value, as_, language)`,
and the whole sentence then goes through `render`'s speakable pipeline. So what
`say` returns must survive that pipeline: Mandarin amounts, dates and long numbers
come out as Chinese characters (no Arabic digit left for cn2an or the digit
speller to re-read), English ones as digits espeak-ng reads well, grouped so the
digit speller leaves them alone.

Floats are refused: a float cannot hold 0.1 exactly, and an amount a caller hears
must be the one in the record. Pass `Decimal`, `int` or a string.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final, Literal

import cn2an

from ._digits import MANDARIN_DIGITS
from ._errors import PromptError
from ._languages import Language, check_language

SayAs = Literal["amount", "date", "number", "digits", "text"]
SAY_AS: tuple[SayAs, ...] = ("amount", "date", "number", "digits", "text")

_FEN: Final = Decimal("0.01")

# "1234.5", "-3", "1,234,567.80": an optional sign, digits (optionally grouped by
# thousands), an optional decimal part.
_DECIMAL_TEXT: Final = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
# Currency marks a record may carry around an amount ("¥123.45", "123.45 元").
_CURRENCY_PREFIX: Final = re.compile(r"^\s*[¥￥]\s*")
_CURRENCY_SUFFIX: Final = re.compile(r"\s*元\s*$")

# Account and phone numbers: digits, optionally grouped by single spaces or hyphens.
_DIGIT_GROUPS: Final = re.compile(r"\d+(?:[ -]\d+)*")

# Mandarin integers read through the pipeline as Arabic digits (so 2 before a measure
# word becomes 两 and 第2 stays 第二) only while the digit speller leaves them alone:
# it spells runs of 7 digits or more one by one, as it should for phone numbers.
_PIPELINE_MAX_DIGITS: Final = 6

# cn2an writes up to 16 integer digits; nobody's bill is that large.
_CN2AN_MAX_DIGITS: Final = 16

_YEAR_DIGITS: Final = str.maketrans("0123456789", "〇一二三四五六七八九")

_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def say(value: object, as_: SayAs, language: str) -> str:
    """`value` (a Decimal/str amount, a date or ISO date string, an int, a digit
    string, any text) as the words to give the renderer in `language`.

    >>> say("123.45", "amount", "zh")
    '一百二十三元四角五分'
    >>> say("123.45", "amount", "en")
    '123 yuan 45'
    >>> say("2026-12-31", "date", "en")
    'December 31st, 2026'

    Raises `PromptError` naming the value when it cannot be said that way.
    """
    lang = check_language(language)
    if value is None:
        raise PromptError(f"cannot say None as {as_}")
    if as_ == "amount":
        return _amount(_decimal(value, as_), lang)
    if as_ == "date":
        return _date(_as_date(value), lang)
    if as_ == "number":
        return _number(_decimal(value, as_), lang)
    if as_ == "digits":
        return _digits(value, lang)
    if as_ == "text":
        if not isinstance(value, str):
            raise PromptError(f"text must be a str, got {type(value).__name__} {value!r}")
        return value
    raise PromptError(f"unknown say-as {as_!r}; expected one of {', '.join(SAY_AS)}")


# -- parsing ------------------------------------------------------------------------------
def _decimal(value: object, as_: str) -> Decimal:
    if isinstance(value, bool):
        raise PromptError(f"cannot say the bool {value!r} as {as_}")
    if isinstance(value, float):
        raise PromptError(
            f"cannot say the float {value!r} as {as_}: a float is not exact;"
            " pass a Decimal, an int or a string"
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PromptError(f"cannot say {value!r} as {as_}")
        return value
    if isinstance(value, str):
        text = value
        if as_ == "amount":
            text = _CURRENCY_SUFFIX.sub("", _CURRENCY_PREFIX.sub("", text))
        text = text.strip()
        if _DECIMAL_TEXT.fullmatch(text):
            try:
                return Decimal(text.replace(",", ""))
            except InvalidOperation:  # the pattern should have ruled it out
                pass
        raise PromptError(f"cannot say {value!r} as {as_}: not a decimal number")
    raise PromptError(f"cannot say a {type(value).__name__} ({value!r}) as {as_}")


def _as_date(value: object) -> date:
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return (
                date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text).date()
            )
        except ValueError:
            pass
        raise PromptError(f"cannot say {value!r} as a date: not an ISO date (YYYY-MM-DD)")
    raise PromptError(f"cannot say a {type(value).__name__} ({value!r}) as a date")


def _plain(number: Decimal) -> str:
    """`number` (not negative) without exponent or trailing decimal zeros: "3.5", "100"."""
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _integer_digits(number: Decimal) -> int:
    return len(format(abs(number).to_integral_value(rounding=ROUND_DOWN), "f"))


# -- amounts ------------------------------------------------------------------------------
def _amount(value: Decimal, lang: Language) -> str:
    """Yuan and fen, rounded half up to the fen. Negative: "负…"/"minus …", which reads
    right in any sentence; a flow that words arrears ("您已欠费…") branches on the sign."""
    if _integer_digits(value) > _CN2AN_MAX_DIGITS:
        raise PromptError(f"cannot say {value} as an amount: too large")
    fen_total = int(value.quantize(_FEN, rounding=ROUND_HALF_UP) * 100)
    negative = fen_total < 0
    yuan, fen = divmod(abs(fen_total), 100)
    words = _zh_amount(yuan, fen) if lang == "zh" else _en_amount(yuan, fen)
    if not negative:
        return words
    return f"负{words}" if lang == "zh" else f"minus {words}"


def _zh_amount(yuan: int, fen: int) -> str:
    """一百二十三元四角五分: 元, 角 and 分 each said when not zero; 零 where a zero is skipped
    between 元 and 分 (一百元零五分); 零元 for nothing at all."""
    jiao, fen = divmod(fen, 10)
    parts = []
    if yuan:
        parts.append(f"{_zh_count(yuan)}元")
    if jiao:
        parts.append(f"{_zh_count(jiao)}角")
    if fen:
        if yuan and not jiao:
            parts.append("零")
        parts.append(f"{_zh_count(fen)}分")
    return "".join(parts) or "零元"


def _en_amount(yuan: int, fen: int) -> str:
    """ "123 yuan 45", as "5 dollars 45" is said. Fen under ten get their unit ("1 yuan
    5 fen"): "1 yuan 5" is heard as 1.50. "yuan" and "fen" have no plural."""
    if not fen:
        return f"{yuan:,} yuan"
    if not yuan:
        return f"{fen} fen"
    if fen < 10:
        return f"{yuan:,} yuan {fen} fen"
    return f"{yuan:,} yuan {fen}"


def _zh_count(n: int) -> str:
    """`n` as Chinese numerals counting something: 2 is 两 alone and before 千/万/亿
    (两千, 两万; 二百 and 十二 keep 二), as it is said."""
    words: str = cn2an.an2cn(str(n))
    if n == 2:
        return "两"
    if words.startswith("二") and words[1:2] in ("千", "万", "亿"):
        return "两" + words[1:]
    return words


# -- numbers ------------------------------------------------------------------------------
def _number(value: Decimal, lang: Language) -> str:
    if _integer_digits(value) > _CN2AN_MAX_DIGITS:
        raise PromptError(f"cannot say {value} as a number: too large")
    text = _plain(abs(value))
    if lang == "zh":
        # Short numbers stay digits: the pipeline reads them and knows the measure word
        # after them (2张 is 两张, 第2 is 第二). Long ones would be spelled digit by digit.
        if _integer_digits(value) > _PIPELINE_MAX_DIGITS:
            text = cn2an.an2cn(text)
        return f"负{text}" if value < 0 else text
    # Grouped by thousands, which espeak-ng reads as one number and the digit speller
    # leaves alone (it spells runs of 7 digits or more, as phone numbers).
    whole, _, decimals = text.partition(".")
    grouped = f"{int(whole):,}" + (f".{decimals}" if decimals else "")
    return f"minus {grouped}" if value < 0 else grouped


# -- dates --------------------------------------------------------------------------------
def _date(day: date, lang: Language) -> str:
    if lang == "zh":
        # The year digit by digit (二〇二六), month and day as numbers (十二月三十一日).
        year = str(day.year).translate(_YEAR_DIGITS)
        return f"{year}年{cn2an.an2cn(str(day.month))}月{cn2an.an2cn(str(day.day))}日"
    # "December 31st, 2026": espeak-ng says the ordinal ("thirty-first"), as people do.
    return f"{_MONTHS[day.month - 1]} {_ordinal(day.day)}, {day.year}"


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# -- digit strings ------------------------------------------------------------------------
def _digits(value: object, lang: Language) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PromptError(f"cannot say a {type(value).__name__} ({value!r}) as digits")
    text = str(value).strip()
    if not _DIGIT_GROUPS.fullmatch(text):
        raise PromptError(f"cannot say {value!r} as digits: only 0-9, grouped by spaces or hyphens")
    groups = re.split(r"[ -]", text)
    if lang == "zh":
        # Chinese digit characters (1 as 幺, as on the phone); a comma pauses between groups.
        return ",".join(group.translate(MANDARIN_DIGITS) for group in groups)
    # Spaced digits, which espeak-ng reads one by one.
    return ", ".join(" ".join(group) for group in groups)
