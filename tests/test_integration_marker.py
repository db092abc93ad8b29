"""`pytest -m "not integration"` leaves out every test that starts a service process.

The marker is applied by tests/conftest.py's collection hook (a `pytestmark` in a
conftest.py is not). This collects a sample of modules the way a quick run does, in a
separate pytest (collection only: it imports the modules, starts nothing), and checks
which tests it keeps: one of each way a test gets the marker, and a pure unit test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> a test in it, and whether a quick run keeps it
SAMPLE = {
    # under a process folder
    "tests/integration/test_hunting.py":
        ("test_busy_agent_moves_to_the_next_agent_at_once", False),
    "tests/controller/acd_driver/test_answered.py":
        ("test_offered_rung_answered_audio_both_ways_then_caller_hangs_up", False),
    "tests/acdsvc/test_agent_rpcs.py": (None, False),
    "tests/controller/test_transfer.py": (None, False),
    # through a fixture that starts redis-server (`r` -> `redis_url`)
    "tests/eventlog/test_eventlog_redis.py":
        ("test_every_kind_round_trips_through_redis", False),
    # a unit module that starts redis-server and the CDR service itself
    "tests/analytics/test_analytics_service.py": (None, False),
    # pure: chDB runs in-process
    "tests/analytics/test_analytics_store.py":
        ("test_split_statements_ignores_comments", True),
}


def test_a_quick_run_keeps_only_tests_that_start_no_service() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", "not integration", *SAMPLE],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    quick = {line.split("[")[0] for line in done.stdout.splitlines() if "::" in line}
    kept_modules = {node.partition("::")[0] for node in quick}
    for module, (test, kept) in SAMPLE.items():
        assert (module in kept_modules) is kept, (module, sorted(kept_modules))
        if test is not None:
            assert (f"{module}::{test}" in quick) is kept, (module, test)
