"""Hang-up to CDR visible in a dashboard query: p50/p99 latency (target p99 < 5 s).

    .venv/bin/python benchmarks/cdr_freshness.py [--calls 300 --rate 20]

Starts its own redis-server and the real CDR service (`python -m analytics.service`,
chDB in a tmp dir) on free loopback ports. A simulated call source appends each
call's events to the Redis event log (the call path does not emit call events
yet; the ACD service emits agent and queue events), then, at the hang-up
(`call.ended` XADD), starts a clock. A poller asks the service exactly as the
dashboards do (ServiceClient -> POST /v1/report cdr_list) until the CDR is there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import eventlog as ev  # noqa: E402
from eventlog import Event, EventLog  # noqa: E402
from tests.support.cdr_stack import redis_server, start_cdr_service  # noqa: E402


def call_events(cid: str, t: float) -> tuple[list[Event], Event]:
    before = [
        Event.new(ev.CALL_ARRIVED, correlation_id=cid, ts=t - 30, trunk="t1", caller="138",
                  dialled="95598", category="billing"),
        Event.new(ev.CALL_QUEUED, correlation_id=cid, ts=t - 29, queue="billing",
                  priority="0"),
        Event.new(ev.CALL_ANSWERED, correlation_id=cid, ts=t - 20, agent="1001", seat="1",
                  leg_id=""),
    ]
    end = Event.new(ev.CALL_ENDED, correlation_id=cid, ts=t, cause="200", side="caller")
    return before, end


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="hang-ups per second")
    parser.add_argument("--poll", type=float, default=0.05, help="dashboard poll interval")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp) / "redis") as port:
        svc = start_cdr_service(Path(tmp) / "cdr", port, block_ms=1000)
        try:
            svc.wait_healthy()
            log = EventLog(redis.Redis(port=port))
            ended_at: dict[str, float] = {}
            seen_at: dict[str, float] = {}
            done = threading.Event()

            def poller() -> None:
                while not done.is_set() or len(seen_at) < len(ended_at):
                    pending = [c for c in list(ended_at) if c not in seen_at]
                    if pending:
                        df = svc.client.report("cdr_list", correlation_ids=pending)
                        now = time.monotonic()
                        for cid in df["correlation_id"]:
                            seen_at.setdefault(str(cid), now)
                    time.sleep(args.poll)

            thread = threading.Thread(target=poller)
            thread.start()
            start = time.monotonic()
            for i in range(args.calls):
                cid = f"fresh-{i}"
                before, end = call_events(cid, time.time())
                log.append_many(before)
                target = start + i / args.rate
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                log.append(end)
                ended_at[cid] = time.monotonic()
            done.set()
            thread.join(timeout=120)
            lat = sorted(seen_at[c] - ended_at[c] for c in ended_at if c in seen_at)
            missing = len(ended_at) - len(lat)
            p = statistics.quantiles(lat, n=100, method="inclusive")
            print(f"calls {args.calls} at {args.rate}/s, poll {args.poll}s: "
                  f"p50 {statistics.median(lat) * 1000:.0f} ms, p90 {p[89] * 1000:.0f} ms, "
                  f"p99 {p[98] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms, missing {missing}")
            print(f"target p99 < 5000 ms: {'MET' if p[98] < 5 and not missing else 'NOT MET'}")
            print(f"load average after: {os.getloadavg()}")
        finally:
            svc.stop()


if __name__ == "__main__":
    main()
