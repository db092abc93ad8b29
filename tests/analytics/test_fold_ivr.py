"""What a caller did in the IVR, folded into the CDR (docs/analytics.md, "Records"):
`ivr_path` from call.ivr_step, `ivr_result` and `ivr_exit_node` from call.ivr_done, or
inferred when the IVR never said how it let go; and the callers' inputs nowhere."""

from __future__ import annotations

import dataclasses

import eventlog as ev
from analytics import CdrBuilder, build_records
from analytics._records import Cdr, Leg
from eventlog import Event
from tests.analytics.analytics_scenarios import Script

# What a caller keyed in: an account number at a plain collect node, and what the
# interpreter writes for a sensitive one (docs/events.md).
ACCOUNT = "7304918265"
PIN = "<sensitive>"


def fold(events: list[Event]) -> tuple[Cdr, list[Leg]]:
    records = build_records(events)
    (cdr,) = records.cdrs
    return cdr, sorted(records.legs, key=lambda leg: leg.seq)


def menu_then_account(cid: str) -> Script:
    """Arrived, the language menu ("1"), the account number, the PIN (sensitive)."""
    return Script(cid)(0, ev.CALL_ARRIVED)(0.5, ev.CALL_IVR_STEP, ivr_node="lang", input="")(
        2, ev.CALL_IVR_STEP, ivr_node="account", input="1"
    )(9, ev.CALL_IVR_STEP, ivr_node="pin", input=ACCOUNT)(
        14, ev.CALL_IVR_STEP, ivr_node="balance", input=PIN
    )


def ivr(cdr: Cdr) -> tuple[tuple[str, ...], str, str, str]:
    return cdr.ivr_path, cdr.ivr_result, cdr.ivr_exit_node, cdr.disposition


def test_self_served_caller_hangs_up_after_the_balance() -> None:
    cdr, legs = fold(
        menu_then_account("s")(20, ev.CALL_IVR_DONE, ivr_node="balance", result="self_served")(
            21, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert ivr(cdr) == (
        ("lang", "account", "pin", "balance"),
        "self_served",
        "balance",
        "abandoned_ivr",
    )
    assert (cdr.queue, cdr.queued_at, cdr.wait_s) == ("", None, 0.0)
    assert legs == []


def test_self_served_and_the_flow_hangs_up_is_no_failure() -> None:
    # A hangup node: the controller ends the call from its side. The call ended in the
    # IVR as the flow says (disposition rule 6), not in a failure.
    for result in ("self_served", "closed", "max_time", "retries_exhausted"):
        cdr, _ = fold(
            menu_then_account("h")(20, ev.CALL_IVR_DONE, ivr_node="balance", result=result)(
                20.5, ev.CALL_ENDED, cause="200", side="system"
            ).events
        )
        assert ivr(cdr)[1:] == (result, "balance", "abandoned_ivr"), result
    cdr, _ = fold(
        menu_then_account("e")(20, ev.CALL_IVR_DONE, ivr_node="balance", result="error")(
            20.5, ev.CALL_ENDED, cause="500", side="system"
        ).events
    )
    assert ivr(cdr)[1:] == ("error", "balance", "failed")


def test_queued_after_the_ivr_and_answered() -> None:
    cdr, legs = fold(
        menu_then_account("q")(16, ev.CALL_IVR_STEP, ivr_node="agent", input="0")(
            16.5, ev.CALL_IVR_DONE, ivr_node="agent", result="queued"
        )(17, ev.CALL_QUEUED)(18, ev.CALL_RINGING)(21, ev.CALL_ANSWERED)(
            81, ev.CALL_ENDED, cause="200", side="agent"
        ).events
    )
    assert ivr(cdr) == (
        ("lang", "account", "pin", "balance", "agent"),
        "queued",
        "agent",
        "answered",
    )
    # The queue's figures start at the queue, not at the IVR.
    assert (cdr.queue, cdr.wait_s, cdr.talk_s) == ("billing", 4.0, 60.0)
    assert [(leg.agent, leg.outcome) for leg in legs] == [("a1", "answered")]


def test_caller_left_mid_ivr_without_ivr_done() -> None:
    # The controller died (or the log lost the event): the caller's hang-up in the IVR
    # is caller_left at the last node the path reached.
    cdr, _ = fold(menu_then_account("x")(15, ev.CALL_ENDED, cause="200", side="caller").events)
    assert ivr(cdr) == (
        ("lang", "account", "pin", "balance"),
        "caller_left",
        "balance",
        "abandoned_ivr",
    )


def test_caller_left_as_the_ivr_reports_it() -> None:
    cdr, _ = fold(
        Script("c")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="lang")(
            3, ev.CALL_IVR_STEP, ivr_node="account", input="2"
        )(7, ev.CALL_IVR_DONE, ivr_node="account", result="caller_left")(
            7, ev.CALL_ENDED, cause="200", side="caller"
        ).events
    )
    assert ivr(cdr) == (("lang", "account"), "caller_left", "account", "abandoned_ivr")


def test_without_ivr_done_the_result_follows_what_happened_after_the_ivr() -> None:
    def inferred(script: Script) -> tuple[str, str, str]:
        return ivr(fold(script.events)[0])[1:]

    steps = Script("n")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="lang")(
        2, ev.CALL_IVR_STEP, ivr_node="agent", input="0"
    )
    assert inferred(steps(3, ev.CALL_QUEUED)(30, ev.CALL_ENDED, side="caller")) == (
        "queued",
        "agent",
        "abandoned_queue",
    )
    steps = Script("v")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="closed")
    assert inferred(steps(2, ev.CALL_VOICEMAIL)(40, ev.CALL_ENDED, side="caller")) == (
        "voicemail",
        "closed",
        "voicemail",
    )
    steps = Script("d")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="lang")
    assert inferred(steps(5, ev.CALL_ENDED, cause="500", side="system")) == (
        "error",
        "lang",
        "failed",
    )


def test_a_call_without_ivr_has_empty_ivr_columns() -> None:
    cdr, _ = fold(
        Script("p")(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(9, ev.CALL_ENDED, side="caller").events
    )
    assert ivr(cdr) == ((), "", "", "abandoned_queue")


def test_a_late_ivr_done_re_emits_the_cdr_with_it() -> None:
    events = menu_then_account("late")(15, ev.CALL_ENDED, cause="200", side="caller").events
    builder = CdrBuilder()
    builder.add_many(events)
    (first,) = builder.drain().cdrs
    assert (first.ivr_result, first.version) == ("caller_left", 6)
    # The IVR's event reached the log after call.ended (a slow replica): the CDR is
    # emitted again, with what the IVR said and a higher version.
    builder.add(
        Event.new(
            ev.CALL_IVR_DONE,
            correlation_id="late",
            ts=events[-2].ts + 0.5,
            node="ctl",
            ivr_node="pin",
            result="retries_exhausted",
        )
    )
    (again,) = builder.drain().cdrs
    assert (again.ivr_result, again.ivr_exit_node, again.version) == (
        "retries_exhausted",
        "pin",
        7,
    )


def _texts(value: object) -> list[str]:
    if isinstance(value, tuple):
        return [text for item in value for text in _texts(item)]
    return [str(value)]


def test_ivr_inputs_appear_in_no_cdr_or_leg_column() -> None:
    # A caller who keys an account number and a PIN, then "0" for an agent who answers
    # and transfers: the CDR and every leg hold each node, and none of the digits.
    cdr, legs = fold(
        menu_then_account("secret")(16, ev.CALL_IVR_STEP, ivr_node="agent", input="0")(
            16.5, ev.CALL_IVR_DONE, ivr_node="agent", result="queued"
        )(17, ev.CALL_QUEUED)(18, ev.CALL_RINGING)(21, ev.CALL_ANSWERED)(
            40, ev.CALL_TRANSFERRED, from_agent="a1", to_kind="queue", to="billing", mode="blind"
        )(81, ev.CALL_ENDED, cause="200", side="agent").events
    )
    assert len(legs) == 2
    records: list[Cdr | Leg] = [cdr, *legs]
    for record in records:
        for field in dataclasses.fields(record):
            for text in _texts(getattr(record, field.name)):
                assert ACCOUNT not in text, (type(record).__name__, field.name, text)
                assert PIN not in text, (type(record).__name__, field.name, text)
    assert cdr.ivr_path == ("lang", "account", "pin", "balance", "agent")
