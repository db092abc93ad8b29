"""The dashboards' supervisor monitoring against a real ACD replica on a real Redis:
`GrpcAcdCommands.monitor/switch_monitor/stop_monitor` and the live view's sessions, the
Supervisor page's controls under Streamlit's AppTest (what each button asks the ACD, as
the call's controller sees it on WatchActions; the refusals' reasons on the page), and
the page in headless Chromium with a live session, kept as
test-artifacts/dashboards/supervisor_monitoring.png, and the wallboard's marker as
wallboard_monitored.png (docs/dashboards.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from streamlit.testing.v1 import AppTest

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from dashboards import queries
from dashboards.queries import (
    Backend,
    ConfigAccounts,
    GrpcAcdCommands,
    GrpcLive,
    ServiceReports,
    Supervisor,
)
from simulators import free_port
from testbed import ROOT, chromium_path, running_browser, wait_until
from tests.acdsvc.conftest import ADMIN, RedisServer, ReplicaFactory, password_of
from tests.acdsvc.test_monitoring_rpcs import Feed, monitoring_config, supervisor_desk, talking
from tests.acdsvc.test_recording_rpcs import login

APP = str(ROOT / "dashboards" / "app.py")
ARTIFACTS = ROOT / "test-artifacts" / "dashboards"
# `sup` supervises team red (a1001, a1002); a1003 has no team (monitoring_config).
SUP = Supervisor("sup", password_of("sup"), ("agent", "supervisor"))


class Floor:
    """A replica with a1001, a1002 and a1003 talking on c1, c2 and c3, `sup`'s desk logged
    in (busy), and the controllers' action feed."""

    def __init__(self, address: str, config: Path) -> None:
        self.address = address
        self.config = config
        self.client = AcdClient(address)
        self.feed = Feed(self.client)
        login(self.client, "a1001", 1001)
        login(self.client, "a1002", 1002)
        login(self.client, "a1003", 1003)
        talking(self.client, "c1", 1001)
        talking(self.client, "c2", 1002)
        talking(self.client, "c3", 1003)
        supervisor_desk(self.client)

    def monitor_actions(self) -> list[pb.Action]:
        return [a for a in self.feed.seen if str(a.WhichOneof("kind")).startswith("monitor")]

    def backend(self) -> Backend:
        """What `callcenter up` wires for a dashboard with an `acd:` section, here with
        GetSnapshot per read (no stream thread) and no CDR service (not read here)."""
        return Backend(
            reports=ServiceReports("http://127.0.0.1:9", timeout=0.5),
            live=GrpcLive(self.address),
            accounts=ConfigAccounts(self.config),
            commands=GrpcAcdCommands(self.address),
            timezone="UTC",
            language="en",
        )

    def close(self) -> None:
        self.feed.close()
        self.client.close()


@pytest.fixture
def floor(
    make_replica: ReplicaFactory, tmp_path: Path, redis_server: RedisServer, r: redis.Redis
) -> Iterator[Floor]:
    # Desks without heartbeats for as long as a browser test takes to start Streamlit.
    config = monitoring_config(tmp_path / "callcenter.yaml", redis_server.address, lease_ms=600_000)
    f = Floor(make_replica(config).address, config)
    yield f
    f.close()


def test_commands_start_switch_and_stop_a_session_and_refusals_say_why(floor: Floor) -> None:
    commands = GrpcAcdCommands(floor.address)
    live = GrpcLive(floor.address)
    # An agent's own credentials, a call outside sup's teams: refused with the ACD's
    # code and reason, nothing sent.
    agent = Supervisor("a1002", password_of("a1002"), ("agent",))
    refused = commands.monitor("a1001", "sup", "listen", False, agent)
    assert not refused.ok and refused.message.startswith("ERROR_CODE_PERMISSION_DENIED")
    outside = commands.monitor("a1003", "sup", "whisper", False, SUP)
    assert not outside.ok and "outside 'sup'" in outside.message, outside.message
    with pytest.raises(ValueError, match="monitoring mode"):
        commands.monitor("a1001", "sup", "intercept", False, SUP)  # a switch only
    assert live.snapshot().monitors == ()

    started = commands.monitor("a1001", "sup", "listen", True, SUP)

    assert started.ok, started.message
    sid = started.data["session_id"]
    assert started.data["call_id"] == "c1" and started.message.endswith("ringing sup")
    floor.feed.wait_for("monitor_call")
    (call,) = [a.monitor_call for a in floor.monitor_actions()]
    assert (call.session_id, call.call_id, call.username, call.mode, call.record) == (
        sid,
        "c1",
        "sup",
        pb.MONITOR_MODE_LISTEN,
        True,
    )
    assert (call.agent, call.requested_by) == ("a1001", "sup")
    (session,) = live.snapshot().monitors
    assert (session.supervisor, session.agent, session.mode, session.state) == (
        "sup",
        "a1001",
        "listen",
        "ringing",
    )
    # The controller reports the answer; the wallboard marks a1001.
    assert floor.client.report_monitor(sid, pb.MONITOR_STATE_ACTIVE).error.code == 0
    board = queries.live_board(floor.backend())
    assert dict(zip(board.agents["agent"], board.agents["monitored"], strict=True)) == {
        "a1001": "listen",
        "a1002": "",
        "a1003": "",
        "sup": "",
    }
    assert list(board.monitors["state"]) == ["active"]

    assert commands.switch_monitor(sid, "barge", SUP).ok
    same = commands.switch_monitor(sid, "barge", SUP)
    assert not same.ok and same.message.startswith("ERROR_CODE_INVALID_TRANSITION"), same.message
    # The supervisor's desk is busy: it cannot take the call over.
    taken = commands.switch_monitor(sid, "intercept", SUP)
    assert not taken.ok and "cannot take a call" in taken.message, taken.message
    assert [s.mode for s in live.snapshot().monitors] == ["barge"]
    assert commands.stop_monitor(sid, agent).message.startswith("ERROR_CODE_PERMISSION_DENIED")
    again = commands.monitor("a1002", "sup", "listen", False, SUP)
    assert not again.ok and "already monitors" in again.message, again.message

    assert commands.stop_monitor(sid, SUP).ok
    assert live.snapshot().monitors == ()
    gone = commands.stop_monitor(sid, SUP)
    assert not gone.ok and gone.message.startswith("ERROR_CODE_UNKNOWN_MONITOR_SESSION")
    floor.feed.wait_for("monitor_command", 2)
    commands_sent = [a.monitor_command for a in floor.monitor_actions()[1:]]
    assert [(c.session_id, c.mode, c.requested_by) for c in commands_sent] == [
        (sid, pb.MONITOR_MODE_BARGE, "sup"),
        (sid, pb.MONITOR_MODE_UNSPECIFIED, "sup"),
    ]


def supervisor_page(floor: Floor) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("app_pages/supervisor.py").run()
    assert not at.exception, at.exception
    return at


def page_login(at: AppTest, user: str, password: str) -> None:
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_supervisor_page_listens_switches_and_stops_through_the_acd(floor: Floor) -> None:
    """The page's buttons, the real ACD behind them: each asks for what the controller
    then gets on WatchActions; the ACD's refusals show on the page with their reason."""
    queries.set_backend(floor.backend())
    try:
        at = supervisor_page(floor)
        page_login(at, "sup", password_of("sup"))
        assert at.selectbox(key="call_agent").options == [
            "a1001 · Talking",
            "a1002 · Talking",
            "a1003 · Talking",
        ]
        # a1003 has no team: outside sup's scope, and the page says so.
        at.selectbox(key="call_agent").set_value("a1003").run()
        at.button(key="monitor_whisper").click().run()
        assert any(
            "Whisper a1003: ERROR_CODE_PERMISSION_DENIED" in e.value and "outside 'sup'" in e.value
            for e in at.error
        ), [e.value for e in at.error]
        assert floor.monitor_actions() == []

        at.selectbox(key="call_agent").set_value("a1001").run()
        at.checkbox(key="monitor_record").check().run()
        at.button(key="monitor_listen").click().run()
        assert any(
            "Listen a1001: session" in s.value and "ringing sup" in s.value for s in at.success
        )
        floor.feed.wait_for("monitor_call")
        (call,) = [a.monitor_call for a in floor.monitor_actions()]
        assert (call.agent, call.username, call.mode, call.record, call.requested_by) == (
            "a1001",
            "sup",
            pb.MONITOR_MODE_LISTEN,
            True,
            "sup",
        )
        sid = call.session_id
        assert any("**sup** → **a1001** · Listen · phone ringing" in x for x in texts(at))
        assert at.button(key=f"switch_{sid}").disabled  # not answered yet

        assert floor.client.report_monitor(sid, pb.MONITOR_STATE_ACTIVE).error.code == 0
        at.run()
        assert any("**sup** → **a1001** · Listen · active" in x for x in texts(at))
        at.selectbox(key=f"switch_mode_{sid}").set_value("whisper").run()
        at.button(key=f"switch_{sid}").click().run()
        floor.feed.wait_for("monitor_command")
        at.run()
        assert any("**sup** → **a1001** · Whisper · active" in x for x in texts(at))
        # Intercept needs sup's desk free to take the call: the ACD says why not.
        at.selectbox(key=f"switch_mode_{sid}").set_value("intercept").run()
        at.button(key=f"switch_{sid}").click().run()
        assert any(
            "a1001: ERROR_CODE_" in e.value and "cannot take a call" in e.value for e in at.error
        )
        at.button(key=f"stop_{sid}").click().run()
        floor.feed.wait_for("monitor_command", 2)
        at.run()
        assert any("No monitoring session." in i.value for i in at.info)
        sent = [a.monitor_command for a in floor.monitor_actions()[1:]]
        assert [(c.session_id, c.mode, c.requested_by) for c in sent] == [
            (sid, pb.MONITOR_MODE_WHISPER, "sup"),
            (sid, pb.MONITOR_MODE_UNSPECIFIED, "sup"),
        ]
    finally:
        queries.set_backend(None)


def test_no_monitoring_controls_for_a_non_supervisor(floor: Floor) -> None:
    """An agent cannot log in to act; an admin let in by supervisor_roles sees the
    sessions but no control (and the ACD would refuse an agent's credentials anyway:
    test_commands_start_switch_and_stop_a_session_and_refusals_say_why)."""
    b = floor.backend()
    b.supervisor_roles = ("supervisor", "admin")
    assert GrpcAcdCommands(floor.address).monitor("a1001", "sup", "listen", False, SUP).ok
    queries.set_backend(b)
    controls = ("monitor_", "intercept", "switch_", "stop_")
    try:
        at = supervisor_page(floor)
        page_login(at, "a1002", password_of("a1002"))
        assert any("no supervisor role" in e.value for e in at.error)
        assert not [x for x in at.button if x.key and x.key.startswith(controls)]
        page_login(at, ADMIN, password_of(ADMIN))
        assert any(f"Logged in as {ADMIN}" in x.value for x in at.success)
        assert any("Monitoring needs the supervisor role" in i.value for i in at.info)
        assert any("**sup** → **a1001** · Listen" in x for x in texts(at))
        assert not [x for x in at.button if x.key and x.key.startswith(controls)]
    finally:
        queries.set_backend(None)


@pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium not installed (apt-get install -y chromium); the Supervisor page's "
    "monitoring screenshot is untested",
)
def test_supervisor_page_with_a_live_session_in_a_browser(floor: Floor, tmp_path: Path) -> None:
    """`streamlit run dashboards/app.py` on the replica, in Chinese (the default): sup
    logs in, listens to a1001, the controller's answer makes the session active, the
    page shows it with Switch and Stop, the wallboard marks a1001. Kept as
    supervisor_monitoring.png and wallboard_monitored.png."""
    settings = tmp_path / "dashboard.json"
    settings.write_text(
        json.dumps(
            {
                "analytics_url": "http://127.0.0.1:9",
                "redis": "127.0.0.1:9",
                "acd_address": floor.address,
                "timezone": "UTC",
                "callcenter_config": str(floor.config),
            }
        )
    )
    port = free_port()
    env = {**os.environ, "HUAAN_DASHBOARD_CONFIG": str(settings), "PYTHONPATH": str(ROOT)}
    with (tmp_path / "streamlit.log").open("wb") as st_log:
        streamlit = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", APP,
                "--server.headless", "true", "--server.address", "127.0.0.1",
                "--server.port", str(port), "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none",
            ],
            cwd=ROOT,
            env=env,
            stdout=st_log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def st_up() -> bool:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_stcore/health", timeout=1
                ) as reply:
                    return bool(reply.read() == b"ok")
            except OSError:
                return False

        wait_until(st_up, timeout=60, what="streamlit /_stcore/health")
        with running_browser(ARTIFACTS) as browser:
            page = browser.page(f"http://127.0.0.1:{port}/supervisor")
            page.set_viewport_size({"width": 1400, "height": 1300})
            page.get_by_label("用户名").fill("sup")
            page.get_by_label("密码", exact=True).fill(password_of("sup"))
            page.get_by_role("button", name="登录").click()
            page.get_by_text("已登录：sup").wait_for(timeout=30_000)
            page.get_by_text("录下本次监听").click()
            page.get_by_role("button", name="监听", exact=True).click()
            page.get_by_text("正在呼叫 sup").wait_for(timeout=30_000)
            floor.feed.wait_for("monitor_call")
            (call,) = [a.monitor_call for a in floor.monitor_actions()]
            assert call.record and call.mode == pb.MONITOR_MODE_LISTEN
            assert (
                floor.client.report_monitor(call.session_id, pb.MONITOR_STATE_ACTIVE).error.code
                == 0
            )
            # The sessions refresh by themselves (every 2 s).
            page.get_by_text("监听 · 进行中").wait_for(timeout=30_000)
            page.get_by_role("button", name="结束").wait_for()
            shot = browser.screenshot(page, "supervisor_monitoring")
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
            # The wallboard marks a1001's row (its tables are HTML: the text is in the DOM).
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("● 监听").wait_for(timeout=30_000)
            browser.screenshot(page, "wallboard_monitored")
    finally:
        streamlit.terminate()
        try:
            streamlit.wait(timeout=15)
        except subprocess.TimeoutExpired:
            streamlit.kill()
            streamlit.wait(timeout=10)
