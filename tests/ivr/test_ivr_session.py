"""The interpreter, node by node: what each event makes it do (pure, no clock, no SIP)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ivr import (
    CallFacts,
    CancelTimer,
    Enqueue,
    Flow,
    Hangup,
    Lookup,
    Play,
    Schedule,
    Session,
    SetCallData,
    StartTimer,
    Step,
    StopPlay,
    Transfer,
    Tts,
    Voicemail,
)

from .ivr_testkit import SHANGHAI, WEDNESDAY_10, Clock, make_flow, only, steps, texts

CALL = CallFacts(caller="13800138000", dialled="95598", category="electricity-billing")

FLOW = """\
name: test
languages: [zh, en]
start: main
max_duration_ms: 60000
agent_key: "0"
agent:
  queue: billing
  priority: 3
  skills: {billing: 1}
prompts:
  menu: {zh: 主菜单, en: main menu}
  invalid: {zh: 无效, en: invalid}
  silence: {zh: 没听到, en: no input}
  enter: {zh: 请输入, en: enter}
  balance:
    zh: "余额{acct.balance:amount}，截止{acct.due_date:date}"
    en: "balance {acct.balance:amount}, due {acct.due_date:date}"
  bye: {zh: 再见, en: bye}
nodes:
  main:
    type: menu
    prompt: menu
    choices: {1: ask, 2: news, 3: to_english, 4: categorise, 5: mailbox, 6: operator,
              7: done, 8: check, 9: polite_bye}
    timeout_ms: 100
    retries: 1
    invalid_prompt: invalid
    timeout_prompt: silence
  news:
    type: play
    prompt: {zh: 新闻, en: news}
    next: main
  ask:
    type: collect
    prompt: enter
    min_digits: 4
    max_digits: 8
    first_digit_timeout_ms: 200
    inter_digit_timeout_ms: 50
    validate: luhn
    store_as: account
    invalid_prompt: invalid
    retries: 1
    next: find
  find:
    type: lookup
    source: accounts
    key: "{account}"
    store_as: acct
    next: speak
    on_not_found: news
  speak:
    type: say
    prompt: balance
    next: main
  to_english:
    type: set
    language: en
    next: main
  categorise:
    type: set
    category: outage
    priority: 7
    skill: outage
    next: queue_it
  queue_it:
    type: queue
    queue: repairs
    skills: {repair: 2}
  mailbox:
    type: voicemail
    box: general
  operator:
    type: transfer
    number: "+8610123456"
  done:
    type: hangup
  polite_bye:
    type: hangup
    prompt: bye
  check:
    type: branch
    conditions:
      - {var: call.caller, op: eq, value: "13800138000", next: news}
    default: done
"""

RECORD = {
    "account_number": "12345674",
    "customer_name": "张三",
    "balance": Decimal("123.45"),
    "due_date": date(2026, 12, 31),
    "status": "active",
    "language": "zh",
}


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    return make_flow(tmp_path, FLOW)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def started(flow: Flow, clock: Clock | None = None, **kwargs: object) -> Session:
    session = Session(flow, call=CALL, clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]
    session.start()
    return session


def at_node(flow: Flow, *digits: str) -> Session:
    """A session that pressed `digits` after the main menu's prompt ended."""
    session = started(flow)
    session.play_done()
    for digit in digits:
        session.digit(digit)
    return session


# ------------------------------------------------------------------ start and menus


def test_start_starts_the_max_time_and_plays_the_first_menu(flow: Flow) -> None:
    session = Session(flow, call=CALL, clock=Clock())
    actions = session.start()
    assert actions == [
        StartTimer("max_time", 60000),
        Step("main", ""),
        Play((Tts("主菜单", "zh"),), interruptible=True),
    ]
    assert (session.node, session.language, session.path) == ("main", "zh", ("main",))
    assert not session.finished and session.result is None
    with pytest.raises(RuntimeError):
        session.start()


def test_the_menu_waits_for_its_timeout_after_the_prompt(flow: Flow) -> None:
    session = started(flow)
    assert session.play_done() == [StartTimer("input", 100)]
    actions = session.digit("2")
    assert actions[:2] == [CancelTimer("input"), Step("news", "2")]
    assert texts(actions) == ["新闻"]


def test_a_digit_during_the_prompt_stops_it_first(flow: Flow) -> None:
    session = started(flow)
    actions = session.digit("2")
    assert actions[:2] == [StopPlay(), Step("news", "2")]


def test_invalid_choice_replays_with_the_invalid_prompt_then_gives_up(flow: Flow) -> None:
    session = at_node(flow)
    actions = session.digit("#")
    assert actions[0] == CancelTimer("input")
    assert texts(actions) == ["无效", "主菜单"]
    assert steps(actions) == []  # still the same node visit
    session.play_done()
    actions = session.digit("*")  # retries: 1, so the second invalid key ends it
    assert actions[-1] == Hangup("retries_exhausted")
    assert session.finished and session.result == "retries_exhausted"


def test_timeout_replays_with_the_timeout_prompt_then_gives_up(flow: Flow) -> None:
    session = at_node(flow)
    actions = session.timer_fired("input")
    assert texts(actions) == ["没听到", "主菜单"]
    assert session.play_done() == [StartTimer("input", 100)]
    actions = session.timer_fired("input")
    assert actions == [CancelTimer("max_time"), Hangup("retries_exhausted")]
    assert session.result == "retries_exhausted"


def test_invalid_and_timeouts_share_the_retries(flow: Flow) -> None:
    session = at_node(flow, "#")
    session.play_done()
    session.timer_fired("input")
    assert session.result == "retries_exhausted"


def test_on_failure_and_on_timeout_lead_on(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: pick
        prompts: {p: {zh: 请选择}}
        nodes:
          pick:
            type: menu
            prompt: p
            choices: {1: done}
            retries: 0
            on_failure: sorry
            on_timeout: default_way
          default_way: {type: hangup, result: self_served}
          sorry: {type: hangup}
          done: {type: hangup}
        """,
    )
    session = started(flow)
    session.play_done()
    assert steps(session.timer_fired("input")) == [("default_way", "")]
    assert session.result == "self_served"

    session = started(flow)
    actions = session.digit("5")  # barge-in with a wrong key, no retries left
    assert actions[:2] == [StopPlay(), Step("sorry", "5")]
    assert actions[-1] == Hangup("retries_exhausted")  # why the flow came to `sorry`
    assert session.result == "retries_exhausted"


def test_a_late_or_unknown_timer_is_ignored(flow: Flow) -> None:
    session = started(flow)
    assert session.timer_fired("input") == []  # the prompt still plays
    assert session.timer_fired("whatever") == []
    session.play_done()
    session.digit("2")
    assert session.timer_fired("input") == []  # cancelled when the menu was left


def test_a_non_interruptible_prompt_ignores_digits(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: pick
        prompts: {p: {zh: 请听完}}
        nodes:
          pick: {type: menu, prompt: p, choices: {1: done}, interruptible: false}
          done: {type: hangup}
        """,
    )
    session = started(flow)
    assert session.digit("1") == []
    assert session.play_done() == [StartTimer("input", 5000)]
    assert steps(session.digit("1")) == [("done", "1")]


def test_unknown_digit_values_are_refused(flow: Flow) -> None:
    session = started(flow)
    with pytest.raises(ValueError, match="0-9"):
        session.digit("x")


# ------------------------------------------------------------------ play and barge-in


def test_play_goes_on_when_the_prompt_ends(flow: Flow) -> None:
    session = at_node(flow, "2")
    actions = session.play_done()
    assert steps(actions) == [("main", "")]
    assert session.path == ("main", "news", "main")


def test_barge_in_on_a_play_node_is_type_ahead_for_the_next_menu(flow: Flow) -> None:
    session = at_node(flow, "2")  # in `news`, its prompt playing
    actions = session.digit("7")
    # StopPlay before anything else; the menu does not play its prompt but takes the key.
    assert actions[0] == StopPlay()
    assert steps(actions) == [("main", ""), ("done", "7")]
    assert not only(actions, Play)
    assert session.result == "self_served"


def test_type_ahead_skips_interruptible_prompts_but_a_loop_of_plays_plays(
    tmp_path: Path,
) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: a
        prompts: {p: {zh: 一}, q: {zh: 二}}
        nodes:
          a: {type: play, prompt: p, next: b}
          b: {type: play, prompt: q, next: a}
        """,
    )
    session = started(flow)
    actions = session.digit("5")
    assert actions[0] == StopPlay()
    # b is skipped for the key; a again would loop, so it plays and the key is dropped.
    assert steps(actions) == [("b", ""), ("a", "")]
    assert texts(actions) == ["一"]
    assert not session.finished


# ------------------------------------------------------------------ collect


def test_collect_ends_at_the_terminator_and_stores_the_entry(flow: Flow) -> None:
    session = at_node(flow, "1")
    assert session.play_done() == [StartTimer("input", 200)]
    for digit in "1234567":
        assert session.digit(digit) == [StartTimer("input", 50)]
    actions = session.digit("4")  # 8 digits: max_digits ends the entry
    assert actions[:2] == [CancelTimer("input"), Step("find", "12345674")]
    assert actions[2] == Lookup("accounts", "12345674", 1, sensitive=False)


def test_collect_ends_at_the_terminator(flow: Flow) -> None:
    session = at_node(flow, "1")
    session.play_done()
    for digit in "4242":
        session.digit(digit)
    actions = session.digit("#")
    assert steps(actions) == [("find", "4242")]


def test_collect_ends_when_the_inter_digit_timeout_fires(flow: Flow) -> None:
    session = at_node(flow, "1")
    for digit in "18":  # barge-in: the first key stops the prompt and counts
        session.digit(digit)
    session.digit("8")
    session.digit("3")
    actions = session.timer_fired("input")
    assert steps(actions) == [("find", "1883")]


def test_collect_barge_in_stops_the_prompt_and_keeps_the_digit(flow: Flow) -> None:
    session = at_node(flow, "1")
    assert session.digit("1") == [StopPlay(), StartTimer("input", 50)]


@pytest.mark.parametrize(
    ("keys", "why"),
    [
        ("12#", "shorter than min_digits"),
        ("1234567#", "fails the Luhn check"),
        ("#", "empty"),
        ("12*", "a key that is not a digit"),
    ],
)
def test_collect_refuses_a_bad_entry_and_asks_again(flow: Flow, keys: str, why: str) -> None:
    session = at_node(flow, "1")
    session.play_done()
    actions: list[object] = []
    for key in keys:
        actions = list(session.digit(key))
    assert texts(actions) == ["无效", "请输入"], why
    assert session.node == "ask"


def test_collect_first_digit_timeout_then_retries_exhausted(flow: Flow) -> None:
    session = at_node(flow, "1")
    session.play_done()
    assert texts(session.timer_fired("input")) == ["请输入"]  # no timeout_prompt here
    session.play_done()
    assert session.timer_fired("input")[-1] == Hangup("retries_exhausted")


@pytest.mark.parametrize(
    ("validate", "good", "bad"),
    [
        ("{regex: '^9\\d+$'}", "9123", "8123"),
        ("{length: [4, 6]}", "123456", "12345"),
        ("[luhn, {length: 8}]", "12345674", "0000000"),
    ],
)
def test_collect_validations(tmp_path: Path, validate: str, good: str, bad: str) -> None:
    flow = make_flow(
        tmp_path,
        f"""\
        start: ask
        prompts: {{p: {{zh: 请输入}}}}
        nodes:
          ask:
            type: collect
            prompt: p
            validate: {validate}
            retries: 0
            on_failure: failed
            next: ok
          ok: {{type: hangup}}
          failed: {{type: hangup}}
        """,
    )
    for entry, node in ((good, "ok"), (bad, "failed")):
        session = started(flow)
        session.play_done()
        actions: list[object] = []
        for key in f"{entry}#":
            actions = list(session.digit(key))
        assert steps(actions) == [(node, entry)]  # type: ignore[arg-type]


# ------------------------------------------------------------------ lookup and say


def test_lookup_then_say_speaks_the_record_in_the_call_language(flow: Flow) -> None:
    session = at_node(flow, "1", *"12345674")
    actions = session.lookup_done(1, RECORD, None)
    assert steps(actions) == [("speak", "")]
    assert texts(actions) == ["余额<amount:123.45:zh>，截止<date:2026-12-31:zh>"]


def test_lookup_not_found_and_error(tmp_path: Path, flow: Flow) -> None:
    session = at_node(flow, "1", *"12345674")
    assert steps(session.lookup_done(1, None, None)) == [("news", "")]

    # No on_error here: the session ends with an error, and says why.
    session = at_node(flow, "1", *"12345674")
    actions = session.lookup_done(1, None, "database is away")
    assert actions[-1] == Hangup("error")
    assert session.result == "error"
    assert session.error is not None and "accounts" in session.error


def test_a_late_lookup_answer_is_ignored(flow: Flow) -> None:
    session = at_node(flow, "1", *"12345674")
    assert session.lookup_done(7, RECORD, None) == []
    session.digit("0")  # the agent key while waiting: to the agent
    assert session.lookup_done(1, RECORD, None) == []
    assert session.result == "queued"


def test_digits_during_a_lookup_are_type_ahead(flow: Flow) -> None:
    session = at_node(flow, "1", *"12345674")
    assert session.digit("7") == []
    actions = session.lookup_done(1, RECORD, None)
    # The key skips the spoken balance and chooses in the menu after it.
    assert steps(actions) == [("speak", ""), ("main", ""), ("done", "7")]


def test_a_slot_without_a_value_ends_the_session_with_an_error(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: find
        prompts: {b: {zh: "余额{acct.balance:amount}"}}
        nodes:
          find: {type: lookup, source: accounts, key: "{call.caller}", store_as: acct, next: say}
          say: {type: say, prompt: b, next: done}
          done: {type: hangup}
        """,
    )
    session = started(flow)
    actions = session.lookup_done(1, {"status": "active"}, None)
    assert actions[-1] == Hangup("error")
    assert session.error == "node say: {acct.balance} has no value"


def test_a_value_say_cannot_speak_ends_with_an_error_that_does_not_quote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ivr import _template

    def refuse(value: object, as_: str, language: str) -> str:
        raise ValueError(f"not an amount: {value!r}")

    monkeypatch.setattr(_template, "say", refuse)
    flow = make_flow(
        tmp_path,
        """\
        start: find
        prompts: {b: {zh: "余额{acct.balance:amount}"}}
        nodes:
          find: {type: lookup, source: accounts, key: "{call.caller}", store_as: acct, next: say}
          say: {type: say, prompt: b, next: done}
          done: {type: hangup}
        """,
    )
    session = started(flow)
    session.lookup_done(1, {"balance": "garbage-4711"}, None)
    assert session.result == "error"
    assert session.error is not None
    assert "{acct.balance} cannot be said as amount" in session.error
    assert "4711" not in session.error


def test_call_facts_fill_a_lookup_key(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: find
        nodes:
          find:
            {type: lookup, source: customers, key: "tel:{call.caller}", store_as: who, next: done}
          done: {type: hangup}
        """,
    )
    session = Session(flow, call=CALL, clock=Clock())
    assert session.start()[-1] == Lookup("customers", "tel:13800138000", 1)


# ------------------------------------------------------------------ branch


def test_branch_on_call_facts(flow: Flow) -> None:
    session = started(flow)
    session.play_done()
    assert steps(session.digit("8")) == [("check", "8"), ("news", "")]


def test_branch_conditions_in_order_first_true_wins(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: find
        nodes:
          find: {type: lookup, source: accounts, key: "{call.caller}", store_as: acct, next: route}
          route:
            type: branch
            conditions:
              - {var: acct.status, op: in, value: [closed, blocked], next: blocked}
              - {var: acct.balance, op: lt, value: 0, next: owes}
              - {var: acct.due_date, op: le, value: 2026-12-09, next: overdue}
              - {var: acct.nickname, op: empty, next: no_name}
            default: fine
          blocked: {type: hangup}
          owes: {type: hangup}
          overdue: {type: hangup}
          no_name: {type: hangup}
          fine: {type: hangup}
        """,
    )
    cases = [
        ({"status": "blocked", "balance": Decimal(-5)}, "blocked"),
        ({"status": "active", "balance": Decimal("-0.01")}, "owes"),
        ({"status": "active", "balance": "3", "due_date": date(2026, 12, 1)}, "overdue"),
        ({"status": "active", "balance": "3", "due_date": "2027-01-01"}, "no_name"),
        ({"status": "active", "nickname": "x"}, "fine"),
    ]
    for record, node in cases:
        session = started(flow)
        session.lookup_done(1, record, None)
        assert session.path[-1] == node, record


def test_branch_on_open_hours(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: hours
        nodes:
          hours:
            type: branch
            conditions: [{open: office, next: open_now}]
            default: closed_now
          open_now: {type: hangup}
          closed_now: {type: hangup, result: closed}
        """,
        schedules=["office"],
    )
    office = Schedule(SHANGHAI, {2: [(9 * 60, 17 * 60)]})  # Wednesdays 09:00-17:00
    session = started(flow, Clock(WEDNESDAY_10), schedules={"office": office})
    assert session.path == ("hours", "open_now") and session.result == "self_served"
    session = started(flow, Clock(WEDNESDAY_10 + timedelta(hours=8)), schedules={"office": office})
    assert session.path == ("hours", "closed_now") and session.result == "closed"
    with pytest.raises(ValueError, match="office"):
        Session(flow, call=CALL, clock=Clock())  # the schedule it needs was not given


# ------------------------------------------------------------------ set and language


def test_set_language_changes_every_later_prompt(flow: Flow) -> None:
    session = at_node(flow, "3")
    assert session.language == "en"
    assert session.call_data == {"language": "en"}
    session.play_done()
    actions = session.digit("2")
    assert texts(actions) == ["news"]
    assert only(actions, Play)[0].items[0] == Tts("news", "en")  # type: ignore[attr-defined]


def test_set_call_data(flow: Flow) -> None:
    session = at_node(flow)
    actions = session.digit("4")
    assert only(actions, SetCallData) == [
        SetCallData({"category": "outage", "priority": "7", "skill": "outage"})
    ]
    assert actions.index(only(actions, SetCallData)[0]) < actions.index(Step("queue_it", ""))
    assert session.result == "queued"
    assert session.call_data == {"category": "outage", "priority": "7", "skill": "outage"}


def test_enqueue_takes_priority_and_skill_from_call_data_in_the_call_language(
    flow: Flow,
) -> None:
    session = at_node(flow, "3")  # English
    session.play_done()
    actions = session.digit("4")
    assert actions[-1] == Enqueue("repairs", 7, {"repair": 2, "outage": 1}, "en")
    assert actions[-2] == CancelTimer("max_time")


def test_set_language_from_data_keeps_to_the_flow_languages(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        languages: [zh, en]
        start: find
        nodes:
          find: {type: lookup, source: accounts, key: "{call.caller}", store_as: acct, next: lang}
          lang: {type: set, language: "{acct.language}", next: done}
          done: {type: voicemail, box: main}
        """,
    )
    for spoken, expected in (("en", "en"), ("fr", "zh")):
        session = started(flow)
        actions = session.lookup_done(1, {"language": spoken}, None)
        assert actions[-1] == Voicemail("main", expected)


# ------------------------------------------------------------------ ends


@pytest.mark.parametrize(
    ("digit", "action", "result"),
    [
        ("5", Voicemail("general", "zh"), "voicemail"),
        ("6", Transfer("+8610123456"), "transferred"),
        ("7", Hangup("completed"), "self_served"),
    ],
)
def test_terminal_nodes(flow: Flow, digit: str, action: object, result: str) -> None:
    session = at_node(flow)
    actions = session.digit(digit)
    assert actions[-2:] == [CancelTimer("max_time"), action]
    assert session.finished and session.result == result
    assert session.digit("1") == [] and session.play_done() == []


def test_a_terminal_prompt_plays_whole_before_the_end(flow: Flow) -> None:
    session = at_node(flow, "9")
    assert session.path[-1] == "polite_bye" and not session.finished
    actions = [*session.digit("1")]  # not interruptible: ignored
    assert actions == []
    assert session.play_done() == [CancelTimer("max_time"), Hangup("completed")]
    assert session.result == "self_served"


def test_queue_out_of_hours(tmp_path: Path) -> None:
    text = """\
        start: q
        nodes:
          q: {type: queue, queue: billing, hours: office%s}
          sorry: {type: hangup, prompt: {zh: 下班了}}
        """
    closed_all_week = {"office": Schedule(SHANGHAI, {})}
    flow = make_flow(tmp_path, text % ", closed: sorry", schedules=["office"])
    session = started(flow, schedules=closed_all_week)
    assert session.path == ("q", "sorry")
    session.play_done()
    assert session.result == "closed"

    flow = make_flow(tmp_path, text % "", schedules=["office"])
    session = Session(flow, call=CALL, clock=Clock(), schedules=closed_all_week)
    assert session.start()[-1] == Hangup("closed")
    assert session.result == "closed"


def test_caller_left(flow: Flow) -> None:
    session = at_node(flow, "2")
    assert session.caller_left() == "caller_left"
    assert session.finished and session.node == "news"
    assert session.play_done() == [] and session.digit("1") == []

    session = at_node(flow, "7")
    assert session.caller_left() == "self_served"  # it had ended already


# ------------------------------------------------------------------ the agent key


def test_agent_key_from_a_menu_and_a_play(flow: Flow) -> None:
    session = at_node(flow, "0")
    assert session.path == ("main", "agent")
    session = at_node(flow, "2")  # news playing
    actions = session.digit("0")
    assert actions[0] == StopPlay()
    assert steps(actions) == [("agent", "0")]
    assert actions[-1] == Enqueue("billing", 3, {"billing": 1}, "zh")


def test_agent_key_in_a_collect_only_as_its_first_key(flow: Flow) -> None:
    session = at_node(flow, "1", "0")
    assert session.result == "queued"
    session = at_node(flow, "1", "1", "0")
    assert session.node == "ask" and not session.finished


def test_a_menu_choice_for_the_agent_key_wins(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: m
        agent_key: "0"
        agent: {queue: billing}
        nodes:
          m: {type: menu, prompt: {zh: 菜单}, choices: {0: done}}
          done: {type: hangup}
        """,
    )
    assert steps(started(flow).digit("0")) == [("done", "0")]


def test_allow_agent_false(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: m
        agent_key: "0"
        agent: {queue: billing}
        nodes:
          m: {type: menu, prompt: {zh: 菜单}, choices: {1: p}, allow_agent: false}
          p: {type: play, prompt: {zh: 你好}, next: m, allow_agent: false}
        """,
    )
    session = started(flow)
    assert texts(session.digit("0")) == ["菜单"]  # invalid: prompt again
    assert session.node == "m"
    session.digit("1")
    actions = session.digit("0")  # the play takes it as type-ahead for m
    assert steps(actions) == [("m", "")]
    assert session.node == "m" and not session.finished


# ------------------------------------------------------------------ max time


def test_max_time_ends_the_session(flow: Flow) -> None:
    session = started(flow)
    actions = session.timer_fired("max_time")
    assert actions == [StopPlay(), Hangup("max_time")]
    assert session.result == "max_time"


def test_max_time_goes_to_its_node_and_no_further_input(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """\
        start: m
        max_duration_ms: 20
        on_max_time: over
        nodes:
          m: {type: menu, prompt: {zh: 菜单}, choices: {1: m}}
          over: {type: play, prompt: {zh: 时间到}, next: m}
        """,
    )
    session = started(flow)
    session.play_done()
    actions = session.timer_fired("max_time")
    assert actions[:3] == [CancelTimer("input"), Step("over", ""), actions[2]]
    assert texts(actions) == ["时间到"]
    assert session.timer_fired("max_time") == []
    actions = session.play_done()  # back to a menu: the session ends there
    assert actions == [Hangup("max_time")]
    assert session.result == "max_time"


def test_max_time_lets_a_terminal_prompt_finish(flow: Flow) -> None:
    session = at_node(flow, "9")
    assert session.timer_fired("max_time") == []
    assert session.play_done() == [Hangup("completed")]


def test_a_flow_without_max_time_starts_no_timer(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, "start: h\nnodes:\n  h: {type: hangup}\n")
    session = Session(flow, call=CALL, clock=Clock())
    assert session.start() == [Step("h", ""), Hangup("completed")]


def test_start_time_comes_from_the_injected_clock(flow: Flow) -> None:
    clock = Clock(datetime(2026, 1, 1, tzinfo=SHANGHAI))
    session = started(flow, clock)
    assert session.snapshot()["started_at"] == "2026-01-01T00:00:00+08:00"
