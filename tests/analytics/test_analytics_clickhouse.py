"""The clickhouse-driver backend against a real clickhouse-server, when installed.

The server is started as a subprocess on free loopback ports with its data and a
generated config in a tmp dir. The store reads the server's version at connect and
picks the schema: the full one for >= 21, the reduced one (the same migrations
rewritten, analytics/_migrations.py) for Debian 12's 18.16. The statistics fixtures
of test_analytics_store run here too, against whichever schema the server got.
Skipped, with the reason, when no server binary is installed and apt has none to
offer (Debian 13); failed when apt has one (Debian 12), since scripts/install
installs it there.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_driver.errors import ServerException

import eventlog as ev
from analytics import ChdbStore, ClickHouseStore, Statistics, apply_migrations, build_records
from analytics._columns import rows_to_columns, to_driver_columns
from analytics._dialect import LEGACY, MODERN, legacy_ddl, parse_version
from analytics._migrations import LEGACY_OVERRIDES, SCHEMA_DIR, load_migrations
from eventlog import wrap_up_event
from scripts.debian_packages import Policy, apt_policy

# The fixture tests, collected again here with this module's `store` fixture.
from simulators import free_port
from tests.analytics.analytics_scenarios import RECORDING_VOICEMAIL_COLUMNS, T0, Script
from tests.analytics.test_analytics_store import (  # noqa: F401
    loaded,
    test_agent_summary,
    test_agent_summary_clips_intervals_to_the_range,
    test_cdr_list_returns_seat_ivr_path_and_recording_ref,
    test_empty_records_write_nothing,
    test_ivr_containment,
    test_queue_summary_by_interval_and_range,
    test_queue_summary_service_level_and_times,
    test_queue_volume_per_15_minutes,
    test_re_emitted_call_replaces_the_earlier_version,
    test_same_batch_twice_does_not_double,
    test_sql_is_exposed_for_every_report,
)
from tests.analytics.test_ivr_reports import (  # noqa: F401
    COUNTS,
    ivr_events,
    ivr_loaded,
    test_cdr_list_has_the_ivr_result_and_exit_node,
    test_ivr_containment_by_period_and_number,
    test_ivr_containment_per_dialled_number_and_flow,
    test_ivr_dropoff_per_node_in_flow_path_order,
    test_ivr_inputs_appear_in_no_stored_column,
)
from tests.analytics.test_monitor_sessions import day_of_sessions

# Debian installs the server in /usr/sbin, which a non-root user's PATH lacks.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])
SERVER = shutil.which("clickhouse-server", path=_SEARCH_PATH) or shutil.which("clickhouse")


def _apt_candidate(package: str) -> str | None:
    """What apt would install for package here, asked the way scripts/install asks."""
    try:
        return apt_policy([package]).get(package, Policy(package, None, None)).candidate
    except (OSError, subprocess.CalledProcessError):  # no apt at all: not a Debian
        return None


# Where apt offers a server, scripts/install installs it, so a missing one is an install
# that went wrong and fails; only a release without the package skips, and says so.
_CANDIDATE = None if SERVER else _apt_candidate("clickhouse-server")
pytestmark = pytest.mark.skipif(
    SERVER is None and _CANDIDATE is None,
    reason="clickhouse-server is not installed and apt has no candidate for it on "
    f"{platform.freedesktop_os_release().get('PRETTY_NAME', 'this system')} "
    "(Debian 12 ships 18.16; Debian 13 has none): the ClickHouseStore path is untested here",
)


@pytest.fixture(scope="module", autouse=True)
def _server_installed_where_apt_has_one() -> None:
    if SERVER is None:
        pytest.fail(
            f"clickhouse-server is not installed, but apt offers {_CANDIDATE}: run scripts/install"
        )


_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>information</level><log>{work}/server.log</log>
    <errorlog>{work}/server.err.log</errorlog><console>0</console></logger>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{work}/data/</path>
  <tmp_path>{work}/data/tmp/</tmp_path>
  <user_files_path>{work}/data/user_files/</user_files_path>
  <format_schema_path>{work}/data/format_schemas/</format_schema_path>
  <users_config>{work}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
"""

_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def binary_version(binary: str) -> tuple[int, int]:
    """The installed server's version without starting it.

    18.16's server binary has no --version ("Unknown option specified: version",
    which is why this used to read (0, 0)); its client and the Debian package do.
    """
    candidates = [
        [binary, "--version"],
        [str(Path(binary).with_name("clickhouse-client")), "--version"],
    ]
    if shutil.which("clickhouse-client"):
        candidates.append(["clickhouse-client", "--version"])
    candidates.append(["dpkg-query", "-W", "-f=${Version}", "clickhouse-server"])
    for argv in candidates:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
        except OSError:
            continue
        version = parse_version(out.stdout)
        if out.returncode == 0 and version != (0, 0):
            return version
    return (0, 0)


def test_version_parsing() -> None:
    assert parse_version("ClickHouse client version 18.16.1.") == (18, 16)
    assert parse_version("18.16.1+ds-7.3+b2") == (18, 16)
    assert parse_version("ClickHouse server version 24.3.2.23 (official build).") == (24, 3)
    assert parse_version("Unknown option specified: version") == (0, 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    assert SERVER is not None
    work: Path = tmp_path_factory.mktemp("clickhouse")
    tcp, http = free_port(), free_port()
    (work / "config.xml").write_text(_CONFIG.format(work=work, tcp=tcp, http=http))
    (work / "users.xml").write_text(_USERS)
    cmd = [SERVER] if SERVER.endswith("clickhouse-server") else [SERVER, "server"]
    proc = subprocess.Popen(
        [*cmd, f"--config-file={work}/config.xml"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = work / "server.err.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    pytest.fail(f"clickhouse-server did not start; see {work}: {tail}")
                time.sleep(0.05)  # polling a port with a deadline, not a fixed sleep
        yield tcp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def store(server: int) -> Iterator[ClickHouseStore]:
    db = f"t_{uuid.uuid4().hex[:12]}"
    s = ClickHouseStore(port=server, database=db, batch_rows=3)
    try:
        yield s
    finally:
        s.execute(f"DROP DATABASE IF EXISTS {db}")
        s.close()


def test_schema_follows_the_server_version(store: ClickHouseStore) -> None:
    expected = MODERN if store.server_version >= (21, 1) else LEGACY
    assert store.dialect is expected
    assert SERVER is not None
    installed = binary_version(SERVER)
    assert installed == store.server_version, (installed, store.server_version)
    columns = store.query_df(
        "SELECT name, type FROM system.columns "
        f"WHERE database = '{store.database}' AND table = 'cdr'"
    )
    types = dict(zip(columns["name"], columns["type"], strict=True))
    if expected is LEGACY:
        assert types["arrived_at"] == "DateTime('UTC')"
        assert not any("LowCardinality" in t for t in types.values())
    else:
        assert types["arrived_at"].startswith("DateTime64")


def test_the_server_has_the_tables_and_columns_chdb_has(
    store: ClickHouseStore, chdb_dir: Path
) -> None:
    # Both engines migrated from the one set of files: the same tables with the same
    # columns in the same order, and on 18.16 each type is the rewrite of chDB's.
    def columns(run: ChdbStore | ClickHouseStore) -> dict[str, list[tuple[str, str]]]:
        df = run.query_df(
            f"SELECT table, name, type FROM system.columns WHERE database = '{store.database}'"
        )
        got: dict[str, list[tuple[str, str]]] = {}
        for table, name, type_ in zip(df["table"], df["name"], df["type"], strict=True):
            got.setdefault(str(table), []).append((str(name), str(type_)))
        return got

    embedded = ChdbStore(chdb_dir, database=store.database)
    try:
        full = columns(embedded)
    finally:
        embedded.execute(f"DROP DATABASE IF EXISTS {store.database}")
        embedded.close()
    served = columns(store)
    assert (
        sorted(served)
        == sorted(full)
        == ["agent_state_interval", "cdr", "cdr_leg", "monitor_sessions", "schema_migrations"]
    )
    for table, typed in full.items():
        expected = typed
        if store.dialect is LEGACY:
            expected = [(name, legacy_ddl(type_)) for name, type_ in typed]
        assert served[table] == expected, table


def test_clickhouse_store_round_trip_and_idempotency(store: ClickHouseStore) -> None:
    assert store.migrate() == []
    events = (
        Script("X")(0, ev.CALL_QUEUED)(4, ev.CALL_ANSWERED)(64, ev.CALL_ENDED).events
        + Script("Y")(1, ev.CALL_QUEUED)(31, ev.CALL_ENDED).events
    )
    records = build_records(events)
    store.insert_records(records)
    store.insert_records(records)
    summary = Statistics(store).queue_summary(threshold_s=20)
    row = summary.to_dict("records")[0]
    assert (row["offered"], row["answered"], row["abandoned"]) == (2, 1, 1)
    assert row["asa_s"] == pytest.approx(4.0)
    assert Statistics(store).queue_volume()["offered"].tolist() == [2]
    assert sorted(Statistics(store).cdr_list()["correlation_id"]) == ["X", "Y"]
    legs = Statistics(store).leg_list()
    assert (legs["correlation_id"].tolist(), legs["outcome"].tolist()) == (["X"], ["answered"])
    # The agent desktop's history (agent_calls) and the wrap-up code, on this server too.
    store.insert_records(
        build_records(
            [*events, wrap_up_event("X", agent="a1", code="resolved", node="d", ts=T0 + 70)]
        )
    )
    (call,) = Statistics(store).agent_calls(agent="a1").to_dict("records")
    assert (call["call_id"], call["wrap_up_code"], call["talk_s"]) == ("X", "resolved", 60.0)


def test_migration_006_on_a_server_with_cdrs_and_run_twice(
    store: ClickHouseStore, server: int, tmp_path: Path
) -> None:
    # A database at version 5 holding CDRs from before call.ivr_done: after 006 they read
    # the fold's inferred result. Re-running 006 (a crash before its record) is harmless,
    # also on 18.16, which has no ADD COLUMN IF NOT EXISTS.
    for path in sorted(SCHEMA_DIR.glob("00[1-5]_*.sql")):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / LEGACY_OVERRIDES).mkdir()
    for path in sorted((SCHEMA_DIR / LEGACY_OVERRIDES).glob("00[1-5]_*.sql")):
        (tmp_path / LEGACY_OVERRIDES / path.name).write_text(path.read_text())
    db = f"{store.database}_v5"
    old = ClickHouseStore(port=server, database=db, migrate=False)
    try:
        applied = apply_migrations(
            old._migration_step, old._applied, db, tmp_path, old._record, dialect=old.dialect
        )
        assert applied == [1, 2, 3, 4, 5]
        cdrs = build_records([e for e in ivr_events() if e.kind != ev.CALL_IVR_DONE]).cdrs
        columns = rows_to_columns("cdr", cdrs)
        later = ("ivr_result", "ivr_exit_node", "wrap_up_code", *RECORDING_VOICEMAIL_COLUMNS)
        names = [n for n in columns if n not in later]
        typed = zip(columns, to_driver_columns("cdr", columns), strict=True)
        data = [col for name, col in typed if name in names]
        old._client.execute(
            f"INSERT INTO {db}.cdr ({', '.join(names)}) VALUES", data, columnar=True
        )
        assert old.migrate() == [6, 7, 8, 9]
        for version in (6, 7, 8):  # a re-run: the columns are there, the step is done
            (migration,) = [m for m in load_migrations(dialect=old.dialect) if m.version == version]
            for statement in migration.statements:
                old._migration_step(statement.replace("{db}", db))
        codes = old.query_df(f"SELECT DISTINCT wrap_up_code FROM {db}.cdr")
        assert codes["wrap_up_code"].tolist() == [""]
        later_columns = old.query_df(
            f"SELECT DISTINCT recording_pauses, voicemail_box, message_played FROM {db}.cdr"
        )
        assert later_columns.to_dict("records") == [
            {"recording_pauses": 0, "voicemail_box": "", "message_played": 0}
        ]
        stored = old.query_df(f"SELECT correlation_id, ivr_result, ivr_exit_node FROM {db}.cdr")
        got = {
            r["correlation_id"]: (r["ivr_result"], r["ivr_exit_node"])
            for r in stored.to_dict("records")
        }
        assert got == {c.correlation_id: (c.ivr_result, c.ivr_exit_node) for c in cdrs}
        assert got["I4"] == ("caller_left", "balance") and got["N1"] == ("", "")
        # Anything else the server refuses still fails the migration.
        with pytest.raises(ServerException):
            old._migration_step(f"ALTER TABLE {db}.no_such_table ADD COLUMN x String")
        total = Statistics(old).ivr_containment().to_dict("records")[-1]
        assert [total[c] for c in COUNTS] == [10, 0, 1, 3, 6]
    finally:
        old.execute(f"DROP DATABASE IF EXISTS {db}")
        old.close()


def test_monitoring_sessions_report_the_same_on_the_server(store: ClickHouseStore) -> None:
    records = build_records(day_of_sessions())
    store.insert_records(records)
    store.insert_records(records)  # collapses under FINAL
    stats = Statistics(store)
    day = {"start": T0, "end": T0 + 86_400}
    got = {r["supervisor"]: r for r in stats.monitor_summary(**day).to_dict("records")}
    assert (got["s1"]["sessions"], got["s1"]["answered"], got["s1"]["total_s"]) == (2, 1, 60.0)
    assert (got["s1"]["listen_s"], got["s1"]["whisper_s"], got["s1"]["barge_s"]) == (
        20.0,
        30.0,
        10.0,
    )
    assert (got["s1"]["with_barge"], got["s2"]["intercepts"]) == (1, 1)
    agents = stats.monitor_summary(by="agent", **day)
    assert dict(zip(agents["agent"], agents["sessions"], strict=True)) == {"a1": 2, "a2": 1}
    listed = stats.monitor_list(**day)
    assert list(listed["session"]) == ["m1", "m2", "m3"]
    assert list(listed["modes"][0]) == ["listen", "whisper", "barge"]
