"""The text espeak-ng gets for Chinese: numbers as numerals, then tone-numbered pinyin."""

from __future__ import annotations

import subprocess
import sys

import pytest

from prompts import mandarin_speakable, normalise_numbers, speakable_text, to_pinyin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("您的余额是123.45元", "您的余额是一百二十三点四五元"),
        ("您的余额是1,234.50元", "您的余额是一千二百三十四点五元"),
        ("应还100.00元", "应还一百元"),
        ("预计等待2分钟", "预计等待两分钟"),
        ("您前面还有2位客户", "您前面还有两位客户"),
        ("您是第2位", "您是第二位"),
        ("还有12位", "还有十二位"),
        ("利率3.5%", "利率百分之三点五"),
        ("没有数字", "没有数字"),
        # Phone, account and ticket numbers: digit by digit, 1 as 幺.
        ("请拨打13800138000", "请拨打幺三八零零幺三八零零零"),
        ("座机010-1234", "座机零幺零,幺二三四"),
        ("户号0012345678", "户号零零幺二三四五六七八"),
        ("电费12345678元", "电费一千二百三十四万五千六百七十八元"),
        ("圆周率3.1415926", "圆周率三点一四一五九二六"),
    ],
)
def test_numbers_and_amounts_become_chinese_numerals(text: str, expected: str) -> None:
    assert normalise_numbers(text) == expected


def test_pinyin_has_tone_numbers_and_ascii_punctuation() -> None:
    assert to_pinyin("您的余额，绿色。") == "nin2 de5 yu2 e2, lv4 se4."


def test_balance_sentence_is_read_as_an_amount_in_pinyin() -> None:
    assert mandarin_speakable("您的余额是123.45元") == (
        "nin2 de5 yu2 e2 shi4 yi4 bai3 er4 shi2 san1 dian3 si4 wu3 yuan2"
    )


def test_english_is_passed_through_with_whitespace_collapsed() -> None:
    assert speakable_text("  Your balance is\n123.45 yuan. ", "en") == (
        "Your balance is 123.45 yuan."
    )


def test_cn2an_and_pypinyin_import_without_warnings() -> None:
    # The suite runs with filterwarnings=error; check in a fresh interpreter,
    # since by now this process has imported both already.
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import prompts; prompts.mandarin_speakable('1元')"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call 13800138000 now.", "Call 1 3 8 0 0 1 3 8 0 0 0 now."),
        ("Ticket 0042 is open.", "Ticket 0 0 4 2 is open."),
        ("Dial 400-820-8820.", "Dial 4 0 0, 8 2 0, 8 8 2 0."),
        ("You owe 1234567.50 yuan, 3 bills.", "You owe 1234567.50 yuan, 3 bills."),
        ("You owe 1,034,567 yuan.", "You owe 1,034,567 yuan."),  # "034" is a thousands group
    ],
)
def test_english_identifiers_are_spelled_digit_by_digit(text: str, expected: str) -> None:
    assert speakable_text(text, "en") == expected
