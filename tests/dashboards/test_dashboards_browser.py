"""The wallboard and the reports page in headless Chromium with live data, end to end.

redis-server, the CDR service (`python -m analytics.service`, chDB) and
`streamlit run dashboards/app.py` run as subprocesses on free loopback ports.
Chromium is driven over the DevTools protocol (a websocket): the test waits until
the rendered page shows the live agents and today's figures, appends a new agent
event and waits for the 2 s refresh to show it, then opens the reports page and
reads the IVR section's figures and tables (containment, drop-off per node) from the
rendered DOM. PNGs of both go under test-artifacts/dashboards/. Skipped with the
reason when chromium is absent.
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
REPORTS_ARTIFACT = ROOT / "test-artifacts" / "dashboards" / "reports_ivr.png"
REPORTS_ZH_ARTIFACT = ROOT / "test-artifacts" / "dashboards" / "reports_zh.png"
ZH_ARTIFACT = ROOT / "test-artifacts" / "dashboards" / "wallboard_zh.png"

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
    out += ivr_events(now)
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


def arrived(cid: str, ts: float) -> Event:
    return Event.new(
        ev.CALL_ARRIVED,
        correlation_id=cid,
        ts=ts,
        trunk="",
        caller="13800138000",
        dialled="95598",
        category="billing",
    )


def ivr_step(cid: str, ts: float, node: str, keyed: str) -> Event:
    return Event.new(ev.CALL_IVR_STEP, correlation_id=cid, ts=ts, ivr_node=node, input=keyed)


def ivr_done(cid: str, ts: float, node: str, result: str) -> Event:
    return Event.new(ev.CALL_IVR_DONE, correlation_id=cid, ts=ts, ivr_node=node, result=result)


def ivr_events(now: float) -> list[Event]:
    """Today's hotline 95598, flow "main": the two first answered calls above chose
    billing in the IVR and were queued from there; three callers heard their balance and
    hung up (self-served); one hung up at the balance with no call.ivr_done (a controller
    that died: caller_left); one ran out of menu retries. 7 IVR calls, 3 self-served."""
    out: list[Event] = []
    for i in range(2):
        cid, t = f"done-{i}", now - 900 + i * 60
        out.append(arrived(cid, t - 6))
        out.append(ivr_step(cid, t - 5, "main", ""))
        out.append(ivr_step(cid, t - 3, "billing", "2"))
        out.append(ivr_done(cid, t - 1, "billing", "queued"))
    calls = [
        ("self-0", ["main", "balance"], ("balance", "self_served"), "caller"),
        ("self-1", ["main", "balance"], ("balance", "self_served"), "caller"),
        ("self-2", ["main", "balance"], ("balance", "self_served"), "system"),
        ("left-0", ["main", "balance"], None, "caller"),
        ("retry-0", ["main", "main", "main"], ("main", "retries_exhausted"), "system"),
    ]
    for n, (cid, path, done, side) in enumerate(calls):
        t = now - 800 + n * 40
        out.append(arrived(cid, t))
        for k, node in enumerate(path, start=1):
            # The account number keyed at the balance node is never stored in a CDR.
            out.append(ivr_step(cid, t + k, node, "7304918265" if node == "balance" else "1"))
        if done is not None:
            out.append(ivr_done(cid, t + len(path) + 1, *done))
        out.append(Event.new(ev.CALL_ENDED, correlation_id=cid, ts=t + 20, cause="200", side=side))
    return out


# The IVR section's static tables as rows of cell texts, and every metric by label.
_TABLES_JS = """JSON.stringify([...document.querySelectorAll('[data-testid="stTable"] table')].map(
  t => [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(
    c => c.textContent.trim()))))"""
_METRICS_JS = """JSON.stringify(Object.fromEntries([...document.querySelectorAll(
  '[data-testid="stMetric"]')].map(m => [
    m.querySelector('[data-testid="stMetricLabel"]').textContent.trim(),
    m.querySelector('[data-testid="stMetricValue"]').textContent.trim()])))"""


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

    async def json(self, expression: str) -> Any:
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return json.loads(str(reply.get("result", {}).get("value", "null")))

    async def wait_true(self, expression: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not await self.json(f"JSON.stringify(Boolean({expression}))"):
            if time.monotonic() > deadline:
                raise AssertionError(f"never true: {expression}")
            await asyncio.sleep(0.2)  # polling the DOM with a deadline

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
                lambda: len(svc.client.report("cdr_list")) == 11, timeout=30, what="CDRs stored"
            )
            settings = tmp_path / "dashboard.json"
            settings.write_text(
                json.dumps(
                    {
                        "analytics_url": svc.client.url,
                        "redis": f"127.0.0.1:{rport}",
                        "timezone": midday_zone(now),
                        "callcenter_config": str(tmp_path / "none.yaml"),
                        "language": "en",
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

            async def drive() -> tuple[bytes, bytes]:
                ws = await ws_connect(ws_url, max_size=64 * 1024 * 1024)
                cdp = Cdp(ws)
                await cdp.call("Page.enable")
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
                text = await cdp.wait_text(
                    "Wallboard", "1001", "1003", "lunch", "Agents logged in", "100.0 %", "33.3 %"
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
                wallboard = base64.b64decode(shot["data"])
                # The same board in Chinese: a new session from the address's ?lang=zh.
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{port}/?lang=zh")
                text = await cdp.wait_text("实时看板", "在线座席", "今日放弃率", "1004")
                assert "Agents logged in" not in text
                shot = await cdp.call("Page.captureScreenshot", format="png")
                ZH_ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
                ZH_ARTIFACT.write_bytes(base64.b64decode(shot["data"]))

                # The reports page (default range: the last 7 days, today included).
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{port}/reports")
                await cdp.wait_text("IVR calls", "Containment rate", "Drop-off per node")
                tables: list[list[list[str]]] = []
                deadline = time.monotonic() + 30
                while len(tables) < 2 and time.monotonic() < deadline:
                    tables = await cdp.json(_TABLES_JS)
                    await asyncio.sleep(0.2)  # polling the DOM with a deadline
                metrics = await cdp.json(_METRICS_JS)
                assert (
                    metrics["IVR calls"],
                    metrics["Self-served"],
                    metrics["Containment rate"],
                ) == ("7", "3", "42.9 %"), metrics
                containment, dropoff = tables
                # dialled, flow, IVR calls, self-served, to agent, left in IVR, other, rate
                assert [row[-8:] for row in containment] == [
                    ["95598", "main", "7", "3", "2", "1", "1", "42.9 %"],
                    ["all", "", "7", "3", "2", "1", "1", "42.9 %"],
                ], containment
                # flow, step, node, visits, caller left, failed, drop-off
                assert [row[-7:] for row in dropoff] == [
                    ["main", "1", "main", "7", "0", "1", "0.0 %"],
                    ["main", "2", "balance", "4", "1", "0", "25.0 %"],
                    ["main", "2", "billing", "2", "0", "0", "0.0 %"],
                ], dropoff
                assert "7304918265" not in await cdp.text()
                await cdp.call(
                    "Runtime.evaluate",
                    expression="[...document.querySelectorAll('h3')].find("
                    "h => h.textContent.trim() === 'IVR').scrollIntoView()",
                )
                # The charts draw after the tables: wait until all five have drawn.
                await cdp.wait_true(
                    'document.querySelectorAll(\'[data-testid="stVegaLiteChart"] canvas,'
                    ' [data-testid="stVegaLiteChart"] svg.marks\').length >= 5'
                )
                shot = await cdp.call("Page.captureScreenshot", format="png")
                # The reports in Chinese: headers with units, figures formatted.
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{port}/reports?lang=zh")
                text = await cdp.wait_text("统计报表", "导航呼叫数", "自助完成率 %", "42.9 %")
                assert "IVR calls" not in text
                zh = await cdp.call("Page.captureScreenshot", format="png")
                REPORTS_ZH_ARTIFACT.write_bytes(base64.b64decode(zh["data"]))
                await ws.close()
                return wallboard, base64.b64decode(shot["data"])

            wallboard_png, reports_png = asyncio.run(drive())
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            ARTIFACT.write_bytes(wallboard_png)
            REPORTS_ARTIFACT.write_bytes(reports_png)
            for png in (wallboard_png, reports_png):
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
