"""Every dashboard page rendered with streamlit's AppTest on a small chDB fixture store."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from analytics import ChdbStore, Records, build_records
from dashboards import i18n, queries
from dashboards.queries import (
    AccountInfo,
    Backend,
    CommandResult,
    LiveSnapshot,
    StaticAccounts,
    StoreReports,
    Supervisor,
)
from identity import hash_password
from tests.analytics.analytics_scenarios import T0
from tests.analytics.test_analytics_store import fixture_events
from tests.analytics.test_ivr_reports import ivr_events
from tests.analytics.test_monitor_sessions import day_of_sessions

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
NOW = T0 + 3000  # the fixture day (2023-11-15 UTC), after every fixture call
# The IVR calls of tests/analytics/test_ivr_reports.py, eight days before: outside
# "today" and the reports' default last 7 days, so the other figures stay the fixture
# day's.
IVR_DAY = T0 - 8 * 86400


class FixedLive:
    def __init__(self) -> None:
        self.agents = [
            queries.AgentLive("1001", "12", "talking", NOW - 42, ""),
            queries.AgentLive("1002", "13", "busy", NOW - 300, "lunch"),
            # The ACD keeps the reason an idle agent last had (here: it logged in busy).
            queries.AgentLive("1003", "14", "idle", NOW - 7, "LOGIN"),
        ]
        # boss listens to 1001 (for 1:05); chief's phone rings to barge in on it.
        self.monitors = [
            queries.MonitorLive("s-boss", "boss", "1001", "c1", "listen", "active", NOW - 65),
            queries.MonitorLive("s-chief", "chief", "1001", "c1", "barge", "ringing", NOW - 3),
        ]

    def snapshot(self) -> LiveSnapshot:
        return LiveSnapshot(
            NOW,
            tuple(self.agents),
            (queries.QueueLive("billing", 3, 75.0),),
            "test",
            tuple(self.monitors),
        )


class RecordingCommands:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.intercept_refusal = ""
        self.monitor_refusal = ""

    def force_logout(self, agent: str, actor: Supervisor) -> CommandResult:
        self.calls.append(("logout", agent, actor.username))
        return CommandResult(True, "done")

    def force_busy(self, agent: str, reason: str, actor: Supervisor) -> CommandResult:
        self.calls.append(("busy:" + reason, agent, actor.username))
        return CommandResult(True, "done")

    def force_idle(self, agent: str, actor: Supervisor) -> CommandResult:
        self.calls.append(("idle", agent, actor.username))
        return CommandResult(False, "INVALID_TRANSITION: talking")

    def intercept(self, agent: str, supervisor: str, actor: Supervisor) -> CommandResult:
        self.calls.append(("intercept:" + supervisor, agent, actor.username))
        if self.intercept_refusal:
            return CommandResult(False, self.intercept_refusal)
        return CommandResult(True, "call c1: ringing boss to take it over")

    def monitor(
        self, agent: str, supervisor: str, mode: str, record: bool, actor: Supervisor
    ) -> CommandResult:
        what = f"monitor:{mode}:{supervisor}" + (":record" if record else "")
        self.calls.append((what, agent, actor.username))
        if self.monitor_refusal:
            return CommandResult(False, self.monitor_refusal)
        return CommandResult(
            True,
            f"session s1 on call c1: ringing {supervisor}",
            {"session_id": "s1", "call_id": "c1"},
        )

    def switch_monitor(self, session_id: str, mode: str, actor: Supervisor) -> CommandResult:
        self.calls.append(("switch:" + mode, session_id, actor.username))
        if self.monitor_refusal:
            return CommandResult(False, self.monitor_refusal)
        return CommandResult(True, "done")

    def stop_monitor(self, session_id: str, actor: Supervisor) -> CommandResult:
        self.calls.append(("stop", session_id, actor.username))
        return CommandResult(True, "done")

    def list_voicemail(
        self, actor: Supervisor, box: str = "", include_heard: bool = False
    ) -> CommandResult:
        return CommandResult(True, "0 messages", [])


PASSWORDS = {"boss": "s3cret-boss", "agent1": "s3cret-agent"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbStore]:
    s = ChdbStore(tmp_path_factory.mktemp("dash") / "chdb", database="dash")
    s.insert_records(build_records(fixture_events()))
    later = [dataclasses.replace(e, ts=e.ts + IVR_DAY - T0) for e in ivr_events()]
    s.insert_records(build_records(later))
    # Monitoring sessions of the fixture day, without their calls' CDRs.
    s.insert_records(Records([], [], [], build_records(day_of_sessions()).sessions))
    yield s
    s.close()


@pytest.fixture
def backend(store: ChdbStore) -> Iterator[Backend]:
    accounts = StaticAccounts(
        {
            "boss": AccountInfo("boss", ("agent", "supervisor"), hash_password(PASSWORDS["boss"])),
            "agent1": AccountInfo("agent1", ("agent",), hash_password(PASSWORDS["agent1"])),
        }
    )
    b = Backend(
        reports=StoreReports(store),
        live=FixedLive(),
        accounts=accounts,
        commands=RecordingCommands(),
        sl_threshold_s=20.0,
        timezone="UTC",
        clock=lambda: NOW,
        language="en",  # the assertions read the English texts
    )
    queries.set_backend(b)
    yield b
    queries.set_backend(None)


def page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if name != "wallboard":
        at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return str(next(m.value for m in at.metric if m.label.startswith(label)))


def test_wallboard_shows_live_and_today(backend: Backend) -> None:
    at = page("wallboard")
    # Today: billing 2 of 2 answered within 20 s, general 0 of 1 -> 2/3; 2 of 7 abandoned.
    assert metric(at, "Service level today (20 s)") == "66.7 %"
    assert metric(at, "Abandon rate today") == "28.6 %"
    assert metric(at, "Waiting now") == "3"
    # 75 s is over the 60 s default limit: the metric says by how much, in red.
    longest = next(m for m in at.metric if m.label == "Longest wait")
    assert (longest.value, longest.proto.delta) == ("1:15", "+0:15 over the 1:00 limit")
    assert metric(at, "Agents logged in") == "3"
    sl = next(m for m in at.metric if m.label.startswith("Service level today"))
    assert sl.proto.delta == "-13.3 points vs target 80.0 %"
    # The tables are HTML (large type on a wall) with their columns' human names.
    queues, agents = at.table[0].value, at.table[1].value
    assert set(queues["Queue"]) == {"billing", "general"}
    billing = queues.set_index("Queue").loc["billing"]
    assert billing["Waiting"] == 3 and billing["Service level today %"] == 1.0
    assert list(agents["Agent"]) == ["1001", "1002", "1003"]
    assert list(agents["Time in state (m:ss)"]) == [42.0, 300.0, 7.0]
    # A reason belongs to a not-ready agent only: talking and idle show none.
    assert list(agents["Reason"]) == ["", "lunch", ""]
    # boss listens to 1001; chief's phone still rings, so it is not monitoring yet.
    assert list(agents["Monitored"]) == ["● Listen", "", ""]
    # Colours at the thresholds: billing's SL (100 %) meets the 80 % target (green),
    # its longest wait (75 s) is over the 60 s limit (red); cells read for humans.
    styles = at.table[0].proto.arrow_data.styler.styles
    assert "#2e9e5b" in styles and "#d9534f" in styles, styles
    shown = at.table[0].proto.arrow_data.styler.display_values
    assert b"1:15" in shown and b"100.0 %" in shown


def test_wallboard_survives_a_dead_statistics_service(backend: Backend) -> None:
    backend.reports = queries.ServiceReports("http://127.0.0.1:1", timeout=0.5)
    at = page("wallboard")
    assert any("statistics unavailable" in w.value for w in at.warning)
    assert metric(at, "Waiting now") == "3"  # live data still shown
    assert metric(at, "Service level today") == "—"


def test_reports_page_and_csv_export(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[tuple[bytes, str, str | None]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(
        self: Any, path_or_data: Any, mimetype: str, kind: Any, filename: str | None = None
    ) -> str:
        if isinstance(path_or_data, bytes):
            saved.append((path_or_data, mimetype, filename))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    at = page("reports")
    labels = [d.label for d in at.get("download_button")]
    assert labels == ["Download CDRs (CSV)", "Download queue summary (CSV)"]
    summary = at.dataframe[0].value
    assert set(summary["queue"]) == {"billing", "general"}
    cdr_csv = next(data for data, _, name in saved if name and name.startswith("cdr_"))
    assert cdr_csv.startswith("\ufeff".encode())
    table = pd.read_csv(pd.io.common.BytesIO(cdr_csv[3:]))
    assert sorted(table["correlation_id"]) == list("ABCDEFGHJ")
    a = table.set_index("correlation_id").loc["A"]
    assert (a["queue"], a["disposition"], a["wait_s"], a["agent"]) == (
        "billing",
        "answered",
        5.0,
        "a1",
    )
    assert a["arrived_at"] == "2023-11-15 00:00:00.000Z"

    at.multiselect(key="queues").set_value(["general"]).run()
    assert not at.exception
    assert list(at.dataframe[0].value["queue"]) == ["general"]
    assert list(at.dataframe[-1].value["correlation_id"]) == ["G"]


def test_reports_page_shows_monitoring_per_supervisor_and_per_agent(backend: Backend) -> None:
    at = page("reports")
    assert any(h.value == "Supervisor monitoring" for h in at.subheader)
    tables = {
        str(f.value.columns[0]): f.value for f in at.dataframe if "sessions" in f.value.columns
    }
    supervisors = tables["supervisor"].set_index("supervisor")
    assert list(supervisors.index) == ["s1", "s2"]
    assert (supervisors.loc["s1", "sessions"], supervisors.loc["s1", "total_s"]) == (2, 60.0)
    assert supervisors.loc["s1", "whisper_s"] == 30.0
    assert supervisors.loc["s2", "intercepts"] == 1
    agents = tables["agent"].set_index("agent")
    assert dict(agents["sessions"]) == {"a1": 2, "a2": 1}
    # The calls' list stays the page's last table.
    assert at.dataframe[-1].value.columns[0] == "correlation_id"


def test_reports_page_shows_ivr_containment_and_drop_off(backend: Backend) -> None:
    at = page("reports")
    # The fixture day: A, H and J went through the IVR, none self-served.
    assert (metric(at, "IVR calls"), metric(at, "Containment rate")) == ("3", "0.0 %")
    day = datetime.fromtimestamp(IVR_DAY, UTC).date()
    at.date_input(key="range").set_value((day, day)).run()
    assert not at.exception, at.exception
    assert metric(at, "IVR calls") == "10"
    assert metric(at, "Self-served") == "2"
    assert metric(at, "Containment rate") == "20.0 %"
    # The tables show the columns' human names: read them back as the report's.
    names = {
        i18n.column_label(c, "en"): c
        for c in queries.IVR_CONTAINMENT_COLUMNS + queries.IVR_DROPOFF_COLUMNS
    }
    containment, dropoff = (t.value.rename(columns=names) for t in at.table)
    assert containment.to_dict("records") == [
        {
            "dialled": "4008",
            "flow": "outage",
            "ivr_calls": 3,
            "self_served": 0,
            "to_agent": 1,
            "abandoned_in_ivr": 0,
            "other": 2,
            "containment": "0.0 %",
        },
        {
            "dialled": "95598",
            "flow": "main",
            "ivr_calls": 7,
            "self_served": 2,
            "to_agent": 1,
            "abandoned_in_ivr": 2,
            "other": 2,
            "containment": "28.6 %",
        },
        {
            "dialled": "all",
            "flow": "",
            "ivr_calls": 10,
            "self_served": 2,
            "to_agent": 2,
            "abandoned_in_ivr": 2,
            "other": 4,
            "containment": "20.0 %",
        },
    ]
    assert [tuple(r) for r in dropoff.itertuples(index=False)] == [
        ("main", 1, "main", 7, 1, 1, "14.3 %"),
        ("main", 2, "balance", 4, 1, 1, "25.0 %"),
        ("main", 2, "billing", 1, 0, 0, "0.0 %"),
        ("outage", 1, "outage", 3, 0, 0, "0.0 %"),
        ("outage", 2, "menu2", 1, 0, 0, "0.0 %"),
    ]
    # A range without IVR calls says so instead of empty tables.
    at.date_input(key="range").set_value((day + timedelta(days=1),) * 2).run()
    assert any("No call went through the IVR" in i.value for i in at.info)
    assert len(at.table) == 0


def test_ivr_view_orders_and_labels_the_chart_rows() -> None:
    containment = pd.DataFrame(
        {
            "dialled": ["95598", "*"],
            "flow": ["main", "*"],
            "ivr_calls": [4, 4],
            "self_served": [1, 1],
            "to_agent": [2, 2],
            "abandoned_in_ivr": [1, 1],
            "other": [0, 0],
            "containment_rate": [0.25, 0.25],
        }
    )
    dropoff = pd.DataFrame(
        {
            "flow": ["main", "main"],
            "node": ["main", "account"],
            "step": [1, 2],
            "visits": [4, 3],
            "caller_left": [0, 1],
            "failed": [0, 0],
            "drop_off_rate": [0.0, 1 / 3],
        }
    )
    view = queries.ivr_view(containment, dropoff)
    assert (view.calls, view.self_served, view.containment_rate) == (4, 1, 0.25)
    assert list(view.outcomes.index) == ["95598 · main"]
    assert view.outcomes.loc["95598 · main"].tolist() == [1, 2, 1, 0]
    assert list(view.dropoff_bars.index) == ["main: 1. main", "main: 2. account"]
    assert list(view.dropoff["drop_off"]) == ["0.0 %", "33.3 %"]
    empty = queries.ivr_view(
        containment.iloc[1:].assign(ivr_calls=0, self_served=0), dropoff.iloc[:0]
    )
    assert empty.calls == 0 and math.isnan(empty.containment_rate) and empty.outcomes.empty


def test_csv_export_joins_array_columns() -> None:
    # cdr_list returns ivr_path as an array; the CSV must not show numpy's repr of it.
    df = pd.DataFrame(
        {
            "correlation_id": ["A", "B"],
            "ivr_path": [np.array(["main", "billing"]), np.array([], dtype=str)],
        }
    )
    table = pd.read_csv(pd.io.common.BytesIO(queries.csv_bytes(df)[3:]), keep_default_na=False)
    assert list(table["ivr_path"]) == ["main > billing", ""]


def test_staffing_page_matches_the_erlang_c_check(backend: Backend) -> None:
    at = page("staffing")
    # DESIGN.md: 100 calls / 30 min, AHT 180 s, 80 % in 20 s -> 14 agents, SL 0.888.
    assert metric(at, "Agents needed") == "14"
    assert metric(at, "Traffic (Erlang)") == "10.00"
    table = at.dataframe[0].value.set_index("agents")
    assert table.loc[14, "service_level"] == pytest.approx(0.888, abs=1e-3)
    assert table.loc[13, "service_level"] == pytest.approx(0.796, abs=1e-3)
    at.number_input(key="calls").set_value(50.0).run()
    assert metric(at, "Agents needed") != "14"


def login(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(password)
    return at.button[0].click().run()


def test_login_refused_without_supervisor_role(backend: Backend) -> None:
    at = page("supervisor")
    login(at, "agent1", PASSWORDS["agent1"])
    assert any("no supervisor role" in e.value for e in at.error)
    assert "supervisor" not in at.session_state
    assert not [
        b
        for b in at.button
        if b.key and b.key.startswith(("force_", "monitor_", "intercept", "switch_", "stop_"))
    ]
    login(at, "boss", "wrong")
    assert any("invalid username or password" in e.value for e in at.error)
    login(at, "nobody", "x")
    assert any("invalid username or password" in e.value for e in at.error)


def test_supervisor_actions_after_login(backend: Backend) -> None:
    at = page("supervisor")
    login(at, "boss", PASSWORDS["boss"])
    assert not at.exception
    assert any("Logged in as boss" in s.value for s in at.success)
    at.selectbox(key="target_agent").set_value("1002").run()
    at.button(key="force_busy").click().run()
    at.button(key="force_idle").click().run()
    commands = backend.commands
    assert isinstance(commands, RecordingCommands)
    assert commands.calls == [("busy:supervisor", "1002", "boss"), ("idle", "1002", "boss")]
    assert any("INVALID_TRANSITION" in e.value for e in at.error)
    at.button(key="logout").click().run()
    assert "supervisor" not in at.session_state


def test_supervisor_intercepts_a_talking_agents_call_and_sees_a_refusal(backend: Backend) -> None:
    at = page("supervisor")
    login(at, "boss", PASSWORDS["boss"])
    assert not at.exception
    # Only agents with a call to take over are offered (1002 is busy).
    assert at.selectbox(key="call_agent").options == ["1001 · Talking · ● Listen"]
    assert any("Your phone (boss) rings" in c.value for c in at.caption)
    at.button(key="intercept").click().run()
    commands = backend.commands
    assert isinstance(commands, RecordingCommands)
    assert commands.calls == [("intercept:boss", "1001", "boss")]
    assert any("ringing boss to take it over" in s.value for s in at.success)
    commands.intercept_refusal = "AGENT_NOT_AVAILABLE: supervisor 'boss' is busy"
    at.button(key="intercept").click().run()
    assert any(
        "Intercept 1001: AGENT_NOT_AVAILABLE: supervisor 'boss' is busy" in e.value
        for e in at.error
    )


def test_supervisor_listens_whispers_or_barges_with_its_own_phone(backend: Backend) -> None:
    """Each button asks the ACD for a session on the picked agent's call, with the
    logged-in supervisor as actor and as the phone that rings; a refusal shows its
    reason; the page says the phone rings and what its keypad does."""
    at = page("supervisor")
    login(at, "boss", PASSWORDS["boss"])
    assert not at.exception, at.exception
    assert any(
        "Your phone (boss) rings" in c.value
        and "4 listen, 5 whisper, 6 barge, * intercept" in c.value
        for c in at.caption
    )
    at.button(key="monitor_listen").click().run()
    at.checkbox(key="monitor_record").check().run()
    at.button(key="monitor_whisper").click().run()
    commands = backend.commands
    assert isinstance(commands, RecordingCommands)
    commands.monitor_refusal = (
        "ERROR_CODE_PERMISSION_DENIED: call c1 (queue billing) is outside boss's scope"
    )
    at.button(key="monitor_barge").click().run()
    assert commands.calls == [
        ("monitor:listen:boss", "1001", "boss"),
        ("monitor:whisper:boss:record", "1001", "boss"),
        ("monitor:barge:boss:record", "1001", "boss"),
    ]
    assert any(
        "Barge 1001: ERROR_CODE_PERMISSION_DENIED: call c1 (queue billing) is outside "
        "boss's scope" in e.value
        for e in at.error
    )
    commands.monitor_refusal = ""
    at.button(key="monitor_listen").click().run()
    assert any("Listen 1001: session s1 on call c1: ringing boss" in s.value for s in at.success)


def test_listen_needs_an_answered_call_intercept_does_not(backend: Backend) -> None:
    live = backend.live
    assert isinstance(live, FixedLive)
    live.agents[0] = queries.AgentLive("1001", "12", "reserved", NOW - 2, "")
    live.monitors = []
    at = page("supervisor")
    login(at, "boss", PASSWORDS["boss"])
    assert all(at.button(key=f"monitor_{m}").disabled for m in ("listen", "whisper", "barge"))
    assert not at.button(key="intercept").disabled
    assert any("need an answered call" in c.value for c in at.caption)
    assert any("No monitoring session" in i.value for i in at.info)


def test_sessions_listed_with_mode_and_duration_then_switched_or_stopped(
    backend: Backend,
) -> None:
    at = page("supervisor")
    # Read-only before login: the sessions, no controls.
    texts = [m.value for m in at.markdown]
    assert any("**boss** → **1001** · Listen · active · 1:05" in t for t in texts)
    assert any("**chief** → **1001** · Barge · phone ringing · 0:03" in t for t in texts)
    assert not [b for b in at.button if b.key and b.key.startswith(("switch_", "stop_"))]
    login(at, "boss", PASSWORDS["boss"])
    # Every session has controls (the ACD decides whose boss may touch); chief's is
    # marked as another's, and a session still ringing cannot be switched yet.
    keys = {b.key for b in at.button if b.key and b.key.startswith(("switch_", "stop_"))}
    assert keys == {"switch_s-boss", "stop_s-boss", "switch_s-chief", "stop_s-chief"}
    assert any("chief" in t and "another supervisor's" in t for t in (m.value for m in at.markdown))
    assert at.button(key="switch_s-chief").disabled and not at.button(key="stop_s-chief").disabled
    assert not at.button(key="switch_s-boss").disabled
    picker = at.selectbox(key="switch_mode_s-boss")
    assert picker.options == ["Whisper", "Barge", "Intercept"]
    picker.set_value("barge").run()
    at.button(key="switch_s-boss").click().run()
    at.selectbox(key="switch_mode_s-boss").set_value("intercept").run()
    at.button(key="switch_s-boss").click().run()
    commands = backend.commands
    assert isinstance(commands, RecordingCommands)
    commands.monitor_refusal = "ERROR_CODE_UNKNOWN_MONITOR_SESSION: s-boss has ended"
    at.button(key="switch_s-boss").click().run()
    assert any(
        "1001: ERROR_CODE_UNKNOWN_MONITOR_SESSION: s-boss has ended" in e.value for e in at.error
    )
    at.button(key="stop_s-boss").click().run()
    at.button(key="stop_s-chief").click().run()
    assert commands.calls == [
        ("switch:barge", "s-boss", "boss"),
        ("switch:intercept", "s-boss", "boss"),
        ("switch:intercept", "s-boss", "boss"),
        ("stop", "s-boss", "boss"),
        ("stop", "s-chief", "boss"),
    ]


def test_monitoring_in_chinese_on_the_supervisor_page_and_the_wallboard(
    backend: Backend,
) -> None:
    backend.language = "zh"
    board = page("wallboard")
    assert list(board.table[1].value["被监听"]) == ["● 监听", "", ""]
    at = page("supervisor")
    login(at, "boss", PASSWORDS["boss"])
    assert not at.exception, at.exception
    buttons = {b.key: b.label for b in at.button if b.key}
    assert [buttons[f"monitor_{m}"] for m in ("listen", "whisper", "barge")] == [
        "监听",
        "密语",
        "强插",
    ]
    assert (buttons["intercept"], buttons["switch_s-boss"], buttons["stop_s-boss"]) == (
        "拦截",
        "切换",
        "结束",
    )
    assert at.checkbox(key="monitor_record").label == "录下本次监听"
    assert any("您的话机（boss）将振铃" in c.value for c in at.caption)
    texts = [m.value for m in at.markdown]
    assert any("**boss** → **1001** · 监听 · 进行中 · 1分05秒" in x for x in texts)
    assert any("强插 · 话机振铃中 · 3秒 · 其他班长的会话" in x for x in texts)


def test_monitoring_texts_exist_in_both_languages() -> None:
    keys = [k for k in i18n.CATALOG if k.startswith("mon.") or k == "col.monitored"]
    assert len(keys) > 20
    for key in keys:
        assert set(i18n.CATALOG[key]) == {"en", "zh"} and all(i18n.CATALOG[key].values()), key


def test_monitoring_controls_hidden_without_the_supervisor_role(backend: Backend) -> None:
    """An admin allowed onto the page (supervisor_roles) has no phone to join a call
    with: no monitoring buttons, and no Switch/Stop even on a session of its name."""
    backend.supervisor_roles = ("supervisor", "admin")
    backend.accounts = StaticAccounts(
        {"root": AccountInfo("root", ("admin",), hash_password("s3cret-root"))}
    )
    live = backend.live
    assert isinstance(live, FixedLive)
    live.monitors.append(
        queries.MonitorLive("s-root", "root", "1001", "c1", "listen", "active", NOW - 5)
    )
    at = page("supervisor")
    login(at, "root", "s3cret-root")
    assert not at.exception
    assert any("Logged in as root" in s.value for s in at.success)
    assert any("Monitoring needs the supervisor role" in i.value for i in at.info)
    controls = [
        b.key
        for b in at.button
        if b.key and b.key.startswith(("monitor_", "intercept", "switch_", "stop_"))
    ]
    assert controls == []
    commands = backend.commands
    assert isinstance(commands, RecordingCommands) and commands.calls == []


def test_read_only_when_no_acd_api(backend: Backend) -> None:
    backend.commands = None
    at = page("supervisor")
    login(at, "boss", PASSWORDS["boss"])
    assert any("not configured" in w.value for w in at.warning)


def test_authenticate_and_staffing_helpers(backend: Backend) -> None:
    with pytest.raises(queries.LoginError):
        queries.authenticate(backend, "agent1", PASSWORDS["agent1"])
    assert queries.authenticate(backend, "boss", PASSWORDS["boss"]).username == "boss"
    needed, table = queries.staffing_table(100, 1800, 180, 20, 0.8)
    assert needed == 14 and not math.isnan(table["asa_s"].iloc[0])
