"""The Recordings page in headless Chromium (Playwright on Debian's chromium), end to end:
`streamlit run dashboards/app.py` as a subprocess on a SQLite store seeded through
bizdata and a recording directory with a WAV, a supervisor logs in, finds a call,
plays its recording (the page's <audio> player) and the access log shows the
playback. The PNGs are kept as test-artifacts/dashboards/recordings_all.png (the
search) and recordings.png (one call's recording played)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from argon2 import PasswordHasher

import bizdata
from identity import sip_ha1
from simulators import free_port
from testbed import ROOT, chromium_path, running_browser, wait_until
from tests.dashboards.test_recordings_page import STORED, T0, seed

ARTIFACTS = ROOT / "test-artifacts" / "dashboards"
PASSWORD = "s3cret-boss"

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium not installed (apt-get install -y chromium); the Recordings page "
    "screenshot is untested",
)


def accounts_config(directory: Path) -> Path:
    """The callcenter config the dashboards read their accounts from."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    config = {
        "version": 1,
        "node": {"name": "dash", "run_dir": str(directory / "run")},
        "sip": {"realm": "dash.test"},
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223", "managed": False}]},
        "accounts": [
            {
                "username": "boss",
                "roles": ["agent", "supervisor"],
                "employee_id": "900",
                "password_hash": fast.hash(PASSWORD),
                "ha1": sip_ha1("boss", "dash.test", PASSWORD),
            }
        ],
    }
    path = directory / "callcenter.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_recordings_page_in_a_browser(tmp_path: Path) -> None:
    url, wav_dir = seed(tmp_path)
    settings = tmp_path / "dashboard.json"
    settings.write_text(
        json.dumps(
            {
                "analytics_url": "http://127.0.0.1:9",
                "redis": "127.0.0.1:9",
                "timezone": "UTC",
                "language": "en",
                "preferences_file": str(tmp_path / "run" / "data" / "prefs.json"),
                "callcenter_config": str(accounts_config(tmp_path)),
                "store_url": url,
                "recording_dir": str(wav_dir),
            }
        )
    )
    port = free_port()
    env = {**os.environ, "HUAAN_DASHBOARD_CONFIG": str(settings), "PYTHONPATH": str(ROOT)}
    with (tmp_path / "streamlit.log").open("wb") as st_log:
        streamlit = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboards" / "app.py"),
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
            page = browser.page(f"http://127.0.0.1:{port}/recordings")
            page.set_viewport_size({"width": 1400, "height": 1100})
            page.get_by_label("Username").fill("boss")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_text("Logged in as boss").wait_for(timeout=30_000)
            # Every recording of the last 7 days: stored, failed, still recording.
            page.get_by_text("3 recordings").wait_for(timeout=30_000)
            browser.screenshot(page, "recordings_all")
            # The search: one call's ID.
            page.get_by_label("Call ID").fill("call-stored")
            page.get_by_label("Call ID").press("Enter")
            page.get_by_text("1 recordings").wait_for(timeout=30_000)
            page.get_by_role("button", name="Play").click()
            page.locator('[data-testid="stAudio"]').wait_for(timeout=30_000)
            page.get_by_text("Paused: 0:12.0–0:15.5 agent").wait_for()
            engine = bizdata.open_engine(url)
            try:
                wait_until(
                    lambda: bizdata.recording_access_log(engine, ref=STORED) != [],
                    timeout=10,
                    what="the playback in the access log",
                )
                (row,) = bizdata.recording_access_log(engine, ref=STORED)
                assert (row["actor"], row["action"]) == ("boss", "play")
            finally:
                engine.dispose()
            src = page.locator('[data-testid="stAudio"]').get_attribute("src") or ""
            # The player's source is the recording's WAV, as the file holds it.
            assert "/media/" in src and src.endswith(".wav"), src
            assert (
                page.request.get(src).body()
                == (wav_dir / f"{T0:%Y/%m/%d}/{STORED}.wav").read_bytes()
            )
            shot = browser.screenshot(page, "recordings")
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
            # The sidebar's switch: the page in Chinese, and boss's choice remembered.
            page.get_by_text("中文", exact=True).click()
            page.get_by_role("button", name="播放").wait_for(timeout=30_000)
            page.get_by_text("已登录：boss（班长）").wait_for(timeout=30_000)
            # The chosen recording's box shows its status in the new language too.
            # (its text is a div's or an input's value, depending on focus).
            page.wait_for_function(
                """() => [...document.querySelectorAll('[data-testid="stSelectbox"]')].some(
                    b => (b.innerText + [...b.querySelectorAll('input')].map(i => i.value)
                          .join(' ')).includes('call-stored · 1001 · 已保存'))""",
                timeout=30_000,
            )
            browser.screenshot(page, "recordings_zh")
            prefs = tmp_path / "run" / "data" / "prefs.json"
            wait_until(
                lambda: prefs.exists() and json.loads(prefs.read_text()).get("boss") == "zh",
                timeout=10,
                what="boss's language remembered",
            )
            # A new browser session starts in the settings' language (en); boss's
            # login brings Chinese back.
            again = browser.page(f"http://127.0.0.1:{port}/recordings")
            again.get_by_label("Username").fill("boss")
            again.get_by_label("Password", exact=True).fill(PASSWORD)
            again.get_by_role("button", name="Log in").click()
            again.get_by_text("已登录：boss（班长）").wait_for(timeout=30_000)
    finally:
        streamlit.terminate()
        try:
            streamlit.wait(timeout=15)
        except subprocess.TimeoutExpired:
            streamlit.kill()
            streamlit.wait(timeout=10)
