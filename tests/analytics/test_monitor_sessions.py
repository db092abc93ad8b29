"""Monitoring sessions in the CDR service (docs/analytics.md, "Monitoring sessions"):
the fold of monitor.* into one row per session, the builder's emission and restart
rules, the monitor_sessions table on real chDB, and the report over the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pytest

import eventlog as ev
from analytics import (
    CdrBuilder,
    ChdbStore,
    ServiceClient,
    Statistics,
    build_records,
    fold_session,
)
from analytics._http_api import serve_api
from eventlog import Event, decode, encode
from tests.analytics.analytics_scenarios import T0, Script

REC = "e" * 32


def started(s: Script, dt: float, session: str, **data: Any) -> Script:
    fields = {
        "session": session,
        "supervisor": "s1",
        "agent": "a1",
        "mode": "listen",
        "by": "dashboard",
        "requested_by": "s1",
        "mixer": "mixer0",
        "recording_ref": "",
    } | data
    s.events.append(Event.new(ev.MONITOR_STARTED, correlation_id=s.cid, ts=s.base + dt, **fields))
    return s


def switched(s: Script, dt: float, session: str, mode: str, previous: str, **data: Any) -> Script:
    fields = {
        "session": session,
        "supervisor": "s1",
        "agent": "a1",
        "mode": mode,
        "previous": previous,
        "by": "keypad",
    } | data
    s.events.append(Event.new(ev.MONITOR_SWITCHED, correlation_id=s.cid, ts=s.base + dt, **fields))
    return s


def stopped(
    s: Script, dt: float, session: str, reason: str, duration_ms: int, **data: Any
) -> Script:
    fields = {
        "session": session,
        "supervisor": "s1",
        "agent": "a1",
        "reason": reason,
        "duration_ms": str(duration_ms),
    } | data
    s.events.append(Event.new(ev.MONITOR_STOPPED, correlation_id=s.cid, ts=s.base + dt, **fields))
    return s


def logged(events: list[Event]) -> list[Event]:
    # As the event log carries them: encoded and decoded, every field checked.
    return [decode(encode(e), entry_id=f"{i + 1}-0") for i, e in enumerate(events)]


def call(cid: str = "c-mon", base: float = T0) -> Script:
    return Script(cid, base)(0, ev.CALL_ARRIVED)(2, ev.CALL_QUEUED)(3, ev.CALL_RINGING)(
        5, ev.CALL_ANSWERED
    )


def coached() -> Script:
    """s1 rings at 10 s, answers at 13 s (listen), whispers at 20 s, barges at 50 s,
    back to listen at 60 s, hangs up at 73 s: 60 s answered."""
    s = started(call(), 10, "m1", recording_ref=REC)
    switched(s, 20, "m1", "whisper", "listen")
    switched(s, 50, "m1", "barge", "whisper")
    switched(s, 60, "m1", "listen", "barge")
    return stopped(s, 73, "m1", "supervisor_hangup", 60_000)


# -- the fold ----------------------------------------------------------------------------


def test_a_session_folds_into_one_row_with_time_in_each_mode() -> None:
    row = fold_session(logged(coached().events[4:]))
    assert row is not None
    assert (row.session, row.correlation_id, row.supervisor, row.agent) == (
        "m1",
        "c-mon",
        "s1",
        "a1",
    )
    assert (row.started_at, row.ended_at, row.duration_ms) == (T0 + 10, T0 + 73, 60_000)
    assert row.modes == ("listen", "whisper", "barge")
    # Listen counts from the answer at 13 s (7 s) and again 60..73 s (13 s).
    assert (row.listen_ms, row.whisper_ms, row.barge_ms) == (20_000, 30_000, 10_000)
    assert row.listen_ms + row.whisper_ms + row.barge_ms == row.duration_ms
    assert (row.switches, row.reason, row.started_by, row.requested_by) == (
        3,
        "supervisor_hangup",
        "dashboard",
        "s1",
    )
    assert (row.mixer, row.recording_ref, row.version) == ("mixer0", REC, 5)


def test_an_unanswered_session_has_no_time_in_any_mode() -> None:
    s = stopped(started(call(), 10, "m2", mode="barge"), 30, "m2", "no_answer", 0)
    row = fold_session(s.events[4:])
    assert row is not None
    assert (row.duration_ms, row.listen_ms, row.whisper_ms, row.barge_ms) == (0, 0, 0, 0)
    assert (row.modes, row.switches, row.reason) == (("barge",), 0, "no_answer")


def test_a_session_is_no_row_until_it_stops_and_events_in_any_order_fold_alike() -> None:
    events = coached().events[4:]
    assert fold_session(events[:-1]) is None
    assert fold_session(list(reversed(events))) == fold_session(events)


def test_a_switch_to_the_mode_it_is_in_is_no_switch() -> None:
    s = started(call(), 10, "m3")
    switched(s, 20, "m3", "listen", "listen")
    row = fold_session(stopped(s, 30, "m3", "requested", 20_000).events[4:])
    assert row is not None
    assert (row.switches, row.modes, row.listen_ms) == (0, ("listen",), 20_000)


# -- the builder -------------------------------------------------------------------------


def test_the_builder_emits_sessions_beside_the_cdr_which_they_do_not_change() -> None:
    with_monitor = coached()(80, ev.CALL_ENDED)
    plain = call()(80, ev.CALL_ENDED)
    records = build_records(logged(with_monitor.events))
    (row,) = records.sessions
    assert row.session == "m1" and row.version == 5
    (cdr,) = records.cdrs
    (alone,) = build_records(logged(plain.events)).cdrs
    assert cdr == alone  # no column, and not the version either


def test_a_sessions_recording_is_not_the_calls() -> None:
    script = coached()
    script(12, ev.RECORDING_STARTED, ref=REC, reason="monitor", name="m1", caller_port="")
    (cdr,) = build_records(logged(script(80, ev.CALL_ENDED).events)).cdrs
    assert cdr.recording_ref == ""
    script = coached()(12, ev.RECORDING_STARTED, ref=REC, reason="monitor", name="m1")
    script(30, ev.RECORDING_STARTED, ref="a" * 32, reason="on_demand", name="a1")
    (cdr,) = build_records(logged(script(80, ev.CALL_ENDED).events)).cdrs
    assert cdr.recording_ref == "a" * 32


def test_a_late_event_re_emits_the_session_with_its_key_kept() -> None:
    builder = CdrBuilder()
    events = logged(coached().events)
    builder.add_many(events)
    (first,) = builder.drain().sessions
    # A switch that reached the log after the stop (a slow node): folded in, version up.
    late = switched(Script("c-mon"), 65, "m1", "whisper", "listen").events[0]
    builder.add(late)
    (again,) = builder.drain().sessions
    assert again.version == first.version + 1
    assert (again.supervisor, again.started_at) == (first.supervisor, first.started_at)
    assert again.switches == 4
    builder.add(late)  # a duplicate changes nothing
    assert builder.drain().sessions == []


def test_a_session_whose_stop_never_comes_ends_with_its_call() -> None:
    s = started(call(), 10, "m4")(40, ev.CALL_ENDED)
    builder = CdrBuilder()
    for i, event in enumerate(logged(s.events)):
        builder.add(event, f"{i + 1}-0")
    (row,) = builder.drain().sessions
    assert (row.reason, row.ended_at, row.duration_ms) == ("call_ended", T0 + 40, 30_000)
    assert builder.low_water_mark() is None  # nothing open holds the replay back
    # The controller's stop, written after the call's end, replaces that row.
    builder.add(stopped(Script("c-mon"), 41, "m4", "call_ended", 28_000).events[0])
    (final,) = builder.drain().sessions
    assert (final.duration_ms, final.version) == (28_000, row.version + 1)


def test_an_open_session_holds_the_low_water_mark_and_orphans_are_dropped() -> None:
    events = logged(coached()(80, ev.CALL_ENDED).events)
    monitor = [e for e in events if e.kind.startswith("monitor.")]
    builder = CdrBuilder()
    builder.add(monitor[0], "5-0")  # monitor.started of a call this builder never saw
    assert builder.low_water_mark() == "5-0"
    builder.add(monitor[-1], "9-0")
    assert builder.low_water_mark() is None
    fresh = CdrBuilder()  # a restart whose replay begins after the session's start
    for i, event in enumerate(monitor[1:]):
        fresh.add(event, f"{6 + i}-0")
    assert fresh.drain().sessions == []  # a switch or stop alone is no session
    assert fresh.low_water_mark() is None


# -- the store (chDB) and the report -----------------------------------------------------


def day_of_sessions() -> list[Event]:
    """s1 coaches a1 (60 s, recorded), s1 listens to a2 (unanswered), s2 barges in on a1
    for 30 s and intercepts, s1's session the next day is outside the range."""
    one = coached()(80, ev.CALL_ENDED)
    two = stopped(
        started(call("c-two"), 10, "m2", agent="a2"), 30, "m2", "no_answer", 0, agent="a2"
    )(90, ev.CALL_ENDED)
    three = started(call("c-three"), 10, "m3", supervisor="s2", mode="barge", by="keypad")
    stopped(three, 40, "m3", "intercept", 30_000, supervisor="s2")(41, ev.CALL_ENDED)
    later = started(call("c-next", T0 + 86_400), 10, "m4")
    stopped(later, 20, "m4", "requested", 10_000)(30, ev.CALL_ENDED)
    return logged([*one.events, *two.events, *three.events, *later.events])


def by_key(df: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in df.to_dict("records")}


def test_sessions_are_stored_and_reported_per_supervisor_and_per_agent(store: ChdbStore) -> None:
    records = build_records(day_of_sessions())
    assert len(records.sessions) == 4
    store.insert_records(records)
    store.insert_records(records)  # again: the rows collapse
    stats = Statistics(store)
    day = {"start": T0, "end": T0 + 86_400}
    got = by_key(stats.monitor_summary(**day), "supervisor")
    assert sorted(got) == ["s1", "s2"]
    s1, s2 = got["s1"], got["s2"]
    assert (s1["sessions"], s1["answered"], s1["total_s"], s1["avg_s"]) == (2, 1, 60.0, 60.0)
    assert (s1["listen_s"], s1["whisper_s"], s1["barge_s"]) == (20.0, 30.0, 10.0)
    assert (s1["with_listen"], s1["with_whisper"], s1["with_barge"]) == (2, 1, 1)
    assert (s1["switches"], s1["intercepts"], s1["recorded"]) == (3, 0, 1)
    assert (s2["sessions"], s2["barge_s"], s2["intercepts"]) == (1, 30.0, 1)
    agents = by_key(stats.monitor_summary(by="agent", **day), "agent")
    assert {a: r["sessions"] for a, r in agents.items()} == {"a1": 2, "a2": 1}
    assert agents["a2"]["answered"] == 0 and pd.isna(agents["a2"]["avg_s"])
    only = stats.monitor_summary(by="agent", agents=["a1"], supervisors=["s2"], **day)
    assert only[["agent", "sessions", "total_s"]].to_dict("records") == [
        {"agent": "a1", "sessions": 1, "total_s": 30.0}
    ]
    listed = stats.monitor_list(**day)
    assert list(listed["session"]) == ["m1", "m2", "m3"]
    m1 = listed.iloc[0]
    assert list(m1["modes"]) == ["listen", "whisper", "barge"]
    assert (m1["correlation_id"], m1["recording_ref"], m1["reason"]) == (
        "c-mon",
        REC,
        "supervisor_hangup",
    )
    with pytest.raises(ValueError, match="by must be one of"):
        stats.sql("monitor_summary", by="queue")


def test_a_re_emitted_session_replaces_its_row(store: ChdbStore) -> None:
    builder = CdrBuilder()
    builder.add_many(logged(coached().events))
    store.insert_records(builder.drain())
    builder.add(switched(Script("c-mon"), 65, "m1", "whisper", "listen").events[0])
    store.insert_records(builder.drain())
    assert list(Statistics(store).monitor_list()["switches"]) == [4]
    df = store.query_df(f"SELECT version FROM {store.database}.monitor_sessions FINAL")
    assert list(df["version"]) == [6]


def test_the_table_follows_the_schema_practice(store: ChdbStore) -> None:
    (table,) = store.query_df(
        "SELECT engine, partition_key, sorting_key, engine_full FROM system.tables "
        f"WHERE database = '{store.database}' AND name = 'monitor_sessions'"
    ).to_dict("records")
    assert table["engine"] == "ReplacingMergeTree"
    assert table["partition_key"] == "toDate(started_at)"
    assert table["sorting_key"] == "supervisor, started_at, session"
    assert "min_age_to_force_merge_on_partition_only = 1" in table["engine_full"]
    types = dict(
        store.query_df(
            f"SELECT name, type FROM system.columns WHERE database = '{store.database}' "
            "AND table = 'monitor_sessions'"
        ).itertuples(index=False)
    )
    assert types["reason"] == types["supervisor"] == "LowCardinality(String)"
    assert types["modes"] == "Array(LowCardinality(String))"


class Backend:
    def __init__(self, store: ChdbStore) -> None:
        self.stats = Statistics(store)

    def health(self) -> dict[str, Any]:
        return {"ok": True}

    def report(self, method: str, params: dict[str, Any]) -> pd.DataFrame:
        return self.stats.run(method, **params)


@pytest.fixture
def api(store: ChdbStore) -> Iterator[ServiceClient]:
    store.insert_records(build_records(day_of_sessions()))
    server = serve_api("127.0.0.1:0", Backend(store))
    try:
        host, port = server.server_address[:2]
        yield ServiceClient(f"http://{host}:{port}", timeout=10)
    finally:
        server.shutdown()
        server.server_close()


def test_the_cdr_service_serves_the_report(api: ServiceClient) -> None:
    df = api.report("monitor_summary", by="agent", start=T0, end=T0 + 86_400)
    assert by_key(df, "agent")["a1"]["sessions"] == 2
    listed = api.report("monitor_list", start=T0, end=T0 + 86_400, supervisors=["s2"])
    assert list(listed["session"]) == ["m3"]
