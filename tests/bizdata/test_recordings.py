"""The recording and voicemail index on SQLite and on PostgreSQL: a recording's life
from started to stored or failed, re-delivered events, the refusals, search, legal
hold and retention, the access log, voicemail messages and their counts.

One store per backend for the module; each test makes its own refs, boxes and numbers,
so the tests do not see each other's rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

import bizdata
from bizdata import InUse, InvalidField, InvalidTransition, NotFound
from bizdata._migrate import _config
from testbed import create_database

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('recordings') / 'store.sqlite'}"
    else:
        url = create_database(request.getfixturevalue("postgres_url"), "recordings")
    bizdata.migrate(url)
    engine = bizdata.open_engine(url)
    yield engine
    engine.dispose()


def hex_id() -> str:
    return uuid.uuid4().hex


def unique_number() -> str:
    return "19" + str(uuid.uuid4().int)[:9]


def start(store: Engine, at: datetime = T0, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ref": hex_id(),
        "call_id": f"call-{hex_id()[:12]}",
        "name": "agent1",
        "reason": "on_demand",
        "media_node": "127.0.0.1:22222",
        "caller": unique_number(),
        "agent": "agent1",
        "queue": "billing",
        "number": "95598",
        "started_at": at,
    }
    return bizdata.recording_started(store, **(values | fields))


def stored(store: Engine, at: datetime = T0, seconds: int = 60, **fields: Any) -> dict[str, Any]:
    row = start(store, at, **fields)
    bizdata.recording_stopped(store, row["ref"], at=at + timedelta(seconds=seconds), segments=1)
    return bizdata.recording_stored(
        store, row["ref"], file=f"2026/12/07/{row['ref']}.wav", duration_ms=seconds * 1000
    )


def test_a_recordings_life_from_start_to_stored(store: Engine) -> None:
    row = start(store)
    assert row["status"] == "recording"
    assert row["started_at"] == "2026-12-07T09:00:00+00:00"
    assert (row["pauses"], row["legal_hold"], row["ended_at"]) == ([], False, None)
    ref = row["ref"]

    paused = bizdata.recording_paused(
        store, ref, at=T0 + timedelta(seconds=10, milliseconds=250), reason="sensitive"
    )
    assert paused["pauses"] == [{"start_ms": 10250, "end_ms": None, "reason": "sensitive"}]
    resumed = bizdata.recording_resumed(store, ref, at=T0 + timedelta(seconds=20))
    assert resumed["pauses"] == [{"start_ms": 10250, "end_ms": 20000, "reason": "sensitive"}]
    bizdata.recording_paused(store, ref, at=T0 + timedelta(seconds=30), reason="agent")
    bizdata.recording_resumed(store, ref, at=T0 + timedelta(seconds=31))

    stopped = bizdata.recording_stopped(
        store, ref, at=T0 + timedelta(seconds=95, milliseconds=500), segments=3
    )
    assert stopped["status"] == "stopped"
    assert stopped["ended_at"] == "2026-12-07T09:01:35.500000+00:00"
    assert (stopped["duration_ms"], stopped["segments"]) == (95500, 3)
    assert ref in [r["ref"] for r in bizdata.recordings_stopped(store)]

    done = bizdata.recording_stored(store, ref, file=f"2026/12/07/{ref}.wav", duration_ms=95500)
    assert (done["status"], done["file"], done["duration_ms"]) == (
        "stored",
        f"2026/12/07/{ref}.wav",
        95500,
    )
    assert ref not in [r["ref"] for r in bizdata.recordings_stopped(store)]
    assert bizdata.get_recording(store, ref) == done
    assert len(done["pauses"]) == 2


def test_a_redelivered_event_changes_nothing(store: Engine) -> None:
    row = start(store)
    again = start(store, ref=row["ref"], caller="999", at=T0 + timedelta(hours=1))
    assert again == row
    ref = row["ref"]
    pause_at = T0 + timedelta(seconds=5)
    once = bizdata.recording_paused(store, ref, at=pause_at, reason="agent")
    assert bizdata.recording_paused(store, ref, at=pause_at, reason="agent") == once
    resumed = bizdata.recording_resumed(store, ref, at=T0 + timedelta(seconds=6))
    assert bizdata.recording_resumed(store, ref, at=T0 + timedelta(seconds=6)) == resumed
    stop_at = T0 + timedelta(seconds=9)
    stopped = bizdata.recording_stopped(store, ref, at=stop_at, segments=2)
    assert bizdata.recording_stopped(store, ref, at=stop_at, segments=2) == stopped
    done = bizdata.recording_stored(store, ref, file="a.wav", duration_ms=9000)
    assert bizdata.recording_stored(store, ref, file="a.wav", duration_ms=9000) == done


def test_the_moves_out_of_order_are_refused(store: Engine) -> None:
    row = stored(store)
    ref = row["ref"]
    with pytest.raises(InvalidTransition, match="stored"):
        bizdata.recording_stopped(store, ref, at=T0 + timedelta(minutes=5), segments=1)
    with pytest.raises(InvalidTransition):
        bizdata.recording_paused(store, ref, at=T0 + timedelta(minutes=5), reason="agent")
    with pytest.raises(InvalidTransition):
        bizdata.recording_failed(store, ref, reason="convert", detail="late")
    with pytest.raises(InvalidTransition):
        bizdata.recording_stored(store, ref, file="other.wav", duration_ms=1)

    running = start(store)["ref"]
    with pytest.raises(InvalidTransition, match="not paused"):
        bizdata.recording_resumed(store, running, at=T0 + timedelta(seconds=1))
    with pytest.raises(InvalidTransition, match="recording"):
        bizdata.recording_stored(store, running, file="x.wav", duration_ms=1)
    bizdata.recording_paused(store, running, at=T0 + timedelta(seconds=1), reason="agent")
    with pytest.raises(InvalidTransition, match="already paused"):
        bizdata.recording_paused(store, running, at=T0 + timedelta(seconds=2), reason="agent")


def test_a_stop_while_paused_ends_the_pause(store: Engine) -> None:
    ref = start(store)["ref"]
    bizdata.recording_paused(store, ref, at=T0 + timedelta(seconds=4), reason="sensitive")
    stopped = bizdata.recording_stopped(store, ref, at=T0 + timedelta(seconds=10), segments=1)
    assert stopped["pauses"] == [{"start_ms": 4000, "end_ms": 10000, "reason": "sensitive"}]


def test_failures_keep_their_reason_and_a_short_wav(store: Engine) -> None:
    missing = start(store)["ref"]
    bizdata.recording_stopped(store, missing, at=T0 + timedelta(seconds=30), segments=2)
    failed = bizdata.recording_failed(
        store, missing, reason="missing", detail="1 of 2 segments after 30000 ms"
    )
    assert (failed["status"], failed["failure"], failed["file"]) == ("failed", "missing", None)
    assert failed["failure_detail"] == "1 of 2 segments after 30000 ms"
    assert bizdata.recording_failed(store, missing, reason="missing", detail="again") == failed

    short = start(store)["ref"]
    bizdata.recording_stopped(store, short, at=T0 + timedelta(seconds=30), segments=1)
    cut = bizdata.recording_failed(
        store, short, reason="short", detail="4.2 s early", file="s.wav", duration_ms=30000
    )
    assert (cut["status"], cut["file"], cut["duration_ms"]) == ("failed", "s.wav", 30000)

    never_stopped = start(store)["ref"]
    failed_early = bizdata.recording_failed(store, never_stopped, reason="rtpengine", detail="")
    assert (failed_early["status"], failed_early["failure_detail"]) == ("failed", None)


def test_bad_values_are_refused_with_the_field(store: Engine) -> None:
    def refused(field: str, call: Any, *args: Any, **kwargs: Any) -> None:
        with pytest.raises(InvalidField) as caught:
            call(store, *args, **kwargs)
        assert caught.value.field == field

    refused("ref", start, ref="not-hex")
    refused("ref", start, ref=hex_id().upper())
    refused("reason", start, reason="sometimes")
    refused("started_at", start, at=datetime(2026, 12, 7, 9, 0))  # naive: which zone?
    refused("call_id", start, call_id="")
    refused("caller", start, caller="9" * 65)
    ref = start(store)["ref"]
    refused("reason", bizdata.recording_paused, ref, at=T0, reason="lunch")
    refused("at", bizdata.recording_paused, ref, at=T0 - timedelta(seconds=1), reason="agent")
    refused("segments", bizdata.recording_stopped, ref, at=T0, segments=-1)
    refused("segments", bizdata.recording_stopped, ref, at=T0, segments=True)
    bizdata.recording_stopped(store, ref, at=T0 + timedelta(seconds=1), segments=1)
    refused("file", bizdata.recording_stored, ref, file="/var/rec/a.wav", duration_ms=1)
    refused("file", bizdata.recording_stored, ref, file="../a.wav", duration_ms=1)
    refused("file", bizdata.recording_stored, ref, file="", duration_ms=1)
    refused("duration_ms", bizdata.recording_stored, ref, file="a.wav", duration_ms=-5)
    refused("action", bizdata.log_recording_access, ref, actor="sup1", action="copy")
    refused("actor", bizdata.log_recording_access, ref, actor="", action="play")
    refused("limit", bizdata.search_recordings, limit=0)
    refused("since", bizdata.search_recordings, since=datetime(2026, 1, 1))
    refused("hold", bizdata.set_legal_hold, ref, hold="yes", by="sup1")
    refused("before", bizdata.expired_recordings, before=datetime(2026, 1, 1))


def test_unknown_refs_are_not_found(store: Engine) -> None:
    ref = hex_id()
    for call, kwargs in (
        (bizdata.get_recording, {}),
        (bizdata.recording_paused, {"at": T0, "reason": "agent"}),
        (bizdata.recording_resumed, {"at": T0}),
        (bizdata.recording_stopped, {"at": T0, "segments": 1}),
        (bizdata.recording_stored, {"file": "a.wav", "duration_ms": 1}),
        (bizdata.recording_failed, {"reason": "missing", "detail": ""}),
        (bizdata.set_legal_hold, {"hold": True, "by": "sup1"}),
        (bizdata.delete_recording, {}),
    ):
        with pytest.raises(NotFound, match=ref):
            call(store, ref, **kwargs)


def test_search_combines_its_filters_newest_first(store: Engine) -> None:
    caller, dialled = unique_number(), unique_number()
    agent = f"a{hex_id()[:8]}"
    day = datetime(2026, 11, 1, tzinfo=UTC)
    first = start(store, at=day, caller=caller, agent=agent)
    second = start(store, at=day + timedelta(hours=1), number=dialled, agent=agent)
    third = start(store, at=day + timedelta(hours=2), caller=caller, agent="someone_else")

    def refs(**criteria: Any) -> list[str]:
        return [r["ref"] for r in bizdata.search_recordings(store, **criteria)]

    assert refs(agent=agent) == [second["ref"], first["ref"]]
    assert refs(number=caller) == [third["ref"], first["ref"]]
    assert refs(number=dialled) == [second["ref"]]
    assert refs(number=caller, agent=agent) == [first["ref"]]
    assert refs(call_id=third["call_id"]) == [third["ref"]]
    assert refs(agent=agent, since=day + timedelta(minutes=30)) == [second["ref"]]
    assert refs(agent=agent, until=day + timedelta(hours=1)) == [first["ref"]]
    assert refs(number=caller, limit=1) == [third["ref"]]
    assert refs(agent=f"nobody{hex_id()}"[:64]) == []
    assert len(bizdata.search_recordings(store, limit=10**6)) <= 1000


def test_legal_hold_keeps_a_recording_from_expiry_and_deletion(store: Engine) -> None:
    # Long ago, so no other test's recordings are this old.
    old = datetime(2020, 1, 1, tzinfo=UTC)
    held = stored(store, at=old)["ref"]
    expiring = stored(store, at=old + timedelta(minutes=1))["ref"]
    failed = start(store, at=old + timedelta(minutes=2, seconds=30))["ref"]
    bizdata.recording_failed(store, failed, reason="rtpengine", detail="no pcap")
    still_running = start(store, at=old + timedelta(minutes=3))["ref"]
    stopped_only = start(store, at=old + timedelta(minutes=4))["ref"]
    bizdata.recording_stopped(store, stopped_only, at=old + timedelta(minutes=5), segments=1)
    recent = stored(store, at=datetime(2026, 12, 1, tzinfo=UTC))["ref"]

    on_hold = bizdata.set_legal_hold(store, held, hold=True, by="sup1")
    assert (on_hold["legal_hold"], on_hold["legal_hold_by"]) == (True, "sup1")

    before = datetime(2021, 1, 1, tzinfo=UTC)
    expired = [r["ref"] for r in bizdata.expired_recordings(store, before=before)]
    assert expired == [expiring, failed]
    assert not {held, still_running, stopped_only, recent} & set(expired)

    with pytest.raises(InUse, match="legal hold"):
        bizdata.delete_recording(store, held)
    released = bizdata.set_legal_hold(store, held, hold=False, by="sup2")
    assert (released["legal_hold"], released["legal_hold_by"]) == (False, None)
    assert held in [r["ref"] for r in bizdata.expired_recordings(store, before=before)]

    log = bizdata.recording_access_log(store, ref=held)
    assert [(e["actor"], e["action"]) for e in log] == [("sup2", "release"), ("sup1", "hold")]

    gone = bizdata.delete_recording(store, expiring)
    assert (gone["ref"], gone["status"]) == (expiring, "stored")
    with pytest.raises(NotFound):
        bizdata.get_recording(store, expiring)


def test_the_access_log_outlives_the_recording(store: Engine) -> None:
    ref = stored(store)["ref"]
    bizdata.log_recording_access(store, ref, actor="sup1", action="play")
    bizdata.log_recording_access(store, ref, actor="sup1", action="download")
    bizdata.delete_recording(store, ref)
    bizdata.log_recording_access(store, ref, actor="retention", action="delete")
    log = bizdata.recording_access_log(store, ref=ref)
    assert [(e["actor"], e["action"]) for e in log] == [
        ("retention", "delete"),
        ("sup1", "download"),
        ("sup1", "play"),
    ]
    assert log[0]["at"].endswith("+00:00") and log[0]["ref"] == ref
    assert len(bizdata.recording_access_log(store, ref=ref, limit=1)) == 1
    assert log[0] in bizdata.recording_access_log(store)


def leave(store: Engine, in_box: str, at: datetime = T0, **fields: Any) -> dict[str, Any]:
    message_id = hex_id()
    values: dict[str, Any] = {
        "message_id": message_id,
        "box": in_box,
        "caller": unique_number(),
        "call_id": f"call-{hex_id()[:12]}",
        "recording_ref": hex_id(),
        "received_at": at,
        "duration_ms": 4200,
        "file": f"{in_box}/{message_id}.wav",
    }
    return bizdata.add_voicemail(store, **(values | fields))


def test_voicemail_messages_listed_counted_heard_and_deleted(store: Engine) -> None:
    sales, support = f"sales{hex_id()[:6]}", f"support{hex_id()[:6]}"
    first = leave(store, sales)
    second = leave(store, sales, at=T0 + timedelta(minutes=1))
    other = leave(store, support)
    assert first["heard"] is False and first["received_at"] == "2026-12-07T09:00:00+00:00"
    assert bizdata.add_voicemail(store, **_add_args(first)) == first  # the recorder's retry

    assert bizdata.count_voicemail(store, sales) == {"new": 2, "heard": 0}
    ids = [m["message_id"] for m in bizdata.list_voicemail(store, boxes=[sales])]
    assert ids == [second["message_id"], first["message_id"]]

    heard = bizdata.mark_voicemail_heard(store, first["message_id"], by="agent1")
    assert (heard["heard"], heard["heard_by"]) == (True, "agent1")
    assert heard["heard_at"] is not None
    again = bizdata.mark_voicemail_heard(store, first["message_id"], by="agent2")
    assert again == heard  # the first listener stays
    assert bizdata.count_voicemail(store, sales) == {"new": 1, "heard": 1}
    assert [m["message_id"] for m in bizdata.list_voicemail(store, boxes=[sales])] == [
        second["message_id"]
    ]
    with_heard = bizdata.list_voicemail(store, boxes=[sales], include_heard=True)
    assert len(with_heard) == 2

    both = {m["message_id"] for m in bizdata.list_voicemail(store, boxes=[sales, support])}
    assert both == {second["message_id"], other["message_id"]}
    everything = {m["message_id"] for m in bizdata.list_voicemail(store, include_heard=True)}
    assert {first["message_id"], second["message_id"], other["message_id"]} <= everything
    assert bizdata.list_voicemail(store, boxes=[]) == []

    assert bizdata.get_voicemail(store, other["message_id"]) == other
    assert bizdata.delete_voicemail(store, other["message_id"]) == other
    assert bizdata.count_voicemail(store, support) == {"new": 0, "heard": 0}
    for call, kwargs in (
        (bizdata.get_voicemail, {}),
        (bizdata.mark_voicemail_heard, {"by": "agent1"}),
        (bizdata.delete_voicemail, {}),
    ):
        with pytest.raises(NotFound):
            call(store, other["message_id"], **kwargs)


def _add_args(message: dict[str, Any]) -> dict[str, Any]:
    args = {k: v for k, v in message.items() if k not in ("heard", "heard_at", "heard_by")}
    return args | {"received_at": datetime.fromisoformat(message["received_at"])}


def test_bad_voicemail_values_are_refused(store: Engine) -> None:
    for field, override in (
        ("message_id", {"message_id": "m1"}),
        ("box", {"box": ""}),
        ("recording_ref", {"recording_ref": "r"}),
        ("received_at", {"received_at": datetime(2026, 12, 7)}),
        ("duration_ms", {"duration_ms": -1}),
        ("file", {"file": "/abs.wav"}),
        ("call_id", {"call_id": ""}),
    ):
        with pytest.raises(InvalidField) as caught:
            leave(store, "box1", **override)
        assert caught.value.field == field
    with pytest.raises(InvalidField, match="boxes"):
        bizdata.list_voicemail(store, boxes="box1")
    with pytest.raises(InvalidField, match="by"):
        bizdata.mark_voicemail_heard(store, leave(store, "box1")["message_id"], by="")


def test_0004_lets_a_monitoring_sessions_recording_in_and_keeps_the_rows(
    tmp_path: Path,
) -> None:
    """Migration 0004 widens the reason's check to `monitor` over a store with rows (SQLite
    rebuilds the table), and the database still refuses any other reason."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"

    def alembic(action: Any, revision: str) -> None:
        engine = bizdata.open_engine(url)
        try:
            with engine.begin() as connection:
                action(_config(connection), revision)
        finally:
            engine.dispose()

    alembic(command.upgrade, "0003")
    engine = bizdata.open_engine(url)
    try:
        before = start(engine, reason="always")
        alembic(command.upgrade, "head")
        assert bizdata.get_recording(engine, before["ref"]) == before
        monitor = start(engine, reason="monitor", name="sess-1", queue="", number="")
        assert monitor["reason"] == "monitor"
        with pytest.raises(IntegrityError, match="CHECK constraint failed"), engine.begin() as db:
            db.execute(
                text("UPDATE recordings SET reason = 'other' WHERE ref = :ref"),
                {"ref": before["ref"]},
            )
    finally:
        engine.dispose()
