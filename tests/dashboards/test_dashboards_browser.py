"""The wallboard in headless Chromium with live data, end to end.

redis-server, the CDR service (`python -m analytics.service`, chDB) and
`streamlit run dashboards/app.py` run as subprocesses on free loopback ports.
Chromium is driven over the DevTools protocol (a websocket): the test waits until
the rendered page shows the live agents and today's figures, appends a new agent
event and waits for the 2 s refresh to show it, then saves a PNG under
test-artifacts/dashboards/. Skipped with the reason when chromium is absent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import connect as ws_connect

import eventlog as ev
from eventlog import Event, EventLog
from simulators import free_port
from testbed import ROOT, redis_server, start_cdr_service, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACT = ROOT / "test-artifacts" / "dashboards" / "wallboard.png"

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium not installed "
        "(apt-get install -y chromium); the wallboard screenshot is untested",
    ),
    pytest.mark.skipif(
        not Path("/usr/bin/redis-server").exists() and not shutil.which("redis-server"),
        reason="redis-server binary not installed",
    ),
]


def midday_zone(now: float) -> str:
    """A zone where `now` is around noon, so "today" holds the whole last 15 minutes of
    calls at whatever hour the test runs (in UTC it failed just after midnight)."""
    utc_hour = time.gmtime(now).tm_hour
    offset = (12 - utc_hour + 12) % 24 - 12  # local = UTC + offset, in -12..11
    # POSIX Etc zones are named with the opposite sign: Etc/GMT-8 is UTC+8.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def live_events(now: float) -> list[Event]:
    out: list[Event] = []
    for i, (agent, state) in enumerate([("1001", "talking"), ("1002", "idle"), ("1003", "busy")]):
        out.append(
            Event.new(
                ev.AGENT_STATE,
                ts=now - 100 - i * 30,
                node="acd",
                agent=agent,
                seat=str(10 + i),
                state=state,
                previous="idle",
                # The ACD keeps an idle agent's last reason; the board hides it.
                reason={"busy": "lunch", "idle": "NO_ANSWER"}.get(state, ""),
            )
        )
    for i in range(6):  # finished calls today: 4 answered quickly, 2 abandoned
        cid, t = f"done-{i}", now - 900 + i * 60
        out.append(
            Event.new(ev.CALL_QUEUED, correlation_id=cid, ts=t, queue="billing", priority="0")
        )
        if i < 4:
            out.append(
                Event.new(
                    ev.CALL_ANSWERED,
                    correlation_id=cid,
                    ts=t + 5,
                    agent="1001",
                    seat="10",
                    leg_id="",
                )
            )
            out.append(
                Event.new(ev.CALL_ENDED, correlation_id=cid, ts=t + 50, cause="200", side="agent")
            )
        else:
            out.append(
                Event.new(ev.CALL_ENDED, correlation_id=cid, ts=t + 30, cause="487", side="caller")
            )
    for i in range(2):  # waiting now
        out.append(
            Event.new(
                ev.CALL_QUEUED,
                correlation_id=f"wait-{i}",
                ts=now - 40 + i * 10,
                queue="billing",
                priority="0",
            )
        )
    return out


class Cdp:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=30))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result

    async def text(self) -> str:
        reply = await self.call(
            "Runtime.evaluate", expression="document.body.textContent", returnByValue=True
        )
        return str(reply.get("result", {}).get("value", ""))

    async def wait_text(self, *needles: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = await self.text()
            if all(n in text for n in needles):
                return text
            await asyncio.sleep(0.2)  # polling the DOM with a deadline
        raise AssertionError(f"page never showed {needles}; last text:\n{text[:2000]}")


def test_wallboard_screenshot_with_live_data(tmp_path: Path) -> None:
    now = time.time()
    with redis_server(tmp_path / "redis") as rport:
        r = redis.Redis(port=rport)
        log = EventLog(r)
        log.append_many(live_events(now))
        svc = start_cdr_service(tmp_path / "cdr", rport)
        procs: list[subprocess.Popen[bytes]] = []
        stack = contextlib.ExitStack()
        try:
            svc.wait_healthy()
            wait_until(
                lambda: len(svc.client.report("cdr_list")) == 6, timeout=30, what="CDRs stored"
            )
            settings = tmp_path / "dashboard.json"
            settings.write_text(
                json.dumps(
                    {
                        "analytics_url": svc.client.url,
                        "redis": f"127.0.0.1:{rport}",
                        "timezone": midday_zone(now),
                        "callcenter_config": str(tmp_path / "none.yaml"),
                    }
                )
            )
            port = free_port()
            env = {**os.environ, "HUAAN_DASHBOARD_CONFIG": str(settings), "PYTHONPATH": str(ROOT)}
            st_log = stack.enter_context((tmp_path / "streamlit.log").open("wb"))
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "streamlit",
                        "run",
                        str(ROOT / "dashboards" / "app.py"),
                        "--server.headless",
                        "true",
                        "--server.address",
                        "127.0.0.1",
                        "--server.port",
                        str(port),
                        "--browser.gatherUsageStats",
                        "false",
                        "--server.fileWatcherType",
                        "none",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=st_log,
                    stderr=subprocess.STDOUT,
                )
            )

            def st_up() -> bool:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/_stcore/health", timeout=1
                    ) as reply:
                        return bool(reply.read() == b"ok")
                except OSError:
                    return False

            wait_until(st_up, timeout=60, what="streamlit /_stcore/health")
            profile = tmp_path / "chromium"
            assert CHROMIUM is not None
            procs.append(
                subprocess.Popen(
                    [
                        CHROMIUM,
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--no-first-run",
                        "--remote-debugging-port=0",
                        f"--user-data-dir={profile}",
                        "--window-size=1400,1100",
                        "about:blank",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=stack.enter_context((tmp_path / "chromium.log").open("wb")),
                )
            )
            port_file = profile / "DevToolsActivePort"
            wait_until(
                lambda: port_file.exists() and port_file.read_text().strip() != "",
                timeout=30,
                what="chromium DevToolsActivePort",
            )
            devtools = int(port_file.read_text().split()[0])

            def page_ws() -> str | None:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{devtools}/json/list", timeout=2
                ) as reply:
                    pages = [p for p in json.loads(reply.read()) if p.get("type") == "page"]
                return str(pages[0]["webSocketDebuggerUrl"]) if pages else None

            wait_until(lambda: page_ws() is not None, timeout=30, what="a chromium page")
            ws_url = page_ws()
            assert ws_url is not None

            async def drive() -> bytes:
                ws = await ws_connect(ws_url, max_size=64 * 1024 * 1024)
                cdp = Cdp(ws)
                await cdp.call("Page.enable")
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
                text = await cdp.wait_text(
                    "Wallboard", "1001", "1003", "lunch", "Agents logged in", "100.0%", "33.3%"
                )
                assert "Waiting now" in text
                # A new agent logs in: the 2 s fragment refresh must show it.
                EventLog(r).append(
                    Event.new(
                        ev.AGENT_STATE,
                        node="acd",
                        agent="1004",
                        seat="13",
                        state="idle",
                        previous="logged_out",
                        reason="LOGIN",
                    )
                )
                text = await cdp.wait_text("1004", timeout=15)
                # Reasons belong to not-ready agents: the busy one's shows, idle ones' not.
                assert "lunch" in text
                assert "NO_ANSWER" not in text and "LOGIN" not in text
                shot = await cdp.call("Page.captureScreenshot", format="png")
                await ws.close()
                return base64.b64decode(shot["data"])

            png = asyncio.run(drive())
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            ARTIFACT.write_bytes(png)
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            stack.close()
            r.close()
            assert svc.stop() == 0, svc.log()
