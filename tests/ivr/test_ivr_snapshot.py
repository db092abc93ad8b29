"""Takeover: a session's snapshot is JSON, and a sibling restores it and resumes the
call where it was (mid-menu, mid-collect, mid-lookup, with its call data)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ivr import (
    CallFacts,
    Flow,
    Hangup,
    Lookup,
    Play,
    Session,
    StartTimer,
    Step,
    load_flow,
)

from .ivr_testkit import Clock, make_flow, only, steps, texts, write_flow

CALL = CallFacts(caller="13800138000", dialled="95598", category="billing")

FLOW = """\
name: takeover
languages: [zh, en]
start: lang
max_duration_ms: 10000
prompts:
  menu: {zh: 菜单, en: menu}
  enter: {zh: 请输入户号, en: enter account}
  balance:
    zh: "余额{acct.balance:amount}{acct.due_date:date}"
    en: "balance {acct.balance:amount}"
nodes:
  lang: {type: menu, prompt: menu, choices: {1: en, 2: ask}}
  en: {type: set, language: en, category: english-callers, next: ask}
  ask:
    type: collect
    prompt: enter
    min_digits: 8
    max_digits: 8
    inter_digit_timeout_ms: 700
    validate: luhn
    store_as: account
    next: find
  find: {type: lookup, source: accounts, key: "{account}", store_as: acct, next: speak}
  speak: {type: say, prompt: balance, next: done}
  done: {type: hangup}
"""


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    return make_flow(tmp_path, FLOW)


def over_json(session: Session) -> dict[str, Any]:
    return json.loads(json.dumps(session.snapshot()))  # what a sibling reads from Redis


def test_mid_collect_the_sibling_keeps_the_digits_and_the_language(flow: Flow) -> None:
    clock = Clock()
    session = Session(flow, call=CALL, clock=clock)
    session.start()
    session.digit("1")  # English
    session.play_done()
    for key in "1234":
        session.digit(key)
    clock.advance(2500)

    sibling = Session.restore(flow, over_json(session), clock=clock)
    assert (sibling.node, sibling.language, sibling.path) == ("ask", "en", ("lang", "en", "ask"))
    assert sibling.call_data == {"language": "en", "category": "english-callers"}
    assert sibling.resume() == [StartTimer("max_time", 7500), StartTimer("input", 700)]
    actions = [a for key in "5674" for a in sibling.digit(key)]
    assert steps(actions) == [("find", "12345674")]
    assert only(actions, Lookup) == [Lookup("accounts", "12345674", 1)]


def test_mid_prompt_the_prompt_plays_again(flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    sibling = Session.restore(flow, over_json(session), clock=Clock())
    actions = sibling.resume()
    assert texts(actions) == ["菜单"]
    assert steps(actions) == []  # the same visit of the node
    assert steps(sibling.digit("2")) == [("ask", "2")]


def test_mid_lookup_the_sibling_asks_again_and_ignores_the_old_answer(flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    session.digit("2")
    for key in "12345674":
        session.digit(key)
    sibling = Session.restore(flow, over_json(session), clock=Clock())
    assert only(sibling.resume(), Lookup) == [Lookup("accounts", "12345674", 2)]
    assert sibling.lookup_done(1, {"balance": 1}, None) == []
    record = {"balance": Decimal("123.45"), "due_date": date(2026, 12, 31)}
    actions = sibling.lookup_done(2, record, None)
    assert texts(actions) == ["余额<amount:123.45:zh><date:2026-12-31:zh>"]


def test_a_record_keeps_its_types_through_json(flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    session.digit("2")
    for key in "12345674":
        session.digit(key)
    record = {"balance": Decimal("123.45"), "due_date": date(2026, 12, 31), "tags": ["a"]}
    session.lookup_done(1, record, None)
    sibling = Session.restore(flow, over_json(session), clock=Clock())
    actions = sibling.resume()
    assert texts(actions) == ["余额<amount:123.45:zh><date:2026-12-31:zh>"]
    assert isinstance(only(actions, Play)[0], Play)


def test_max_time_already_over_ends_at_resume(flow: Flow) -> None:
    clock = Clock()
    session = Session(flow, call=CALL, clock=clock)
    session.start()
    clock.advance(10_001)
    sibling = Session.restore(flow, over_json(session), clock=clock)
    assert sibling.resume()[-1] == Hangup("max_time")
    assert sibling.result == "max_time"


def test_a_finished_session_resumes_to_nothing(flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    session.caller_left()
    sibling = Session.restore(flow, over_json(session), clock=Clock())
    assert sibling.finished and sibling.result == "caller_left"
    assert sibling.resume() == []


def test_restore_refuses_another_flow_or_a_node_that_is_gone(tmp_path: Path, flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    snapshot = over_json(session)
    other = make_flow(tmp_path, "name: other\nstart: h\nnodes:\n  h: {type: hangup}\n")
    with pytest.raises(ValueError, match="flow takeover, not other"):
        Session.restore(other, snapshot, clock=Clock())
    renamed = load_flow(
        write_flow(
            tmp_path,
            FLOW.replace("start: lang", "start: pick").replace("  lang:", "  pick:"),
            "new.yaml",
        )
    )
    with pytest.raises(ValueError, match="no MenuNode node lang"):
        Session.restore(renamed, snapshot, clock=Clock())
    with pytest.raises(ValueError, match="format"):
        Session.restore(flow, {**snapshot, "format": 99}, clock=Clock())


def test_a_reloaded_flow_is_taken_while_the_node_is_there(tmp_path: Path, flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    newer = load_flow(write_flow(tmp_path, FLOW.replace("菜单", "新菜单"), "newer.yaml"))
    assert newer.version != flow.version
    sibling = Session.restore(newer, over_json(session), clock=Clock())
    assert texts(sibling.resume()) == ["新菜单"]
    assert Step("ask", "2") in sibling.digit("2")


def test_resume_is_for_a_restored_session_once(flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    session.start()
    with pytest.raises(RuntimeError, match="restored"):
        session.resume()
    sibling = Session.restore(flow, over_json(session), clock=Clock())
    sibling.resume()
    with pytest.raises(RuntimeError, match="once"):
        sibling.resume()
