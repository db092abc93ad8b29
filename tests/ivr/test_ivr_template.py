"""Prompt templates: text with typed slots, spoken through `prompts.say`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ivr._template import Slot, Template, TemplateError, parse_template

VALUES = {("acct", "balance"): Decimal("123.45"), ("acct", "due_date"): "2026-12-31", ("n",): 7}


def value_of(slot: Slot) -> object:
    return VALUES[slot.path]


def test_slots_are_spoken_by_say_with_their_type_and_language() -> None:
    template = parse_template(
        "您的余额是{acct.balance:amount}，缴费截止日期是{acct.due_date:date}。"
    )
    assert template.slots == (
        Slot(("acct", "balance"), "amount"),
        Slot(("acct", "due_date"), "date"),
    )
    assert template.speak(value_of, "zh") == (
        "您的余额是<amount:123.45:zh>，缴费截止日期是<date:2026-12-31:zh>。"
    )


def test_a_slot_without_a_type_is_text_and_fill_takes_values_as_they_are() -> None:
    template = parse_template("key {n} and {{braces}}")
    assert template.speak(value_of, "en") == "key <text:7:en> and {braces}"
    assert template.fill(value_of) == "key 7 and {braces}"
    assert parse_template("plain").parts == ("plain",)
    assert parse_template("") == Template(())


def test_the_real_say_is_what_runs_outside_these_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    import prompts
    from ivr import _template

    monkeypatch.setattr(_template, "say", prompts.say)
    spoken = parse_template("{acct.balance:amount}").speak(value_of, "zh")
    assert isinstance(spoken, str) and spoken


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a {b", "slot at character 3 has no closing }"),
        ("a } b", "a lone } at character 3"),
        ("{1abc}", "is not {name}, {name.field} or {name.field:as}"),
        ("{a.b:money}", "'money' is not one of amount, date, number, digits, text"),
        ("{}", "is not {name}"),
    ],
)
def test_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_template(text)
