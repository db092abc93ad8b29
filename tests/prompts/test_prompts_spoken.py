"""`say`: data values as words, checked as the renderer then reads them.

Each case goes through `speakable_text` as well: what reaches espeak-ng is what a
caller hears, and the Mandarin pipeline (cn2an, the digit speller) must not re-read
what `say` wrote.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from prompts import SAY_AS, PromptError, say, speakable_text, to_pinyin


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("123.45", "一百二十三元四角五分"),
        ("0.05", "五分"),
        ("100.00", "一百元"),
        ("1234567.80", "一百二十三万四千五百六十七元八角"),
        ("100.05", "一百元零五分"),
        ("10.50", "十元五角"),
        ("0.40", "四角"),
        ("0", "零元"),
        ("0.00", "零元"),
        ("2", "两元"),
        ("2.22", "两元两角两分"),
        ("12", "十二元"),
        ("200", "二百元"),
        ("2000.02", "两千元零两分"),
        ("20000", "两万元"),
        ("1001", "一千零一元"),
        ("-12.30", "负十二元三角"),
        ("-0.001", "零元"),  # rounds to nothing: no "负零元"
        ("0.005", "一分"),  # half up to the fen
        ("¥1,234.50", "一千二百三十四元五角"),
        ("88.8 元", "八十八元八角"),
        (Decimal("123.45"), "一百二十三元四角五分"),
        (123, "一百二十三元"),
    ],
)
def test_mandarin_amounts_are_yuan_jiao_fen(value: object, words: str) -> None:
    assert say(value, "amount", "zh") == words


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("123.45", "123 yuan 45"),
        ("1.00", "1 yuan"),
        ("1", "1 yuan"),
        ("0.01", "1 fen"),
        ("0.45", "45 fen"),
        ("0", "0 yuan"),
        ("1.05", "1 yuan 5 fen"),  # "1 yuan 5" is heard as 1.50
        ("1.50", "1 yuan 50"),
        ("1234567.80", "1,234,567 yuan 80"),
        ("1034567", "1,034,567 yuan"),
        ("-12.30", "minus 12 yuan 30"),
        (Decimal("99.99"), "99 yuan 99"),
    ],
)
def test_english_amounts_are_yuan_and_fen(value: object, words: str) -> None:
    assert say(value, "amount", "en") == words


@pytest.mark.parametrize(
    ("template", "value", "pinyin"),
    [
        (
            "您的余额是{}",
            "123.45",
            "nin2 de5 yu2 e2 shi4 yi4 bai3 er4 shi2 san1 yuan2 si4 jiao3 wu3 fen1",
        ),
        ("您的余额是{}", "0.05", "nin2 de5 yu2 e2 shi4 wu3 fen1"),
        ("应缴{}", "100.00", "ying1 jiao3 yi4 bai3 yuan2"),
        ("欠费{}。", "2", "qian4 fei4 liang3 yuan2."),
    ],
)
def test_mandarin_amounts_survive_the_speakable_pipeline(
    template: str, value: str, pinyin: str
) -> None:
    assert speakable_text(template.format(say(value, "amount", "zh")), "zh") == pinyin


def test_a_long_mandarin_amount_is_not_spelled_as_digits() -> None:
    text = "您的余额是" + say("1234567.80", "amount", "zh")
    assert speakable_text(text, "zh") == to_pinyin("您的余额是一百二十三万四千五百六十七元八角")


def test_english_amounts_reach_espeak_as_written() -> None:
    """The digit speller leaves grouped thousands alone ("034" is no phone number)."""
    for value in ("123.45", "1034567.80", "0.05"):
        words = say(value, "amount", "en")
        assert speakable_text(f"Your balance is {words}.", "en") == f"Your balance is {words}."


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        (date(2026, 12, 31), "二〇二六年十二月三十一日", "December 31st, 2026"),
        ("2026-12-31", "二〇二六年十二月三十一日", "December 31st, 2026"),
        (date(2026, 2, 2), "二〇二六年二月二日", "February 2nd, 2026"),
        (date(2030, 1, 1), "二〇三〇年一月一日", "January 1st, 2030"),
        (date(2026, 3, 23), "二〇二六年三月二十三日", "March 23rd, 2026"),
        (date(2026, 3, 11), "二〇二六年三月十一日", "March 11th, 2026"),
        (date(2026, 3, 12), "二〇二六年三月十二日", "March 12th, 2026"),
        (datetime(2026, 7, 4, 23, 59), "二〇二六年七月四日", "July 4th, 2026"),
        ("2026-07-04T08:30:00+08:00", "二〇二六年七月四日", "July 4th, 2026"),
        ("20260704", "二〇二六年七月四日", "July 4th, 2026"),
    ],
)
def test_dates(value: object, zh: str, en: str) -> None:
    assert say(value, "date", "zh") == zh
    assert say(value, "date", "en") == en


def test_an_aware_datetime_is_said_as_its_own_calendar_day() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=8)))
    assert say(late, "date", "en") == "December 31st, 2026"


def test_mandarin_dates_survive_the_speakable_pipeline() -> None:
    assert speakable_text("到期日" + say("2026-12-31", "date", "zh"), "zh") == (
        "dao4 qi1 ri4 er4 ling2 er4 liu4 nian2 shi2 er4 yue4 san1 shi2 yi1 ri4"
    )


@pytest.mark.parametrize(
    ("value", "zh", "zh_heard", "en"),
    [
        (5, "5", "五", "5"),
        ("-3.50", "负3.5", "负三点五", "minus 3.5"),
        ("1234567", "一百二十三万四千五百六十七", "一百二十三万四千五百六十七", "1,234,567"),
        (Decimal("1034567.25"), "一百零三万四千五百六十七点二五", None, "1,034,567.25"),
        (999999, "999999", "九十九万九千九百九十九", "999,999"),
    ],
)
def test_numbers(value: object, zh: str, zh_heard: str | None, en: str) -> None:
    assert say(value, "number", "zh") == zh
    assert say(value, "number", "en") == en
    heard = speakable_text(say(value, "number", "zh"), "zh")
    assert heard == to_pinyin(zh_heard or zh)
    assert speakable_text(say(value, "number", "en"), "en") == en


def test_a_short_mandarin_number_is_read_with_its_measure_word() -> None:
    """2 bills is 两张, the 2nd is 第二: the pipeline sees the word after the number."""
    assert speakable_text(f"您有{say(2, 'number', 'zh')}张账单", "zh") == to_pinyin("您有两张账单")
    assert speakable_text(f"第{say(2, 'number', 'zh')}期", "zh") == to_pinyin("第二期")


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        ("13800138000", "幺三八零零幺三八零零零", "1 3 8 0 0 1 3 8 0 0 0"),
        ("0012345678", "零零幺二三四五六七八", "0 0 1 2 3 4 5 6 7 8"),
        ("400-820-8820", "四零零,八二零,八八二零", "4 0 0, 8 2 0, 8 8 2 0"),
        ("1234 5678", "幺二三四,五六七八", "1 2 3 4, 5 6 7 8"),
        (42, "四二", "4 2"),
    ],
)
def test_digit_strings_are_said_digit_by_digit(value: object, zh: str, en: str) -> None:
    assert say(value, "digits", "zh") == zh
    assert say(value, "digits", "en") == en
    assert speakable_text(say(value, "digits", "en"), "en") == en
    assert speakable_text("户号" + say(value, "digits", "zh"), "zh") == to_pinyin("户号" + zh)


def test_text_is_passed_through() -> None:
    assert say("张三", "text", "zh") == "张三"
    assert say("Hello 123", "text", "en") == "Hello 123"


@pytest.mark.parametrize(
    ("value", "as_", "message"),
    [
        (1.5, "amount", "float"),
        (0.1, "number", "float"),
        (True, "number", "bool"),
        (None, "amount", "None"),
        ("12.3.4", "amount", "not a decimal number"),
        ("abc", "number", "not a decimal number"),
        ("1,23", "number", "not a decimal number"),
        ("", "amount", "not a decimal number"),
        (Decimal("NaN"), "amount", "NaN"),
        (Decimal("Infinity"), "number", "Infinity"),
        ("1" * 17, "amount", "too large"),
        ("2026-13-01", "date", "not an ISO date"),
        ("tomorrow", "date", "not an ISO date"),
        (20261231, "date", "int"),
        ("12a4", "digits", "only 0-9"),
        ("-5", "digits", "only 0-9"),
        ("", "digits", "only 0-9"),
        (1.0, "digits", "float"),
        (5, "text", "must be a str"),
    ],
)
def test_values_that_cannot_be_said_raise_prompt_error(
    value: object, as_: str, message: str
) -> None:
    with pytest.raises(PromptError, match=message):
        say(value, as_, "zh")  # type: ignore[arg-type]


def test_unknown_say_as_and_language_are_refused() -> None:
    with pytest.raises(PromptError, match="unknown say-as 'money'"):
        say("1", "money", "zh")  # type: ignore[arg-type]
    with pytest.raises(PromptError, match="unknown prompt language 'fr'"):
        say("1", "amount", "fr")


def test_every_say_as_is_handled() -> None:
    samples = {"amount": "1", "date": "2026-01-01", "number": 1, "digits": "1", "text": "x"}
    assert set(samples) == set(SAY_AS)
    for as_ in SAY_AS:
        for language in ("zh", "en"):
            assert say(samples[as_], as_, language)
