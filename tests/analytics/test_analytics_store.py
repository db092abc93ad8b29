"""Storage and statistics on embedded chDB, against hand-computed figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import eventlog as ev
from analytics import ChdbStore, Records, Statistics, build_records, load_migrations
from analytics._chdb_store import _split_by_day
from analytics._columns import rows_to_columns, to_arrow
from analytics._dialect import LEGACY
from analytics._migrations import SCHEMA_DIR, apply_migrations, split_statements
from analytics._records import CDR_COLUMNS
from analytics._reports import REPORTS
from tests.analytics.analytics_scenarios import T0, Script, agent, insert_before_006

# -- the fixture day -----------------------------------------------------------------
# billing, interval T0:      A answered (wait 5, talk 110, hold 10, wrap-up 15)
#                            B abandoned in queue (wait 30)
#                            C abandoned while ringing a2 (wait 8)
#                            D answered by a2 (wait 20, talk 60)
# billing, interval T0+900:  E overflow out (wait 60), F voicemail (wait 30)
# general, interval T0+1800: G answered by a3 (wait 40, talk 30)
# IVR only:                  H contained (billing), J failed in IVR (outage)


def fixture_events() -> list[ev.Event]:
    calls = [
        Script("A")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="main")(
            3, ev.CALL_IVR_STEP, ivr_node="billing"
        )(5, ev.CALL_QUEUED)(8, ev.CALL_RINGING)(10, ev.CALL_ANSWERED)(40, ev.CALL_HOLD)(
            50, ev.CALL_RESUME
        )(130, ev.CALL_ENDED, side="agent"),
        Script("B")(99, ev.CALL_ARRIVED)(100, ev.CALL_QUEUED)(130, ev.CALL_ENDED, cause="487"),
        Script("C")(199, ev.CALL_ARRIVED)(200, ev.CALL_QUEUED)(
            205, ev.CALL_RINGING, agent="a2", seat="s2", leg_id="C1"
        )(208, ev.CALL_ENDED),
        Script("D")(299, ev.CALL_ARRIVED)(300, ev.CALL_QUEUED)(
            310, ev.CALL_RINGING, agent="a2", seat="s2", leg_id="D1"
        )(320, ev.CALL_ANSWERED, agent="a2", seat="s2", leg_id="D1")(380, ev.CALL_ENDED),
        Script("E")(909, ev.CALL_ARRIVED)(910, ev.CALL_QUEUED)(970, ev.CALL_OVERFLOW)(
            1000, ev.CALL_ENDED, side="system"
        ),
        Script("F")(919, ev.CALL_ARRIVED)(920, ev.CALL_QUEUED)(950, ev.CALL_VOICEMAIL)(
            1010, ev.CALL_ENDED
        ),
        Script("G")(1799, ev.CALL_ARRIVED, category="general")(
            1800, ev.CALL_QUEUED, queue="general"
        )(1830, ev.CALL_RINGING, agent="a3", seat="s3", leg_id="G1")(
            1840, ev.CALL_ANSWERED, agent="a3", seat="s3", leg_id="G1"
        )(1870, ev.CALL_ENDED),
        Script("H")(2000, ev.CALL_ARRIVED)(2001, ev.CALL_IVR_STEP)(2030, ev.CALL_ENDED),
        Script("J")(2100, ev.CALL_ARRIVED, category="outage")(2101, ev.CALL_IVR_STEP)(
            2102, ev.CALL_ENDED, cause="500", side="system"
        ),
    ]
    events = [e for script in calls for e in script.events]
    events += agent(
        "a1",
        T0,
        (-100, "idle", ""),
        (8, "reserved", ""),
        (10, "talking", "A"),
        (130, "wrap_up", "A"),
        (145, "idle", ""),
        (200, "busy", ""),
        (400, "logged_out", ""),
    )
    events += agent(
        "a2", T0, (0, "idle", ""), (320, "talking", "D"), (380, "idle", ""), (400, "logged_out", "")
    )
    return sorted(events, key=lambda e: e.ts)


@pytest.fixture
def loaded(store: ChdbStore) -> Statistics:
    store.insert_records(build_records(fixture_events()))
    return Statistics(store)


def rows(df: pd.DataFrame, key: str) -> dict[str, dict[str, object]]:
    return {str(r[key]): r for r in df.to_dict("records")}


def ts(offset: float) -> pd.Timestamp:
    return pd.Timestamp(T0 + offset, unit="s", tz="UTC")


def test_migrations_are_numbered_idempotent_and_recorded(store: ChdbStore) -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert store.schema_version() == len(migrations)
    assert store.migrate() == []  # already applied
    tables = set(store.query_df(f"SHOW TABLES FROM {store.database}")["name"])
    assert {"cdr", "cdr_leg", "agent_state_interval", "schema_migrations"} <= tables


def test_tables_are_partitioned_by_day_and_merge_each_quiet_day(store: ChdbStore) -> None:
    tables = store.query_df(
        "SELECT name, partition_key, engine_full FROM system.tables "
        f"WHERE database = '{store.database}'"
    )
    got = {r["name"]: r for r in tables.to_dict("records")}
    assert got["cdr"]["partition_key"] == "toDate(arrived_at)"
    assert got["cdr_leg"]["partition_key"] == "toDate(started_at)"
    assert got["agent_state_interval"]["partition_key"] == "toDate(start)"
    for name in ("cdr", "cdr_leg", "agent_state_interval"):
        assert "min_age_to_force_merge_on_partition_only = 1" in got[name]["engine_full"]
    # Migration 005 dropped the 15-minute rollup; queue_volume reads cdr.
    assert "queue_interval_15m" not in got and "queue_interval_15m_mv" not in got


def test_migration_005_upgrades_a_version_4_store(
    store: ChdbStore, chdb_dir: Path, tmp_path: Path
) -> None:
    # A store as migrations 001-004 left it (monthly partitions, rollup view), with data.
    for path in sorted(SCHEMA_DIR.glob("00[1-4]_*.sql")):
        (tmp_path / path.name).write_text(path.read_text())
    old = ChdbStore(chdb_dir, database=f"{store.database}_v4", migrate=False)
    try:
        assert apply_migrations(old.execute, old._applied, old.database, tmp_path) == [1, 2, 3, 4]
        records = build_records(fixture_events())
        insert_before_006(old, records)
        insert_before_006(old, records)  # a replayed batch, collapsed by FINAL before and after
        (tmp_path / "005_daily_parts_no_rollup.sql").write_text(
            (SCHEMA_DIR / "005_daily_parts_no_rollup.sql").read_text()
        )
        assert apply_migrations(old.execute, old._applied, old.database, tmp_path) == [5]
        assert old.schema_version() == 5
        stats = Statistics(old)
        assert list(stats.queue_volume()["offered"]) == [4, 2, 1]
        assert rows(stats.queue_summary(), "queue")["billing"]["aht_s"] == pytest.approx(97.5)
        assert rows(stats.agent_summary(), "agent")["a1"]["login_s"] == 500
        parts = old.query_df(
            "SELECT name, partition_key FROM system.tables "
            f"WHERE database = '{old.database}' AND name = 'cdr'"
        )
        assert parts["partition_key"].tolist() == ["toDate(arrived_at)"]
        # A crash before the version is recorded re-runs the whole file: harmless.
        for statement in load_migrations()[4].statements:
            old.execute(statement.replace("{db}", old.database))
        n = old.query_df(f"SELECT count() AS n FROM {old.database}.cdr FINAL")
        assert int(n["n"].iloc[0]) == len(records.cdrs)
        assert list(stats.queue_volume()["offered"]) == [4, 2, 1]
        # And on to the current schema.
        assert old.migrate() == list(range(6, len(load_migrations()) + 1))
        assert len(stats.cdr_list()) == len(records.cdrs)
    finally:
        old.execute(f"DROP DATABASE IF EXISTS {old.database}")
        old.close()


def test_reports_skip_final_on_merged_days_only_on_the_full_schema(store: ChdbStore) -> None:
    setting = "do_not_merge_across_partitions_select_final = 1"
    stats = Statistics(store)
    needs = {"agent_calls": {"agent": "a1"}}  # the one report with a required argument
    for report, build in REPORTS.items():
        params = needs.get(report, {})
        assert stats.sql(report, **params).rstrip().endswith(setting), report
        # 18.16 keeps monthly partitions (schema/legacy/005) and gets no setting.
        assert setting not in build(store.database, dialect=LEGACY, **params), report


def test_reports_agree_before_and_after_merges_with_later_versions(store: ChdbStore) -> None:
    events = fixture_events()
    store.insert_records(build_records([e for e in events if e.kind != ev.AGENT_STATE]))
    stats = Statistics(store)
    for table in ("cdr", "cdr_leg", "agent_state_interval"):
        store.execute(f"OPTIMIZE TABLE {store.database}.{table} FINAL")
    # The re-emitted call (A with wrap-up) and a replay land in new parts of a day
    # that is already one merged part: FINAL must merge that day again.
    store.insert_records(build_records(events))
    store.insert_records(build_records(events))
    assert rows(stats.queue_summary(), "queue")["billing"]["aht_s"] == pytest.approx(97.5)
    assert list(stats.queue_volume()["offered"]) == [4, 2, 1]
    assert rows(stats.agent_summary(), "agent")["a1"]["login_s"] == 500
    assert len(stats.cdr_list()) == len(build_records(events).cdrs)


def test_a_batch_spanning_days_goes_in_one_insert_per_day(store: ChdbStore) -> None:
    day = 86_400.0
    arrived = [T0 + 2 * day + 5, T0 + 1, T0 + day + 7, T0 + 3, T0 + 2 * day + 1]
    columns = rows_to_columns("cdr", build_records(fixture_events()).cdrs[:5])
    columns["arrived_at"] = arrived
    columns["correlation_id"] = [f"x{i}" for i in range(5)]
    table = to_arrow("cdr", columns)
    pieces = _split_by_day(table, "arrived_at")
    days = [
        sorted({int(v.timestamp() // day) for v in p["arrived_at"].to_pylist()}) for p in pieces
    ]
    assert [len(d) for d in days] == [1, 1, 1] and days == sorted(days)
    assert sorted(x for p in pieces for x in p["correlation_id"].to_pylist()) == [
        f"x{i}" for i in range(5)
    ]
    # Through the store, split further over two sessions: every row lands once.
    parallel = ChdbStore(
        store.path, database=store.database, migrate=False, insert_threads=2, parallel_min_rows=1
    )
    try:
        assert parallel.insert_columns("cdr", columns) == 5
    finally:
        parallel.close()
    got = store.query_df(
        f"SELECT count() AS n, uniqExact(toDate(arrived_at)) AS d FROM {store.database}.cdr"
    )
    assert (int(got["n"].iloc[0]), int(got["d"].iloc[0])) == (5, 3)


def test_split_statements_ignores_comments() -> None:
    sql = "-- a; comment\nCREATE TABLE x (a UInt8);\n\n-- b\nCREATE VIEW y AS SELECT 1;\n"
    assert split_statements(sql) == ["CREATE TABLE x (a UInt8)", "CREATE VIEW y AS SELECT 1"]


def test_queue_volume_per_15_minutes(loaded: Statistics) -> None:
    df = loaded.queue_volume()
    got = [
        (
            r["queue"],
            r["interval_start"],
            r["offered"],
            r["answered"],
            r["abandoned"],
            r["overflowed"],
            r["max_wait_s"],
        )
        for r in df.to_dict("records")
    ]
    assert got == [
        ("billing", ts(0), 4, 2, 2, 0, 30.0),
        ("billing", ts(900), 2, 0, 0, 1, 60.0),
        ("general", ts(1800), 1, 1, 0, 0, 40.0),
    ]
    only = loaded.queue_volume(start=T0 + 900, queues=["billing"])
    assert list(only["offered"]) == [2]


def test_queue_summary_service_level_and_times(loaded: Statistics) -> None:
    billing = rows(loaded.queue_summary(threshold_s=20), "queue")["billing"]
    expected = {
        "offered": 6,
        "answered": 2,
        "abandoned": 2,
        "overflowed": 1,
        "answered_within": 2,
        "abandoned_within": 1,
        "sl": 1.0,  # Asterisk SL: 2 of 2 answered within 20 s
        "sl2": 0.75,  # Asterisk SL2: (2 + 1) / (2 + 2)
        "sl_with_abandoned": 0.5,  # 2 / (2 + 2)
        "sl2_of_offered": 0.5,  # (2 + 1) / 6
        "abandon_rate": 2 / 6,
        "asa_s": 12.5,  # (5 + 20) / 2
        "aht_s": 97.5,  # ((110 + 10 + 15) + 60) / 2
        "avg_talk_s": 85.0,
        "wait_p50_s": 12.5,  # linear interpolation between 5 and 20
        "wait_p90_s": 18.5,
        "max_wait_s": 60.0,
    }
    for name, value in expected.items():
        assert billing[name] == pytest.approx(value), name

    tight = rows(loaded.service_level(threshold_s=10), "queue")
    assert (tight["billing"]["sl"], tight["billing"]["sl2"]) == (0.5, 0.5)
    assert tight["general"]["sl"] == 0.0
    assert set(tight["billing"]) == {
        "queue",
        "offered",
        "answered",
        "abandoned",
        "answered_within",
        "abandoned_within",
        "sl",
        "sl2",
        "sl_with_abandoned",
        "sl2_of_offered",
    }


def test_queue_summary_by_interval_and_range(loaded: Statistics) -> None:
    df = loaded.queue_summary(interval_minutes=15, queues=["billing"])
    assert [(r["interval_start"], r["offered"]) for r in df.to_dict("records")] == [
        (ts(0), 4),
        (ts(900), 2),
    ]
    later = loaded.queue_summary(start=T0 + 900, end=T0 + 1800)
    assert list(later["queue"]) == ["billing"]
    assert list(later["offered"]) == [2]
    assert math.isnan(later["asa_s"].iloc[0])  # nothing answered: NULL, not 0


def test_agent_summary(loaded: Statistics) -> None:
    agents = rows(loaded.agent_summary(), "agent")
    a1, a2, a3 = agents["a1"], agents["a2"], agents["a3"]
    assert (a1["calls"], a1["talk_s"], a1["hold_s"], a1["ring_no_answer"]) == (1, 110, 10, 0)
    assert (a1["login_s"], a1["busy_s"], a1["talking_s"], a1["wrapup_s"]) == (500, 200, 120, 15)
    assert a1["idle_s"] == pytest.approx(108 + 55)
    assert a1["occupancy"] == pytest.approx((120 + 15) / (500 - 200))
    assert (a2["calls"], a2["talk_s"], a2["login_s"]) == (1, 60, 400)
    assert a2["occupancy"] == pytest.approx(60 / 400)
    assert (a3["calls"], a3["talk_s"], a3["login_s"]) == (1, 30, 0)
    assert pd.isna(a3["occupancy"])


def test_agent_summary_clips_intervals_to_the_range(loaded: Statistics) -> None:
    agents = rows(loaded.agent_summary(start=T0, end=T0 + 300), "agent")
    assert set(agents) == {"a1", "a2"}
    a1 = agents["a1"]
    assert (a1["login_s"], a1["busy_s"]) == (300, 100)
    assert a1["occupancy"] == pytest.approx(135 / 200)
    assert agents["a2"]["calls"] == 0  # C rang a2 in range but was abandoned


def test_ivr_containment(loaded: Statistics) -> None:
    # A, H and J went through the IVR (flow "main") with no call.ivr_done in the log:
    # A queued (to an agent), H's caller hung up there, J was ended by the system.
    (main, total) = loaded.ivr_containment().to_dict("records")
    assert (main["dialled"], main["flow"], total["dialled"], total["flow"]) == (
        "95598",
        "main",
        "*",
        "*",
    )
    for row in (main, total):
        names = ("ivr_calls", "self_served", "to_agent", "abandoned_in_ivr", "other")
        assert [*(row[k] for k in names), row["containment_rate"]] == [3, 0, 1, 1, 1, 0.0]


def test_same_batch_twice_does_not_double(store: ChdbStore) -> None:
    records = build_records(fixture_events())
    store.insert_records(records)
    store.insert_records(records)
    stats = Statistics(store)
    counts = store.query_df(
        f"SELECT (SELECT count() FROM {store.database}.cdr FINAL) AS cdr,"
        f" (SELECT count() FROM {store.database}.cdr_leg FINAL) AS legs,"
        f" (SELECT count() FROM {store.database}.agent_state_interval FINAL) AS iv"
    ).iloc[0]
    assert (counts["cdr"], counts["legs"], counts["iv"]) == (
        len(records.cdrs),
        len(records.legs),
        len(records.intervals),
    )
    assert list(stats.queue_volume()["offered"]) == [4, 2, 1]
    assert rows(stats.queue_summary(), "queue")["billing"]["aht_s"] == pytest.approx(97.5)
    assert rows(stats.agent_summary(), "agent")["a1"]["login_s"] == 500


def test_re_emitted_call_replaces_the_earlier_version(store: ChdbStore) -> None:
    events = fixture_events()
    first = build_records([e for e in events if e.kind != ev.AGENT_STATE])
    store.insert_records(first)  # A without wrap-up, version 9
    store.insert_records(build_records(events))  # A with wrap-up, version 10
    df = store.query_df(
        f"SELECT wrapup_s, version FROM {store.database}.cdr FINAL WHERE correlation_id = 'A'"
    )
    assert df.to_dict("records") == [{"wrapup_s": 15.0, "version": 10}]


def test_sql_is_exposed_for_every_report(store: ChdbStore) -> None:
    stats = Statistics(store)
    sql = stats.sql("queue_summary", threshold_s=30, start=T0)
    assert f"FROM {store.database}.cdr FINAL" in sql and "wait_s <= 30.0" in sql
    assert store.query_df(sql).empty
    with pytest.raises(ValueError, match="unknown report"):
        stats.sql("nope")


def test_empty_records_write_nothing(store: ChdbStore) -> None:
    assert store.insert_records(Records([], [], [])) == 0


def test_store_refuses_bad_database_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="identifier"):
        ChdbStore(tmp_path, database="x; DROP")


def test_leg_list_has_each_ring_attempt_by_call_and_agent(loaded: Statistics) -> None:
    legs = loaded.leg_list(correlation_ids=["C", "D"])
    got = [
        (r["correlation_id"], r["agent"], r["outcome"], r["started_at"])
        for r in legs.to_dict("records")
    ]
    assert [g[:3] for g in got] == [("C", "a2", "abandoned"), ("D", "a2", "answered")]
    assert [g[3] for g in got] == [ts(205), ts(310)]
    assert loaded.leg_list(agents=["a3"])["correlation_id"].tolist() == ["G"]
    assert loaded.leg_list(start=T0 + 1800, end=T0 + 1900)["correlation_id"].tolist() == ["G"]
    assert loaded.leg_list(limit=0).empty


def test_cdr_list_returns_seat_ivr_path_and_recording_ref(store: ChdbStore) -> None:
    """The columns a CDR export needs besides the times: the answering seat, the IVR
    nodes in order, the recording, its pauses, a message played, a voicemail's box; and
    the stored empties for a call without them."""
    ref = "a" * 32
    events = (
        Script("R")(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="main")(
            2, ev.CALL_IVR_STEP, ivr_node="billing"
        )(3, ev.CALL_QUEUED)(4, ev.CALL_RINGING, agent="a7", seat="s7", leg_id="R1")(
            5, ev.CALL_ANSWERED, agent="a7", seat="s7", leg_id="R1"
        )(6, ev.RECORDING_STARTED, ref=ref)(6.5, ev.RECORDING_PAUSED, ref=ref)(
            7, ev.RECORDING_RESUMED, ref=ref
        )(8, ev.CALL_MESSAGE_PLAYED, agent="a7")(9, ev.CALL_ENDED).events
        + Script("N")(10, ev.CALL_ARRIVED)(11, ev.CALL_QUEUED)(15, ev.CALL_ENDED).events
        + Script("V")(20, ev.CALL_ARRIVED)(21, ev.CALL_VOICEMAIL)(30, ev.CALL_ENDED)(
            31, ev.VOICEMAIL_LEFT, box="sales"
        ).events
    )
    store.insert_records(build_records(events))
    listed = Statistics(store).cdr_list()
    assert set(listed.columns) == set(CDR_COLUMNS) - {"version"}
    got = {
        r["correlation_id"]: (
            r["agent"],
            r["seat"],
            list(r["ivr_path"]),
            r["recording_ref"],
            r["recording_pauses"],
            r["message_played"],
            r["voicemail_box"],
        )
        for r in listed.to_dict("records")
    }
    assert got == {
        "R": ("a7", "s7", ["main", "billing"], ref, 1, 1, ""),
        "N": ("", "", [], "", 0, 0, ""),
        "V": ("", "", [], "", 0, 0, "sales"),
    }
