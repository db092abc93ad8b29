"""A sensitive collect node: its digits never appear in Step, in a snapshot or in an
error text, and values derived from them stay in memory only. The one place they
go is the Lookup key the host needs to look them up, marked sensitive."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from ivr import (
    Action,
    CallFacts,
    FlowError,
    Lookup,
    Session,
)

from .ivr_testkit import Clock, make_flow, only, steps, texts

PIN = "73519"  # digits that appear nowhere else in the flow or the call
CALL = CallFacts(caller="13800138000", dialled="95598")

FLOW = """\
start: pin
prompts:
  enter: {zh: 请输入密码}
  wrong: {zh: 密码错误}
  balance: {zh: "余额{acct.balance:amount}"}
nodes:
  pin:
    type: collect
    prompt: enter
    sensitive: true
    min_digits: 5
    max_digits: 5
    validate: {regex: '^7\\d+$'}
    store_as: pin
    invalid_prompt: wrong
    retries: 1
    on_failure: sorry
    next: check
  check:
    type: lookup
    source: pins
    key: "{pin}"
    store_as: acct
    next: speak
    on_error: sorry
  speak: {type: say, prompt: balance, next: menu}
  menu:
    type: menu
    prompt: {zh: 重听请按1}
    choices: {1: speak}
  sorry: {type: hangup}
"""


def leaks(things: object) -> bool:
    return PIN in repr(things) or PIN in json.dumps(things, default=repr, ensure_ascii=False)


def not_the_key(actions: list[Action]) -> list[Action]:
    """The actions with each Lookup's key blanked: the one place the digits must go."""
    return [replace(a, key="") if isinstance(a, Lookup) else a for a in actions]


def entered(tmp_path: Path) -> tuple[Session, list[Action]]:
    session = Session(make_flow(tmp_path, FLOW), call=CALL, clock=Clock())
    actions = session.start()
    actions += session.play_done()
    for key in PIN:
        actions += session.digit(key)
    return session, actions


def test_the_entry_is_masked_in_step_and_sent_only_as_a_sensitive_key(tmp_path: Path) -> None:
    session, actions = entered(tmp_path)
    assert steps(actions) == [("pin", ""), ("check", "<sensitive>")]
    assert only(actions, Lookup) == [Lookup("pins", PIN, 1, sensitive=True)]
    assert not leaks(not_the_key(actions))
    assert session.flow.sensitive_variables == {"pin", "acct"}


def test_invalid_entries_and_retries_exhausted_are_masked(tmp_path: Path) -> None:
    session = Session(make_flow(tmp_path, FLOW), call=CALL, clock=Clock())
    actions = session.start()
    for attempt in ("63519", "6351"):  # the regex fails, then too short (timer)
        for key in attempt:
            actions += session.digit(key)
        if len(attempt) < 5:
            actions += session.timer_fired("input")
    assert texts(actions)[-2:] == ["密码错误", "请输入密码"]  # after the first attempt
    assert steps(actions)[-1] == ("sorry", "<sensitive>")
    assert session.result == "retries_exhausted"
    assert "6351" not in repr(actions)


def test_nothing_of_it_in_a_snapshot_or_an_error(tmp_path: Path) -> None:
    session, actions = entered(tmp_path)
    actions += session.lookup_done(1, {"balance": Decimal("12.50"), "pin": PIN}, None)
    assert steps(actions)[-1] == ("speak", "")
    snapshot = session.snapshot()
    json.dumps(snapshot)
    assert not leaks(snapshot)
    assert snapshot["vars"] == {}  # the record was found by the PIN: memory only
    assert snapshot["redo"] == "pin"

    # The host's lookup error may quote the key: the session's error text does not.
    session, _ = entered(tmp_path)
    flow_without_on_error = replace(
        session.flow,
        nodes={**session.flow.nodes, "check": replace(session.flow.nodes["check"], on_error=None)},
    )
    session = Session(flow_without_on_error, call=CALL, clock=Clock())
    session.start()
    for key in PIN:
        session.digit(key)
    actions = session.lookup_done(1, None, f"no row for key {PIN}")
    assert session.result == "error"
    assert session.error is not None and not leaks(session.error)
    assert not leaks(not_the_key(actions))


def test_mid_entry_snapshot_holds_no_digits_and_a_takeover_asks_again(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FLOW)
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    session.play_done()
    for key in PIN[:3]:
        session.digit(key)
    snapshot = json.loads(json.dumps(session.snapshot()))
    assert snapshot["entry"] == "" and snapshot["entry_dropped"] is True
    assert PIN[:3] not in json.dumps(snapshot)

    sibling = Session.restore(flow, snapshot, clock=Clock())
    actions = sibling.resume()
    assert texts(actions) == ["请输入密码"]  # from the start of the entry
    for key in PIN:
        actions += sibling.digit(key)
    assert steps(actions)[-1] == ("check", "<sensitive>")


def test_after_a_takeover_the_flow_asks_for_the_lost_entry_again(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FLOW)
    session, _ = entered(tmp_path)
    session.lookup_done(1, {"balance": Decimal("12.50")}, None)
    session.play_done()  # in the menu after the balance
    sibling = Session.restore(flow, json.loads(json.dumps(session.snapshot())), clock=Clock())
    actions = sibling.resume()
    assert steps(actions) == [("pin", "")]
    assert texts(actions) == ["请输入密码"]


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("a prompt", 'speak: {type: say, prompt: {zh: "密码是{pin:digits}"}, next: sorry}'),
        ("call data", 'speak: {type: set, category: "x{pin}", next: sorry}'),
    ],
)
def test_a_flow_that_would_speak_or_keep_the_entry_is_refused(
    tmp_path: Path, where: str, text: str
) -> None:
    flow = FLOW.replace("  speak: {type: say, prompt: balance, next: menu}", f"  {text}")
    with pytest.raises(FlowError) as caught:
        make_flow(tmp_path, flow)
    message = str(caught.value)
    assert "node speak: " in message, where
    assert "{pin} is a sensitive entry" in message


def test_a_step_never_carries_the_digits_of_a_sensitive_type_ahead(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: hello
        nodes:
          hello: {type: play, prompt: {zh: 你好}, next: pin}
          pin: {type: collect, prompt: {zh: 密码}, sensitive: true, max_digits: 5, next: done}
          done: {type: hangup}
        """,
    )
    session = Session(flow, call=CALL, clock=Clock())
    actions = session.start()
    for key in PIN:  # typed over the greeting
        actions += session.digit(key)
    assert steps(actions) == [("hello", ""), ("pin", ""), ("done", "<sensitive>")]
    assert not leaks(actions)
    assert session.result == "self_served"


def test_a_sensitive_entry_is_never_the_entered_account(tmp_path: Path) -> None:
    session, _ = entered(tmp_path)
    session.lookup_done(1, {"balance": Decimal("12.50")}, None)
    assert session.entered_account is None
    assert not leaks(session.snapshot())
