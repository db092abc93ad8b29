"""The CDR service process: restarts and crashes mid-batch lose and double nothing.

A real redis-server and `python -m analytics.service` (chDB) run as subprocesses.
The service is (1) killed by fault injection right after a store insert and before
the ack, (2) SIGKILLed while events flow, (3) stopped with SIGTERM; the CDRs read
back through its API must equal what a single pure fold of all events gives.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pandas as pd
import pytest
import redis

import eventlog as ev
from analytics import build_records, daemon_argv, health_probe
from configuration import AnalyticsConfig, parse_dsn
from eventlog import Event, EventLog
from testbed import REDIS_SERVER, redis_server, start_cdr_service, wait_until
from tests.analytics.analytics_scenarios import T0, Script, agent

pytestmark = pytest.mark.skipif(
    not Path(REDIS_SERVER).exists(), reason="redis-server binary not installed"
)


def calls(n: int, seed: int = 7) -> list[Event]:
    """n calls over three queues: answered (with hold and tagged wrap-up), abandoned,
    overflowed; agents a0..a4 log in first."""
    rng = random.Random(seed)
    out: list[Event] = []
    for a in range(5):
        out += agent(f"a{a}", T0 - 50, (0, "idle", ""))
    for i in range(n):
        base = T0 + i * 7
        q = ["billing", "outage", "sales"][i % 3]
        who = f"a{i % 5}"
        s = Script(f"c{i:04d}", base)(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED, queue=q)
        wait = rng.randint(2, 40)
        roll = rng.random()
        if roll < 0.7:
            s(wait, ev.CALL_RINGING, agent=who, seat=f"s{who}", leg_id=f"L{i}")
            s(wait + 2, ev.CALL_ANSWERED, agent=who, seat=f"s{who}", leg_id=f"L{i}")
            s(wait + 10, ev.CALL_HOLD)(wait + 15, ev.CALL_RESUME)
            s(wait + 60, ev.CALL_ENDED, side="agent")
        elif roll < 0.9:
            s(wait, ev.CALL_ENDED, cause="487")
        else:
            s(wait, ev.CALL_OVERFLOW, from_queue=q)(wait + 1, ev.CALL_ENDED, side="system")
        out += s.events
    return sorted(out, key=lambda e: e.ts)


def expected_cdrs(events: list[Event]) -> pd.DataFrame:
    records = build_records(events)
    df = pd.DataFrame(
        [
            {
                "correlation_id": c.correlation_id,
                "queue": c.queue,
                "disposition": c.disposition,
                "wait_s": c.wait_s,
                "talk_s": c.talk_s,
                "hold_s": c.hold_s,
            }
            for c in records.cdrs
        ]
    )
    return df.sort_values("correlation_id").reset_index(drop=True)


def got_cdrs(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["correlation_id", "queue", "disposition", "wait_s", "talk_s", "hold_s"]
    return df[cols].sort_values("correlation_id").reset_index(drop=True)


def test_service_restart_and_crashes_lose_and_double_nothing(tmp_path: Path) -> None:
    events = calls(90)
    thirds = [
        events[: len(events) // 3],
        events[len(events) // 3 : 2 * len(events) // 3],
        events[2 * len(events) // 3 :],
    ]
    with redis_server(tmp_path / "redis") as port:
        r = redis.Redis(port=port)
        log = EventLog(r)
        log.append_many(thirds[0])

        # 1. Dies right after its 2nd insert, before the ack: that batch stays pending.
        svc = start_cdr_service(
            tmp_path, port, fault="exit_after_insert:2", batch_size=17, tag="run1"
        )
        assert svc.proc.wait(timeout=60) == 70, svc.log()
        pending = r.xpending("cc:events", "cdr")
        assert pending["pending"] > 0  # the crash left unacknowledged entries

        # 2. Restarted; events keep coming; SIGKILLed once it has made progress.
        svc = start_cdr_service(tmp_path, port, batch_size=17, tag="run2")
        svc.wait_healthy()
        log.append_many(thirds[1][: len(thirds[1]) // 2])
        wait_until(
            lambda: svc.client.health()["events"] > 0, timeout=30, what="second run consumed events"
        )
        log.append_many(thirds[1][len(thirds[1]) // 2 :])
        assert svc.stop(signal.SIGKILL) == -signal.SIGKILL

        # 3. Restarted again: the rest arrives, then a clean SIGTERM.
        log.append_many(thirds[2])
        svc = start_cdr_service(tmp_path, port, batch_size=17, tag="run3")
        svc.wait_healthy()
        expected = expected_cdrs(events)

        def complete() -> bool:
            return len(svc.client.report("cdr_list")) == len(expected)

        wait_until(complete, timeout=60, what=f"{len(expected)} CDRs through the API")
        wait_until(
            lambda: r.xpending("cc:events", "cdr")["pending"] == 0,
            timeout=30,
            what="every entry acknowledged",
        )
        got = got_cdrs(svc.client.report("cdr_list"))
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)

        summary = svc.client.report("queue_summary", threshold_s=20)
        assert int(summary["offered"].sum()) == len(expected)
        volume = svc.client.report("queue_volume")
        assert int(volume["offered"].sum()) == len(expected)  # the rollup did not double
        agents = svc.client.report("agent_summary")
        answered = (expected["disposition"] == "answered").sum()
        assert int(agents["calls"].sum()) == answered
        assert svc.stop(signal.SIGTERM) == 0, svc.log()
        r.close()


def test_report_errors_are_http_400(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as port:
        svc = start_cdr_service(tmp_path, port)
        try:
            svc.wait_healthy()
            with pytest.raises(Exception, match=r"HTTP 400.*unknown report"):
                svc.client.report("drop_everything")
            with pytest.raises(Exception, match=r"HTTP 400.*unexpected keyword"):
                svc.client.report("queue_summary", bogus=1)
            assert svc.client.report("queue_summary").empty
            assert health_probe(AnalyticsConfig(listen=svc.client.url.split("//")[1]))()
        finally:
            assert svc.stop() == 0, svc.log()


def test_config_model_and_daemon_spec() -> None:
    cfg = AnalyticsConfig.model_validate(
        {"store": "clickhouse", "clickhouse_dsn": "clickhouse://u:p%40ss@db:9440/cc"}
    )
    dsn = cfg.dsn()
    assert (dsn.host, dsn.port, dsn.user, dsn.password, dsn.database) == (
        "db",
        9440,
        "u",
        "p@ss",
        "cc",
    )
    assert parse_dsn("clickhouse://127.0.0.1").database == "callcenter"
    with pytest.raises(ValueError):
        AnalyticsConfig.model_validate({"bogus": 1})
    with pytest.raises(ValueError):
        AnalyticsConfig.model_validate({"clickhouse_dsn": "http://x"})
    argv = daemon_argv("run/cdr.json", python="/v/bin/python")
    assert argv[:4] == ["/v/bin/python", "-m", "analytics.service", "--config"]
    assert argv[4].endswith("run/cdr.json")
    assert not health_probe(AnalyticsConfig(listen="127.0.0.1:1"), timeout=0.2)()
