"""Recording and voicemail in the CDR (schema 008): recording_ref is the call's recording
rather than a voicemail's, recording_pauses counts the pauses, voicemail_box names the
box a message was left in, message_played marks a message played before the hang-up;
the kinds no column reads are accepted and neither re-emit a CDR nor open a call."""

from __future__ import annotations

import eventlog as ev
from analytics import CdrBuilder, build_records
from analytics._records import Cdr
from eventlog import decode, encode
from tests.analytics.analytics_scenarios import Script

CALL_REF = "c" * 32
VOICEMAIL_REF = "f" * 32


def answered(cid: str = "c-rec") -> Script:
    return Script(cid)(0, ev.CALL_ARRIVED)(2, ev.CALL_QUEUED)(3, ev.CALL_RINGING)(
        5, ev.CALL_ANSWERED
    )


def one_cdr(script: Script) -> Cdr:
    # Every event as the event log would carry it: encoded and decoded, fields checked.
    events = [decode(encode(e), entry_id=f"{i + 1}-0") for i, e in enumerate(script.events)]
    (cdr,) = build_records(events).cdrs
    return cdr


def test_a_call_without_recording_or_voicemail_has_empty_columns() -> None:
    cdr = one_cdr(answered()(65, ev.CALL_ENDED))
    assert (cdr.recording_ref, cdr.recording_pauses, cdr.voicemail_box, cdr.message_played) == (
        "",
        0,
        "",
        0,
    )


def test_the_recording_its_pauses_and_the_events_after_it() -> None:
    script = answered()(6, ev.RECORDING_STARTED, ref=CALL_REF, reason="on_demand", name="a1")(
        10, ev.RECORDING_PAUSED, ref=CALL_REF, reason="sensitive"
    )(15, ev.RECORDING_RESUMED, ref=CALL_REF)(
        20, ev.RECORDING_PAUSED, ref=CALL_REF, reason="agent"
    )(22, ev.RECORDING_RESUMED, ref=CALL_REF)(
        30, ev.RECORDING_STARTED, ref="d" * 32, reason="on_demand", name="a1"
    )(60, ev.RECORDING_STOPPED, ref=CALL_REF, segments=3)(
        65, ev.CALL_ENDED, cause="200", side="agent"
    )(70, ev.RECORDING_STORED, ref=CALL_REF, file=f"2023/11/15/{CALL_REF}.wav")
    cdr = one_cdr(script)
    assert (cdr.recording_ref, cdr.recording_pauses) == (CALL_REF, 2)  # the first one
    assert (cdr.voicemail_box, cdr.message_played, cdr.disposition) == ("", 0, "answered")
    # resumed, stopped and stored are accepted and change nothing, not even the version.
    unread = (ev.RECORDING_RESUMED, ev.RECORDING_STOPPED, ev.RECORDING_STORED)
    (same,) = build_records([e for e in script.events if e.kind not in unread]).cdrs
    assert same == cdr


def test_a_failed_recording_is_still_the_calls_recording() -> None:
    cdr = one_cdr(
        answered()(6, ev.RECORDING_STARTED, ref=CALL_REF)(65, ev.CALL_ENDED)(
            90, ev.RECORDING_FAILED, ref=CALL_REF, reason="missing", detail="1 of 2"
        )
    )
    assert cdr.recording_ref == CALL_REF


def test_a_voicemail_names_its_box_and_its_recording_when_there_is_no_other() -> None:
    script = Script("c-vm")(0, ev.CALL_ARRIVED)(2, ev.CALL_QUEUED, queue="sales")(
        20, ev.CALL_VOICEMAIL
    )(
        21,
        ev.RECORDING_STARTED,
        ref=VOICEMAIL_REF,
        reason="voicemail",
        name="sales",
        agent="",
    )(40, ev.RECORDING_STOPPED, ref=VOICEMAIL_REF)(40, ev.CALL_ENDED)
    cdr = one_cdr(script)
    assert (cdr.recording_ref, cdr.voicemail_box, cdr.disposition) == (
        VOICEMAIL_REF,
        "sales",
        "voicemail",
    )
    # The recorder stores the message after the hang-up: its box stands.
    left = one_cdr(script(45, ev.VOICEMAIL_LEFT, box="sales.after", ref=VOICEMAIL_REF))
    assert left.voicemail_box == "sales.after"


def test_voicemail_left_alone_names_the_box() -> None:
    cdr = one_cdr(Script("c-left")(0, ev.CALL_ARRIVED)(40, ev.CALL_ENDED)(41, ev.VOICEMAIL_LEFT))
    assert cdr.voicemail_box == "billing"


def test_a_call_recording_beats_a_voicemail_recording() -> None:
    # An agent recorded the call, then sent the caller to another agent's voicemail.
    cdr = one_cdr(
        answered()(4, ev.RECORDING_STARTED, ref=VOICEMAIL_REF, reason="voicemail", name="agent.a2")(
            6, ev.RECORDING_STARTED, ref=CALL_REF, reason="always"
        )(65, ev.CALL_ENDED)
    )
    assert (cdr.recording_ref, cdr.voicemail_box) == (CALL_REF, "agent.a2")


def test_a_message_played_before_the_hang_up() -> None:
    cdr = one_cdr(
        answered()(30, ev.CALL_MESSAGE_PLAYED, agent="a1", repeats=2)(
            36, ev.CALL_ENDED, cause="message_played", side="system"
        )
    )
    assert (cdr.message_played, cdr.hangup_cause, cdr.hangup_side) == (
        1,
        "message_played",
        "system",
    )


def test_later_voicemail_events_neither_re_emit_nor_open_a_call() -> None:
    builder = CdrBuilder()
    for event in answered("c-late")(65, ev.CALL_ENDED).events:
        builder.add(event)
    (first,) = builder.drain().cdrs
    # Days later, under the message's call: heard and deleted; the recorder's reports.
    for kind in (
        ev.VOICEMAIL_HEARD,
        ev.VOICEMAIL_DELETED,
        ev.RECORDING_STORED,
        ev.RECORDING_FAILED,
    ):
        builder.add(Script("c-late")(86_400, kind).events[0])
    assert builder.drain().cdrs == []
    # A late voicemail.left re-emits the call it belongs to...
    builder.add(Script("c-late")(70, ev.VOICEMAIL_LEFT, box="b1").events[0])
    (again,) = builder.drain().cdrs
    assert again.voicemail_box == "b1" and again.version > first.version
    # ...and opens no call for one the builder does not know (forgotten, or none).
    builder.add(Script("c-forgotten")(70, ev.VOICEMAIL_LEFT).events[0], "99-0")
    builder.add(Script("")(70, ev.RECORDING_FAILED, ref="", reason="disk_full").events[0])
    assert builder.open_calls == 0 and builder.low_water_mark() is None
