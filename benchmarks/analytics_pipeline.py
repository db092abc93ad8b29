"""Analytics pipeline figures on embedded chDB (R-STAT-1, R-PERF-5).

    .venv/bin/python benchmarks/analytics_pipeline.py            # full: 10 M CDRs
    .venv/bin/python benchmarks/analytics_pipeline.py --rows 1000000 --calls 50000

1. events -> CDRs -> chDB in one process (target >= 50,000 calls/s): Event objects
   are made first (that is the emitters' cost) and frozen out of the cyclic GC
   (gc.freeze; --no-gc-freeze for the old method), then timed: CdrBuilder.add for
   every event, drain, and ChdbStore.insert_records in batches.
2. bulk insert into chDB (target >= 1 M rows/s): synthetic CDR columns (numpy /
   Arrow) through ChdbStore.insert_columns, in chunks of --chunk rows. Chunks follow
   each other in time (chunk i covers the i-th slice of the 30 days), as the
   collector's batches and a history import in time order do; --spread-chunks makes
   every chunk cover all 30 days (the layout of earlier runs, the worst case for
   FINAL: every part overlaps every other).
3. every report query over --rows CDRs (target < 0.5 s each): the table from step 2
   (plus one ring leg per answered call and agent state intervals), queried with
   FINAL over the whole range; best and first of --repeat runs are printed three
   times: straight after the load (every part unmerged), with every day but the
   newest merged into one part (what the tables' force-merge of quiet days leaves;
   done here with OPTIMIZE ... PARTITION ... FINAL), and after OPTIMIZE FINAL.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import eventlog as ev
from analytics import CdrBuilder, ChdbStore, Statistics
from eventlog import Event

T0 = 1_700_006_400.0
QUEUES = [f"q{i:02d}" for i in range(20)]
AGENTS = [f"agent{i:03d}" for i in range(500)]


# -- 1. events -> CDRs -> chDB ---------------------------------------------------------


def make_call_events(n_calls: int, seed: int = 1) -> list[Event]:
    rng = random.Random(seed)
    out: list[Event] = []
    mk = Event
    for i in range(n_calls):
        cid = f"call-{i}"
        t = T0 + i * 0.05
        q = QUEUES[i % len(QUEUES)]
        a = AGENTS[i % len(AGENTS)]

        def e(dt: float, kind: str, data: dict[str, str], cid: str = cid, t: float = t) -> None:
            out.append(mk(kind=kind, ts=t + dt, correlation_id=cid, node="bench", data=data))

        e(
            0,
            ev.CALL_ARRIVED,
            {"trunk": "t1", "caller": "138", "dialled": "95598", "category": "billing"},
        )
        e(1, ev.CALL_IVR_STEP, {"ivr_node": "main", "input": "1"})
        e(3, ev.CALL_QUEUED, {"queue": q, "priority": "0"})
        roll = rng.random()
        wait = rng.uniform(1, 60)
        if roll < 0.8:
            e(
                3 + wait - 2,
                ev.CALL_RINGING,
                {"agent": a, "seat": "s", "leg_id": "L1", "attempt": "1"},
            )
            e(3 + wait, ev.CALL_ANSWERED, {"agent": a, "seat": "s", "leg_id": "L1"})
            e(3 + wait + 120, ev.CALL_ENDED, {"cause": "200", "side": "caller"})
        else:
            e(3 + wait, ev.CALL_ENDED, {"cause": "487", "side": "caller"})
    return out


def bench_events_to_chdb(
    store: ChdbStore, n_calls: int, batch_events: int, *, freeze_events: bool = True
) -> float:
    events = make_call_events(n_calls)
    if freeze_events:
        # The pre-made events (~1 M GC-tracked objects with their data dicts) exist
        # only because the benchmark makes them up front; a collector decodes each
        # batch as it arrives. Freezing them keeps the cyclic GC from re-scanning
        # this setup data during the timed loop; the builder's own state is still
        # collected as usual.
        gc.collect()
        gc.freeze()
    builder = CdrBuilder()
    add = builder.add
    started = time.perf_counter()
    for start in range(0, len(events), batch_events):
        for event in events[start : start + batch_events]:
            add(event)
        store.insert_records(builder.drain())
    elapsed = time.perf_counter() - started
    if freeze_events:
        gc.unfreeze()
    rate = n_calls / elapsed
    print(
        f"events->CDRs->chDB : {n_calls:>10,} calls ({len(events):,} events) "
        f"in {elapsed:6.2f} s = {rate:>12,.0f} calls/s   (target >= 50,000"
        f"{'' if freeze_events else '; setup events not GC-frozen'})"
    )
    return rate


# -- 2. bulk insert ----------------------------------------------------------------------


def _dict(indices: np.ndarray, values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype("int32")), pa.array(values))


def synthetic_cdrs(
    start: int, n: int, span_s: float, rng: np.random.Generator
) -> dict[str, object]:
    numbers = pa.array(np.arange(start, start + n)).cast(pa.string())
    ids = pc.binary_join_element_wise("c", numbers, "")
    arrived = T0 + np.sort(rng.uniform(0, span_s, n))
    queued_mask = rng.random(n) < 0.95
    wait = rng.exponential(25.0, n)
    disp_idx = np.where(rng.random(n) < 0.8, 0, np.where(rng.random(n) < 0.7, 1, 2))
    disp_idx = np.where(queued_mask, disp_idx, 3)
    dispositions = ["answered", "abandoned_queue", "abandoned_ringing", "abandoned_ivr"]
    answered = disp_idx == 0
    queued_at = np.where(queued_mask, arrived + 3, np.nan)
    answered_at = np.where(answered, queued_at + wait, np.nan)
    talk = np.where(answered, rng.exponential(180.0, n), 0.0)
    ended = np.where(answered, answered_at + talk, arrived + 3 + wait)
    agent_idx = rng.integers(0, len(AGENTS), n)
    ivr_offsets = np.concatenate([[0], np.cumsum(np.ones(n, dtype="int32"))]).astype("int32")
    return {
        "correlation_id": ids,
        "trunk": _dict(np.zeros(n), ["cmcc-1"]),
        "caller": ids,
        "dialled": _dict(np.zeros(n), ["95598"]),
        "category": _dict(rng.integers(0, 3, n), ["billing", "outage", "other"]),
        "arrived_at": arrived,
        "queued_at": queued_at,
        "answered_at": answered_at,
        "ended_at": ended,
        "queue": _dict(rng.integers(0, len(QUEUES), n), QUEUES),
        "agent": _dict(np.where(answered, agent_idx, len(AGENTS)), [*AGENTS, ""]),
        "seat": _dict(np.zeros(n), ["s"]),
        "ivr_path": pa.ListArray.from_arrays(
            pa.array(ivr_offsets), pa.array(["main"] * 1).take(np.zeros(n, "int32"))
        ),
        # Every call passes the IVR's "main" node: queued from there, or the caller left.
        "ivr_result": _dict(np.where(queued_mask, 0, 1), ["queued", "caller_left"]),
        "ivr_exit_node": _dict(np.zeros(n), ["main"]),
        "wait_s": np.where(queued_mask, wait, 0.0),
        "talk_s": talk,
        "hold_s": np.zeros(n),
        "wrapup_s": np.where(answered, 10.0, 0.0),
        "disposition": _dict(disp_idx, dispositions),
        "hangup_cause": _dict(np.zeros(n), ["200"]),
        "hangup_side": _dict(np.zeros(n), ["caller"]),
        "recording_ref": pa.array([""] * 1).take(np.zeros(n, "int32")),
        "transfers": np.zeros(n, dtype="uint16"),
        "version": np.ones(n, dtype="uint64"),
        "wrap_up_code": _dict(np.where(answered, 0, 1), ["resolved", ""]),
        "recording_pauses": np.zeros(n, dtype="uint16"),
        "voicemail_box": _dict(np.zeros(n), [""]),
        "message_played": np.zeros(n, dtype="uint8"),
        "_answered": answered,
        "_agent_idx": agent_idx,
    }


def legs_from(cdrs: dict[str, object]) -> dict[str, object]:
    answered = np.asarray(cdrs["_answered"])
    sel = np.flatnonzero(answered)
    n = len(sel)
    take = pa.array(sel)
    ans = np.asarray(cdrs["answered_at"])[sel]
    return {
        "correlation_id": pc.take(cdrs["correlation_id"], take),
        "seq": np.ones(n, dtype="uint16"),
        "leg_kind": _dict(np.zeros(n), ["ring"]),
        "leg_id": _dict(np.zeros(n), ["L1"]),
        "agent": _dict(np.asarray(cdrs["_agent_idx"])[sel], AGENTS),
        "seat": _dict(np.zeros(n), ["s"]),
        "attempt": np.ones(n, dtype="uint16"),
        "started_at": ans - 2,
        "answered_at": ans,
        "ended_at": np.asarray(cdrs["ended_at"])[sel],
        "outcome": _dict(np.zeros(n), ["answered"]),
        "talk_s": np.asarray(cdrs["talk_s"])[sel],
        "hold_s": np.zeros(n),
        "to_kind": _dict(np.zeros(n), [""]),
        "to_target": _dict(np.zeros(n), [""]),
        "mode": _dict(np.zeros(n), [""]),
        "version": np.ones(n, dtype="uint64"),
    }


def intervals(span_s: float, rng: np.random.Generator) -> dict[str, object]:
    # Each agent cycles ready -> on_call -> wrap_up -> ready ... every ~5 minutes.
    per_agent = int(span_s // 100)
    n = per_agent * len(AGENTS)
    agent_idx = np.repeat(np.arange(len(AGENTS)), per_agent)
    start = T0 + np.tile(np.arange(per_agent) * 100.0, len(AGENTS))
    return {
        "agent": _dict(agent_idx, AGENTS),
        "seat": _dict(np.zeros(n), ["s"]),
        "state": _dict(
            np.tile(np.arange(per_agent) % 3, len(AGENTS)), ["idle", "talking", "wrap_up"]
        ),
        "start": start,
        "end": start + 100.0,
        "reason": _dict(np.zeros(n), [""]),
        "correlation_id": _dict(np.zeros(n), [""]),
        "version": np.ones(n, dtype="uint64"),
    }


def bench_bulk(store: ChdbStore, rows: int, chunk: int, *, spread: bool = False) -> float:
    rng = np.random.default_rng(7)
    span = 30 * 86400.0
    slices = -(-rows // chunk)
    total = 0
    insert_s = 0.0
    leg_rows = 0
    leg_s = 0.0
    for index, start in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - start)
        if spread:
            cols = synthetic_cdrs(start, n, span, rng)
        else:
            cols = synthetic_cdrs(start, n, span / slices, rng)
            for name in ("arrived_at", "queued_at", "answered_at", "ended_at"):
                cols[name] = np.asarray(cols[name]) + index * span / slices
        t = time.perf_counter()
        total += store.insert_columns("cdr", cols)
        insert_s += time.perf_counter() - t
        legs = legs_from(cols)
        t = time.perf_counter()
        leg_rows += store.insert_columns("cdr_leg", legs)
        leg_s += time.perf_counter() - t
    store.insert_columns("agent_state_interval", intervals(span, rng))
    rate = total / insert_s
    print(
        f"bulk insert cdr    : {total:>10,} rows in {insert_s:6.2f} s = {rate:>12,.0f} rows/s"
        f"   (target >= 1,000,000)"
    )
    print(
        f"bulk insert legs   : {leg_rows:>10,} rows in {leg_s:6.2f} s = "
        f"{leg_rows / leg_s:>12,.0f} rows/s"
    )
    return rate


def bench_queries(store: ChdbStore, repeat: int) -> dict[str, float]:
    stats = Statistics(store)
    reports = {
        "queue_volume": stats.queue_volume,
        "queue_summary T=20": lambda: stats.queue_summary(threshold_s=20),
        "queue_summary 15-min": lambda: stats.queue_summary(interval_minutes=15),
        "service_level T=30": lambda: stats.service_level(threshold_s=30),
        "agent_summary": stats.agent_summary,
        "ivr_containment": stats.ivr_containment,
        "ivr_dropoff": stats.ivr_dropoff,
        "queue_summary 1 day": lambda: stats.queue_summary(start=T0 + 86400, end=T0 + 2 * 86400),
    }
    best: dict[str, float] = {}
    for name, run in reports.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            df = run()
            times.append(time.perf_counter() - t)
        best[name] = min(times)
        flag = "ok" if best[name] < 0.5 else "SLOW"
        print(
            f"query {name:<24}: best {best[name]:6.3f} s, first {times[0]:6.3f} s, "
            f"{len(df):>6} rows  [{flag}]"
        )
    return best


TABLES = ("cdr", "cdr_leg", "agent_state_interval")


def merge_all_but_newest_day(store: ChdbStore) -> float:
    """Merge every daily partition but the newest into one part, as the tables'
    min_age_to_force_merge_* settings do in the background once a day is quiet."""
    started = time.perf_counter()
    for table in TABLES:
        ids = store.query_df(
            "SELECT DISTINCT partition_id FROM system.parts WHERE active "
            f"AND database = '{store.database}' AND table = '{table}' ORDER BY partition_id"
        )
        for partition in ids["partition_id"].tolist()[:-1]:
            store.execute(
                f"OPTIMIZE TABLE {store.database}.{table} PARTITION ID '{partition}' FINAL"
            )
    return time.perf_counter() - started


def parts_note(store: ChdbStore) -> str:
    df = store.query_df(
        "SELECT count() AS parts, uniqExact(partition_id) AS days, countIf(level = 0) AS l0 "
        f"FROM system.parts WHERE active AND database = '{store.database}' AND table = 'cdr'"
    )
    r = df.iloc[0]
    return f"cdr: {r['parts']} parts in {r['days']} daily partitions, {r['l0']} never merged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="CDRs for bulk + queries")
    parser.add_argument("--calls", type=int, default=100_000, help="calls for events->chDB")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="rows per bulk insert")
    parser.add_argument(
        "--batch-events",
        type=int,
        default=100_000,
        help="events per builder batch (one insert per table per batch)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the pre-made events to the cyclic GC (the old method)",
    )
    parser.add_argument(
        "--insert-threads", type=int, default=2, help="parallel chDB sessions for bulk inserts"
    )
    parser.add_argument(
        "--spread-chunks",
        action="store_true",
        help="every bulk chunk spans all 30 days (worst case for FINAL)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="chDB data dir (default: tmp)")
    args = parser.parse_args()

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average {load}; {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="cc-bench-"))
    try:
        with ChdbStore(workdir, database="bench_events") as store:
            bench_events_to_chdb(
                store, args.calls, args.batch_events, freeze_events=not args.no_gc_freeze
            )
            bulk_store = ChdbStore(
                workdir, database="bench_bulk", insert_threads=args.insert_threads
            )
            with bulk_store as bulk:
                bench_bulk(bulk, args.rows, args.chunk, spread=args.spread_chunks)
                print(
                    f"-- reports as inserted (unmerged parts: FINAL merges at read time; "
                    f"{parts_note(bulk)})"
                )
                bench_queries(bulk, args.repeat)
                took = merge_all_but_newest_day(bulk)
                print(
                    f"-- reports with every day but the newest merged ({took:.1f} s; "
                    f"{parts_note(bulk)})"
                )
                bench_queries(bulk, args.repeat)
                t = time.perf_counter()
                for table in TABLES:
                    bulk.execute(f"OPTIMIZE TABLE {bulk.database}.{table} FINAL")
                print(
                    f"-- reports after OPTIMIZE ... FINAL ({time.perf_counter() - t:.1f} s), "
                    "the steady state once background merges caught up"
                )
                bench_queries(bulk, args.repeat)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
