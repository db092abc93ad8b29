"""The demo's electricity-bill hotline (config/ivr/hotline.yaml), call by call."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from configuration import PROJECT_ROOT, ScheduleSpec
from ivr import (
    CallFacts,
    Enqueue,
    Flow,
    Hangup,
    Lookup,
    Play,
    Schedule,
    Session,
    SetCallData,
    StartTimer,
    Tts,
    Voicemail,
    load_flow,
)

from .ivr_testkit import SHANGHAI, WEDNESDAY_10, Clock, only, steps, texts

HOTLINE = PROJECT_ROOT / "config" / "ivr" / "hotline.yaml"
OFFICE = ScheduleSpec.model_validate(
    {
        "timezone": "Asia/Shanghai",
        "weekly": {"mon-fri": ["08:30-17:30"], "sat": ["09:00-12:00"]},
        "holidays": ["2026-10-01..2026-10-07"],
    }
)
# The bizdata demo's account.
ACCOUNT = {
    "account_number": "12345674",
    "customer_name": "张三",
    "balance": Decimal("123.45"),
    "due_date": date(2026, 12, 31),
    "status": "active",
    "language": "zh",
}
CALL = CallFacts(caller="13800138000", dialled="95598", category="electricity-billing")


@pytest.fixture(scope="module")
def hotline() -> Flow:
    return load_flow(HOTLINE, schedules={"office"})


def call(flow: Flow, at: datetime = WEDNESDAY_10) -> tuple[Session, list[object]]:
    session = Session(
        flow, call=CALL, clock=Clock(at), schedules={"office": Schedule.from_spec(OFFICE)}
    )
    return session, list(session.start())


def press(session: Session, keys: str) -> list[object]:
    return [a for key in keys for a in session.digit(key)]


def test_the_demo_flow_loads_clean(hotline: Flow) -> None:
    assert hotline.name == "hotline"
    assert hotline.languages == ("zh", "en")
    assert hotline.warnings == ()
    assert hotline.sources == {"accounts"} and hotline.schedules == {"office"}
    assert hotline.agent_key == "0"


def test_the_language_menu_speaks_both_languages(hotline: Flow) -> None:
    _, actions = call(hotline)
    assert actions[0] == StartTimer("max_time", 600_000)
    assert steps(actions) == [("language", "")]  # type: ignore[arg-type]
    assert texts(actions) == ["欢迎致电华安电力。普通话服务请按1。", "For English, press 2."]  # type: ignore[arg-type]


def test_balance_in_mandarin_then_an_agent(hotline: Flow) -> None:
    session, _ = call(hotline)
    press(session, "1")  # 普通话
    actions = press(session, "1")  # balance
    assert texts(actions) == ["请输入您的户号，以井号键结束。"]  # type: ignore[arg-type]
    actions = press(session, "12345674#")
    assert only(actions, Lookup) == [Lookup("accounts", "12345674", 1)]  # type: ignore[arg-type]
    actions = session.lookup_done(1, ACCOUNT, None)
    assert texts(actions) == ["您的余额是<amount:123.45:zh>，缴费截止日期是<date:2026-12-31:zh>。"]
    session.play_done()  # then "1 to repeat, 0 for an agent"
    assert steps(press(session, "1")) == [("say_balance", "1")]  # type: ignore[arg-type]
    session.play_done()
    actions = press(session, "0")
    assert texts(actions) == ["正在为您转接，请稍候。"]  # type: ignore[arg-type]
    actions = session.play_done()
    assert actions[-1] == Enqueue("billing", 1, {"billing": 1}, "zh")
    assert session.result == "queued"
    assert session.path == (
        "language", "mandarin", "main", "ask_account", "find_account",
        "say_balance", "after_balance", "say_balance", "after_balance", "agent",
    )  # fmt: skip


def test_balance_in_english_then_goodbye(hotline: Flow) -> None:
    session, _ = call(hotline)
    press(session, "2")
    press(session, "1")
    press(session, "12345674#")
    actions = session.lookup_done(1, ACCOUNT, None)
    assert only(actions, Play) == [
        Play((Tts("Your balance is <amount:123.45:en>, due on <date:2026-12-31:en>.", "en"),))
    ]
    session.play_done()  # the balance
    session.play_done()  # "To hear it again, press 1. For an agent, press 0."
    actions = session.timer_fired("input")  # no key: goodbye
    assert steps(actions) == [("goodbye", "")]  # type: ignore[arg-type]
    assert texts(actions) == ["Thank you for calling. Goodbye."]  # type: ignore[arg-type]
    assert session.play_done()[-1] == Hangup("self_served")
    assert session.result == "self_served"


def test_no_key_at_the_language_menu_means_mandarin(hotline: Flow) -> None:
    session, _ = call(hotline)
    session.play_done()
    actions = session.timer_fired("input")
    assert steps(actions)[:2] == [("mandarin", ""), ("main", "")]  # type: ignore[arg-type]
    assert session.language == "zh"


def test_a_wrong_account_number_is_asked_again(hotline: Flow) -> None:
    session, _ = call(hotline)
    press(session, "11")
    actions = press(session, "12345675#")  # the check digit is wrong
    assert texts(actions) == ["户号有误，请重新输入。", "请输入您的户号，以井号键结束。"]  # type: ignore[arg-type]
    press(session, "87654323#")  # passes Luhn, not in the store
    actions = session.lookup_done(1, None, None)
    assert steps(actions) == [("unknown_account", "")]  # type: ignore[arg-type]
    assert steps(session.play_done()) == [("ask_account", "")]  # type: ignore[arg-type]


def test_outage_reports_queue_in_hours_and_leave_voicemail_out_of_hours(hotline: Flow) -> None:
    session, _ = call(hotline)
    actions = press(session, "22")  # English, outage
    assert SetCallData({"category": "outage-report", "priority": "5"}) in actions
    assert session.play_done()[-1] == Enqueue("billing", 5, {"billing": 1}, "en")
    assert session.result == "queued"

    evening = WEDNESDAY_10 + timedelta(hours=10)
    session, _ = call(hotline, evening)
    press(session, "12")
    assert session.path[-2:] == ("outage", "outage_voicemail")
    assert session.play_done()[-1] == Voicemail("outage", "zh")
    assert session.result == "voicemail"


def test_the_agent_out_of_hours_hears_the_closed_announcement(hotline: Flow) -> None:
    golden_week = datetime(2026, 10, 2, 10, 0, tzinfo=SHANGHAI)
    session, _ = call(hotline, golden_week)
    press(session, "2")
    actions = press(session, "0")
    assert steps(actions) == [("agent", "0"), ("closed", "")]  # type: ignore[arg-type]
    assert session.play_done()[-1] == Hangup("closed")
    assert session.result == "closed"


def test_max_time(hotline: Flow) -> None:
    session, _ = call(hotline)
    actions = session.timer_fired("max_time")
    assert steps(actions) == [("too_long", "")]  # type: ignore[arg-type]
    assert session.play_done()[-1] == Hangup("max_time")
    assert session.result == "max_time"


def test_the_hotline_file_is_where_the_docs_say(hotline: Flow) -> None:
    assert Path(hotline.path) == HOTLINE


def test_the_account_entered_is_the_key_of_the_lookup_that_found_it(hotline: Flow) -> None:
    """`entered_account` (the ACD's call_data["account"]): a key the source did not find
    is no account; the one it found is, and a takeover keeps it."""
    session, _ = call(hotline)
    press(session, "11")
    assert session.entered_account is None
    press(session, "87654323#")
    session.lookup_done(1, None, None)  # not in the store
    assert session.entered_account is None
    session.play_done()
    press(session, "12345674#")
    session.lookup_done(2, ACCOUNT, None)
    assert session.entered_account == "12345674"
    restored = Session.restore(
        hotline, session.snapshot(), clock=Clock(WEDNESDAY_10),
        schedules={"office": Schedule.from_spec(OFFICE)},
    )  # fmt: skip
    assert restored.entered_account == "12345674"


def test_a_failed_lookup_still_gives_the_account_to_the_agent(hotline: Flow) -> None:
    session, _ = call(hotline)
    press(session, "11")
    press(session, "12345674#")
    actions = session.lookup_done(1, None, "the source is down")
    assert steps(actions) == [("lookup_failed", "")]  # type: ignore[arg-type]
    assert session.entered_account == "12345674"
