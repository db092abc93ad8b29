"""Hang-up to CDR visible in a dashboard query: p50/p99 latency (target p99 < 5 s).

    .venv/bin/python benchmarks/cdr_freshness.py [--calls 300 --rate 20]

Starts its own redis-server and the real CDR service (`python -m analytics.service`,
chDB in a tmp dir) on free loopback ports. A simulated call source appends each
call's events to the Redis event log; `benchmarks/_freshness.py` (the same probe
`acd_inbound.py --cdr` uses on the real stack) measures from each `call.ended`'s
`ts` until `cdr_list` on the service, asked as the dashboards ask, returns the CDR.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import eventlog as ev  # noqa: E402
from benchmarks._freshness import FreshnessProbe  # noqa: E402
from eventlog import Event, EventLog  # noqa: E402
from testbed import redis_server, start_cdr_service  # noqa: E402


def call_events(cid: str, t: float) -> tuple[list[Event], Event]:
    before = [
        Event.new(
            ev.CALL_ARRIVED,
            correlation_id=cid,
            ts=t - 30,
            trunk="t1",
            caller="138",
            dialled="95598",
            category="billing",
        ),
        Event.new(ev.CALL_QUEUED, correlation_id=cid, ts=t - 29, queue="billing", priority="0"),
        Event.new(
            ev.CALL_ANSWERED, correlation_id=cid, ts=t - 20, agent="1001", seat="1", leg_id=""
        ),
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
            client = redis.Redis(port=port)
            log = EventLog(client)
            probe = FreshnessProbe(client, ev.DEFAULT_STREAM, svc.client, poll_s=args.poll).start()
            start = time.monotonic()
            for i in range(args.calls):
                target = start + i / args.rate
                delay = target - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing the load, not synchronisation
                before, end = call_events(f"fresh-{i}", time.time())
                log.append_many(before)
                log.append(end)  # its ts is the hang-up the probe measures from
            result = probe.stop(timeout_s=120)
            print(f"calls {args.calls} at {args.rate}/s, poll {args.poll}s: {result.line()}")
            print(f"load average after: {os.getloadavg()}")
        finally:
            svc.stop()


if __name__ == "__main__":
    main()
