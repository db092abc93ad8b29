"""The wrap-up code (agent.wrap_up, written by the agent desktop) in the CDR: the last
code saved wins, a code saved after the call ended re-emits its CDR with a higher
version, and a consult or intercept reservation's ID finds its call."""

from __future__ import annotations

import pytest

import eventlog as ev
from analytics import CdrBuilder, build_records
from eventlog import EventError, call_of_acd_call, decode, encode, wrap_up_event
from tests.analytics.analytics_scenarios import T0, Script


def answered(cid: str = "c-wrap") -> list[ev.Event]:
    return (
        Script(cid)(0, ev.CALL_ARRIVED)(2, ev.CALL_QUEUED)(3, ev.CALL_RINGING)(5, ev.CALL_ANSWERED)(
            65, ev.CALL_ENDED, cause="200", side="agent"
        )
    ).events


def test_a_call_without_a_wrap_up_has_no_code() -> None:
    (cdr,) = build_records(answered()).cdrs
    assert cdr.wrap_up_code == ""


def test_the_last_code_saved_wins_and_a_late_one_re_emits_the_cdr() -> None:
    builder = CdrBuilder()
    for event in answered():
        builder.add(event)
    (first,) = builder.drain().cdrs
    builder.add(wrap_up_event("c-wrap", agent="a1", code="follow_up", node="d1", ts=T0 + 70))
    builder.add(wrap_up_event("c-wrap", agent="a1", code="resolved", node="d1", ts=T0 + 80))
    (again,) = builder.drain().cdrs
    assert again.wrap_up_code == "resolved" and again.version > first.version
    assert again.talk_s == first.talk_s and again.agent == "a1"


def test_a_code_saved_during_the_call_is_kept_and_order_is_by_time() -> None:
    late = wrap_up_event("c-wrap", agent="a1", code="complaint", node="d1", ts=T0 + 90)
    early = wrap_up_event("c-wrap", agent="a1", code="resolved", node="d1", ts=T0 + 30)
    (cdr,) = build_records([*answered(), late, early]).cdrs  # arrival order differs
    assert cdr.wrap_up_code == "complaint"


def test_the_event_round_trips_and_names_the_call_of_a_reservation() -> None:
    event = wrap_up_event("c-wrap.consult1", agent="a2", code="resolved", node="d1")
    assert (event.kind, event.correlation_id) == (ev.AGENT_WRAP_UP, "c-wrap")
    assert dict(event.data) == {"call_id": "c-wrap.consult1", "agent": "a2", "code": "resolved"}
    assert decode(encode(event), entry_id="1-0") == event
    assert call_of_acd_call("c-wrap.intercept12") == "c-wrap"
    assert call_of_acd_call("7d1c.consultant") == "7d1c.consultant"
    (cdr,) = build_records([*answered(), event]).cdrs
    assert cdr.wrap_up_code == "resolved"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"call_id": "", "agent": "a1", "code": "x"}, "call_id must not be empty"),
        ({"call_id": "c", "agent": " ", "code": "x"}, "agent must not be empty"),
        ({"call_id": "c", "agent": "a1", "code": "x" * 65}, "at most 64"),
    ],
)
def test_a_bad_wrap_up_is_refused(args: dict[str, str], says: str) -> None:
    call_id = args.pop("call_id")
    with pytest.raises(EventError, match=says):
        wrap_up_event(call_id, node="d1", **args)
