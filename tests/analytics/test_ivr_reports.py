"""The IVR reports on a store with known calls: containment per dialled number and
flow, drop-off per node in path order (docs/analytics.md, "IVR reports"); the IVR
columns of migration 006 on a store that had CDRs before it; and callers' inputs
absent from every stored column. test_analytics_clickhouse runs the report tests
again on the ClickHouse server (18.16 here)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import eventlog as ev
from analytics import (
    ChdbStore,
    Records,
    Statistics,
    apply_migrations,
    build_records,
    load_migrations,
)
from analytics._migrations import SCHEMA_DIR
from eventlog import Event
from tests.analytics.analytics_scenarios import T0, Script, insert_before_006

HOUR = 3600.0
# Digits callers keyed in at collect nodes (the interpreter already masks a
# sensitive node's as "<sensitive>"): no stored column may hold them.
ACCOUNT = "7304918265"


def ivr_call(
    cid: str, at: float, path: list[str], done: tuple[str, str] | None, *, dialled: str = "95598"
) -> Script:
    """Arrived at `at`, one step per node of `path` a second apart (the account number
    keyed at each), then the IVR's call.ivr_done (node, result) unless None."""
    script = Script(cid)(at, ev.CALL_ARRIVED, dialled=dialled)
    for i, node in enumerate(path, start=1):
        script(at + i, ev.CALL_IVR_STEP, ivr_node=node, input=ACCOUNT if i > 1 else "1")
    if done is not None:
        script(at + len(path) + 0.5, ev.CALL_IVR_DONE, ivr_node=done[0], result=done[1])
    return script


# 95598 runs flow "main" (7 calls), 4008 runs flow "outage" an hour later (3 calls),
# and one call never enters an IVR.
#   call  path                     ivr_done                  then
#   I1    main balance             balance self_served       caller hangs up
#   I2    main balance             balance self_served       the flow hangs up
#   I3    main billing             billing queued            queued, answered
#   I4    main balance             (none: controller died)   caller hangs up -> caller_left
#   I5    main                     main caller_left          caller hangs up
#   I6    main main main           main retries_exhausted    the flow hangs up
#   I7    main balance             balance max_time          the flow hangs up
#   O1    outage                   outage closed             the flow hangs up
#   O2    outage                   outage transferred        transferred out
#   O3    outage menu2             menu2 voicemail           voicemail
#   N1    (no IVR)                                           queued, answered
def ivr_events() -> list[Event]:
    later = HOUR
    scripts = [
        ivr_call("I1", 0, ["main", "balance"], ("balance", "self_served"))(
            10, ev.CALL_ENDED, side="caller"
        ),
        ivr_call("I2", 20, ["main", "balance"], ("balance", "self_served"))(
            30, ev.CALL_ENDED, side="system"
        ),
        ivr_call("I3", 40, ["main", "billing"], ("billing", "queued"))(43, ev.CALL_QUEUED)(
            44, ev.CALL_RINGING
        )(46, ev.CALL_ANSWERED)(90, ev.CALL_ENDED, side="agent"),
        ivr_call("I4", 100, ["main", "balance"], None)(110, ev.CALL_ENDED, side="caller"),
        ivr_call("I5", 120, ["main"], ("main", "caller_left"))(122, ev.CALL_ENDED, side="caller"),
        ivr_call("I6", 140, ["main", "main", "main"], ("main", "retries_exhausted"))(
            150, ev.CALL_ENDED, side="system"
        ),
        ivr_call("I7", 160, ["main", "balance"], ("balance", "max_time"))(
            170, ev.CALL_ENDED, side="system"
        ),
        ivr_call("O1", later, ["outage"], ("outage", "closed"), dialled="4008")(
            later + 5, ev.CALL_ENDED, side="system"
        ),
        ivr_call("O2", later + 20, ["outage"], ("outage", "transferred"), dialled="4008")(
            later + 30, ev.CALL_ENDED, side="system"
        ),
        ivr_call("O3", later + 40, ["outage", "menu2"], ("menu2", "voicemail"), dialled="4008")(
            later + 43, ev.CALL_VOICEMAIL
        )(later + 60, ev.CALL_ENDED, side="caller"),
        Script("N1")(200, ev.CALL_ARRIVED)(201, ev.CALL_QUEUED)(202, ev.CALL_ANSWERED)(
            260, ev.CALL_ENDED, side="agent"
        ),
    ]
    return sorted((e for s in scripts for e in s.events), key=lambda e: e.ts)


@pytest.fixture
def ivr_loaded(store: ChdbStore) -> Statistics:
    records = build_records(ivr_events())
    store.insert_records(records)
    store.insert_records(records)  # a replayed batch: FINAL counts each call once
    return Statistics(store)


COUNTS = ["ivr_calls", "self_served", "to_agent", "abandoned_in_ivr", "other"]


def containment(df: pd.DataFrame) -> dict[tuple[str, str], list[object]]:
    return {
        (str(r["dialled"]), str(r["flow"])): [int(r[c]) for c in COUNTS]
        + [pytest.approx(r["containment_rate"])]
        for r in df.to_dict("records")
    }


def test_ivr_containment_per_dialled_number_and_flow(ivr_loaded: Statistics) -> None:
    df = ivr_loaded.ivr_containment()
    assert list(df.columns) == ["dialled", "flow", *COUNTS, "containment_rate"]
    assert containment(df) == {
        # self-served I1 I2; to an agent I3; left in the IVR I4 I5; other I6 I7.
        ("95598", "main"): [7, 2, 1, 2, 2, 2 / 7],
        # transferred O2 counts as to an agent; closed O1 and voicemail O3 as other.
        ("4008", "outage"): [3, 0, 1, 0, 2, 0.0],
        ("*", "*"): [10, 2, 2, 2, 4, 0.2],
    }
    assert all(df[c].dtype.kind in "iu" for c in COUNTS), df.dtypes


def test_ivr_containment_by_period_and_number(ivr_loaded: Statistics) -> None:
    first_hour = ivr_loaded.ivr_containment(start=T0, end=T0 + HOUR)
    assert containment(first_hour) == {
        ("95598", "main"): [7, 2, 1, 2, 2, 2 / 7],
        ("*", "*"): [7, 2, 1, 2, 2, 2 / 7],
    }
    only = ivr_loaded.ivr_containment(dialled=["4008"])
    assert list(only["flow"]) == ["outage", "*"]
    nothing = ivr_loaded.ivr_containment(start=T0 + 2 * HOUR)
    assert containment(nothing) == {
        ("*", "*"): [0, 0, 0, 0, 0, pytest.approx(float("nan"), nan_ok=True)]
    }


def dropoff(df: pd.DataFrame) -> list[tuple[object, ...]]:
    return [
        (
            str(r["flow"]),
            str(r["node"]),
            int(r["step"]),
            int(r["visits"]),
            int(r["caller_left"]),
            int(r["failed"]),
            pytest.approx(r["drop_off_rate"]),
        )
        for r in df.to_dict("records")
    ]


def test_ivr_dropoff_per_node_in_flow_path_order(ivr_loaded: Statistics) -> None:
    assert dropoff(ivr_loaded.ivr_dropoff()) == [
        # flow, node, step, visits, caller left there, failed there, left / visits
        # main: 7 calls (I6's three visits count once); I5 left, I6 ran out of retries.
        ("main", "main", 1, 7, 1, 1, 1 / 7),
        # balance: I1 I2 I4 I7; I4 left without an ivr_done, I7 hit max_time.
        ("main", "balance", 2, 4, 1, 1, 1 / 4),
        # billing, also step 2 but fewer visits: I3 was queued from there.
        ("main", "billing", 2, 1, 0, 0, 0.0),
        ("outage", "outage", 1, 3, 0, 0, 0.0),
        ("outage", "menu2", 2, 1, 0, 0, 0.0),
    ]
    assert dropoff(ivr_loaded.ivr_dropoff(dialled=["4008"], end=T0 + 2 * HOUR)) == [
        ("outage", "outage", 1, 3, 0, 0, 0.0),
        ("outage", "menu2", 2, 1, 0, 0, 0.0),
    ]
    assert ivr_loaded.ivr_dropoff(start=T0 + 2 * HOUR).empty


def test_cdr_list_has_the_ivr_result_and_exit_node(ivr_loaded: Statistics) -> None:
    listed = ivr_loaded.cdr_list(correlation_ids=["I3", "I4", "N1"])
    got = {
        r["correlation_id"]: (list(r["ivr_path"]), r["ivr_result"], r["ivr_exit_node"])
        for r in listed.to_dict("records")
    }
    assert got == {
        "I3": (["main", "billing"], "queued", "billing"),
        "I4": (["main", "balance"], "caller_left", "balance"),
        "N1": ([], "", ""),
    }


def test_ivr_inputs_appear_in_no_stored_column(ivr_loaded: Statistics, store: ChdbStore) -> None:
    for table in ("cdr", "cdr_leg"):
        text = store.query_df(f"SELECT * FROM {store.database}.{table}").to_csv()
        assert "balance" in text or table == "cdr_leg"
        assert ACCOUNT not in text, table


def test_migration_006_gives_stored_cdrs_the_fold_s_ivr_result(
    store: ChdbStore, chdb_dir: Path, tmp_path: Path
) -> None:
    # A store at version 5 with CDRs written before call.ivr_done existed. After the
    # migration they read what the fold makes of the same events (no ivr_done in them).
    events = [e for e in ivr_events() if e.kind != ev.CALL_IVR_DONE]
    cdrs = build_records(events).cdrs
    for path in sorted(SCHEMA_DIR.glob("00[1-5]_*.sql")):
        (tmp_path / path.name).write_text(path.read_text())
    old = ChdbStore(chdb_dir, database=f"{store.database}_v5", migrate=False)
    try:
        assert apply_migrations(old.execute, old._applied, old.database, tmp_path) == [
            1,
            2,
            3,
            4,
            5,
        ]
        insert_before_006(old, Records(cdrs, [], []))
        assert old.migrate() == [6, 7, 8, 9]
        stored = old.query_df(
            f"SELECT correlation_id, ivr_result, ivr_exit_node, wrap_up_code "
            f"FROM {old.database}.cdr FINAL"
        )
        assert set(stored["wrap_up_code"]) == {""}, "007: stored CDRs have no wrap-up code"
        got = {
            r["correlation_id"]: (r["ivr_result"], r["ivr_exit_node"])
            for r in stored.to_dict("records")
        }
        assert got == {c.correlation_id: (c.ivr_result, c.ivr_exit_node) for c in cdrs}
        assert got["I4"] == ("caller_left", "balance") and got["I3"] == ("queued", "billing")
        assert got["N1"] == ("", "")
        # A crash before the version is recorded re-runs the file: harmless.
        (migration,) = [m for m in load_migrations() if m.version == 6]
        assert len(migration.statements) == 2
        for statement in migration.statements:
            old.execute(statement.replace("{db}", old.database))
        # New CDRs carry what the IVR said; the reports read both alike.
        old.insert_records(build_records(ivr_events()))
        total = Statistics(old).ivr_containment().to_dict("records")[-1]
        assert [total[c] for c in COUNTS] == [10, 2, 2, 2, 4]
    finally:
        old.execute(f"DROP DATABASE IF EXISTS {old.database}")
        old.close()
