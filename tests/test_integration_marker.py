"""`pytest -m "not integration"` leaves out every test that starts a service process.

The marker is applied by tests/conftest.py's collection hook (a `pytestmark` in a
conftest.py is not). This collects a sample of modules the way a quick run does, in a
separate pytest (collection only: it imports the modules, starts nothing), and checks
which tests it keeps: one of each way a test gets the marker, and pure unit tests,
also those beside component tests in their package's folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> a test in it, and whether a quick run keeps it
SAMPLE = {
    # under tests/integration/, the whole stack
    "tests/integration/test_hunting.py": ("test_busy_agent_moves_to_the_next_agent_at_once", False),
    # through a fixture that starts a process: `rig` -> `engine` (rtpengine) and
    # `redis_port`; `make_replica` -> `redis_server`; `controller` -> `engine`
    "tests/controller/acd_driver/test_answered.py": (
        "test_offered_rung_answered_audio_both_ways_then_caller_hangs_up",
        False,
    ),
    "tests/acdsvc/test_agent_rpcs.py": (None, False),
    "tests/controller/test_transfer.py": (None, False),
    # through a fixture that starts redis-server (`r` -> `redis_url`)
    "tests/eventlog/test_eventlog_redis.py": ("test_every_kind_round_trips_through_redis", False),
    # modules that start redis-server (and the CDR service) themselves
    "tests/analytics/test_analytics_service.py": (None, False),
    "tests/controller/test_event_publisher.py": (None, False),
    # through a fixture that starts PostgreSQL (`postgres_url`)
    "tests/bizdata/test_postgres.py": (None, False),
    # beside tests that start the example HTTP API (`billing_api`), pure SQLite ones
    "tests/bizdata/test_sources.py": ("test_the_store_finds_an_account_by_number", True),
    # pure: chDB runs in-process
    "tests/analytics/test_analytics_store.py": ("test_split_statements_ignores_comments", True),
    # pure, beside component tests in their package's folder: the controller's call
    # logic and its ACD driver against fakes
    "tests/controller/test_call_control_rules.py": (
        "test_transition_table_has_the_new_states_and_nothing_more",
        True,
    ),
    "tests/controller/acd_driver/test_driver_logic.py": (
        "test_the_offer_in_the_reply_and_on_the_feed_rings_once",
        True,
    ),
}


def test_a_quick_run_keeps_only_tests_that_start_no_service() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not integration",
            *SAMPLE,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    quick = {line.split("[")[0] for line in done.stdout.splitlines() if "::" in line}
    kept_modules = {node.partition("::")[0] for node in quick}
    for module, (test, kept) in SAMPLE.items():
        assert (module in kept_modules) is kept, (module, sorted(kept_modules))
        if test is not None:
            assert (f"{module}::{test}" in quick) is kept, (module, test)
