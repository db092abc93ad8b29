"""A real browser for the agent desktop's tests: Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: `running_browser` launches the system
Chromium through `executable_path` (`chromium_path()`), headless, with fake media
devices whose microphone plays a generated tone (`tone_wav`), so what a page sends can
be checked by content at the far end. Certificate errors are ignored (the demo's
self-signed certificates, WSS included). One browser per test module; each page gets
its own context (its own cookies, its own softphone), and screenshots go to the
test's artifact folder.

`serve_static` is a small HTTPS (or, without a certificate, loopback HTTP: also a
secure context) file server for pages that are not the desktop itself, such as
`SOFTPHONE_PAGE`, which loads the bundle and nothing else; `PageSoftphone` drives the
bundle's `HuaanSoftphone.Softphone` in such a page and reads what it hears.
"""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from testbed._paths import ROOT
from testbed._waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

# Debian 12 and 13 both install the `chromium` package's binary here.
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
STATIC = ROOT / "desktop" / "static"
BUNDLE = STATIC / "softphone.js"
PAGE_TONE_HZ = 1000  # what the pages' fake microphones send

# WebRTC in headless Chromium (DESIGN.md): fake devices without a permission prompt,
# loopback candidates (everything runs on 127.0.0.1), real IPs rather than mDNS names
# (rtpengine cannot resolve .local), and audio that plays without a user gesture.
# Background pages keep their timers: a benchmark has many pages, none in front.
CHROMIUM_FLAGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--ignore-certificate-errors",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)


def chromium_path() -> str | None:
    """The system Chromium's binary, or None when the `chromium` package is missing."""
    return next((p for p in CHROMIUM_PATHS if Path(p).is_file()), None)


def tone_wav(path: Path, freq_hz: float = PAGE_TONE_HZ, *, seconds: float = 4.0) -> Path:
    """A 48 kHz, 16-bit mono sine WAV (Chromium loops it as the fake microphone)."""
    rate = 48000
    t = np.arange(int(rate * seconds)) / rate
    # A whole number of cycles, so the loop joins without a click.
    samples = (0.5 * 32767 * np.sin(2 * np.pi * freq_hz * t)).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def build_bundle() -> Path:
    """desktop/static/softphone.js, built by scripts/build-softphone when stale."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-softphone")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/build-softphone failed:\n{result.stdout}{result.stderr}")
    return BUNDLE


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


@dataclass
class ChromiumBrowser:
    """One launched Chromium; `page()` opens a page in a fresh context."""

    browser: Browser
    artifacts: Path
    tone_hz: float
    contexts: list[BrowserContext] = field(default_factory=list)

    def page(self, url: str | None = None) -> Page:
        context = self.browser.new_context(ignore_https_errors=True)
        context.grant_permissions(["microphone"])
        self.contexts.append(context)
        page = context.new_page()
        # The page's console (the softphone's and JsSIP's messages) goes to the
        # artifact folder: what a failed browser test's reader needs first.
        log = self.artifacts / f"console-{len(self.contexts)}.log"
        page.on("console", lambda m: _append(log, f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: _append(log, f"pageerror: {e}"))
        if url is not None:
            page.goto(url)
        return page

    def screenshot(self, page: Page, name: str) -> Path:
        """A PNG of `page` under the test's artifact folder (kept pass or fail)."""
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def running_browser(
    artifacts: Path, *, tone_hz: float = PAGE_TONE_HZ, headless: bool = True
) -> Iterator[ChromiumBrowser]:
    """Headless Chromium with fake media (its microphone: a `tone_hz` sine) for a test
    module; screenshots and the browser's log go to `artifacts`."""
    # Imported here: the many testbed users that start no browser do not load it.
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (scripts/install installs it)")
    artifacts.mkdir(parents=True, exist_ok=True)
    wav = tone_wav(artifacts / f"mic-{tone_hz:g}hz.wav", tone_hz)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=headless,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={wav}"],
        )
        try:
            yield ChromiumBrowser(browser, artifacts, tone_hz)
        finally:
            browser.close()


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key for `host` (the browser ignores
    certificate errors; Kamailio's WSS and the page server present it)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={host}"),
            *("-addext", f"subjectAltName=IP:{host},DNS:localhost"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


# ---------------------------------------------------------------------- a page server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extra_files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.extra_files.get(self.path.split("?")[0])
        if body is None:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a test's page loads are not news


@dataclass
class StaticServer:
    url: str
    server: http.server.ThreadingHTTPServer


@contextmanager
def serve_static(
    root: Path = STATIC,
    *,
    pages: dict[str, str] | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> Iterator[StaticServer]:
    """Serve `root` (and `pages`: path -> HTML) on a free loopback port: HTTPS with
    `cert`/`key`, else HTTP (127.0.0.1 is a secure context for WebRTC too)."""
    handler = type(
        "Handler",
        (_QuietHandler,),
        {"extra_files": {path: html.encode() for path, html in (pages or {}).items()}},
    )
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(handler, directory=str(root))
    )
    scheme = "http"
    if cert is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(cert), str(key) if key else None)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StaticServer(f"{scheme}://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


# A page with the bundle and nothing else: `window.phone` once `startPhone(options)`
# ran, every softphone event in `window.phoneEvents` ([name, data, ms since load]).
SOFTPHONE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>softphone test page</title>
<script src="/softphone.js"></script></head>
<body>
<h1>softphone</h1><p>state: <b id="state">idle</b></p><pre id="log"></pre>
<audio id="remote" autoplay></audio>
<script>
window.phoneEvents = [];
const EVENTS = ["registered", "unregistered", "registrationFailed", "incoming", "accepted",
  "ended", "failed", "hold", "unhold", "muted", "unmuted", "state"];
window.startPhone = (options) => {
  if (options.debug) HuaanSoftphone.debug(true);
  const phone = new HuaanSoftphone.Softphone({
    ...options, audioElement: document.getElementById("remote") });
  for (const name of EVENTS) {
    phone.on(name, (data) => {
      window.phoneEvents.push([name, data === undefined ? null : data, performance.now()]);
      document.getElementById("state").textContent = phone.state;
      document.getElementById("log").textContent += name + " " + JSON.stringify(data ?? "") + "\\n";
    });
  }
  if (options.autoAnswer) phone.on("incoming", () => phone.answer());
  window.phone = phone;
  phone.start();
};
window.hear = async (freqHz, durationMs) => {
  if (!window.phone.remoteStream) return null;
  const meter = new HuaanSoftphone.ToneMeter(window.phone.remoteStream);
  try { return await meter.measure({ freqHz, durationMs }); } finally { meter.close(); }
};
// Which of `freqs` the page hears (the one carrying most 100 ms windows, each window's
// best at a share of at least 0.5), and in what fraction of the windows.
window.hearOneOf = async (freqs, durationMs) => {
  if (!window.phone.remoteStream) return null;
  const meter = new HuaanSoftphone.ToneMeter(window.phone.remoteStream);
  await meter.context.resume();
  const counts = new Map();
  let windows = 0;
  const end = performance.now() + durationMs;
  try {
    while (performance.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      meter.analyser.getFloatTimeDomainData(meter.samples);
      let best = null, bestShare = 0;
      for (const f of freqs) {
        const share = HuaanSoftphone.toneShare(meter.samples, f, meter.context.sampleRate);
        if (share > bestShare) { bestShare = share; best = f; }
      }
      windows += 1;
      if (bestShare >= 0.5) counts.set(best, (counts.get(best) || 0) + 1);
    }
  } finally { meter.close(); }
  let freq = null, most = 0;
  for (const [f, n] of counts) if (n > most) { freq = f; most = n; }
  return {freq, toneFraction: windows ? most / windows : 0, windows};
};
</script></body></html>
"""


class PageSoftphone:
    """The bundle's softphone in a page showing SOFTPHONE_PAGE, driven from Python."""

    def __init__(self, page: Page) -> None:
        self.page = page
        wait_until(
            lambda: page.evaluate("typeof window.startPhone === 'function'"),
            timeout=10,
            what="the softphone test page loaded",
        )

    def start(self, *, wss_url: str, uri: str, realm: str, ha1: str, **extra: Any) -> None:
        options = {"wssUrl": wss_url, "uri": uri, "realm": realm, "ha1": ha1, **extra}
        self.page.evaluate("(o) => window.startPhone(o)", options)

    def call(self, method: str, *args: Any) -> Any:
        """`phone.<method>(*args)` in the page, and what it returned."""
        return self.page.evaluate(f"(a) => window.phone.{method}(...a)", list(args))

    @property
    def state(self) -> str:
        return str(self.page.evaluate("window.phone ? window.phone.state : 'idle'"))

    def events(self, name: str | None = None) -> list[Any]:
        """The data of each event `name` (all events as [name, data] when None)."""
        found = self.page.evaluate("window.phoneEvents")
        if name is None:
            return [[n, d] for n, d, _ in found]
        return [d for n, d, _ in found if n == name]

    def wait_event(self, name: str, timeout: float = 10.0, count: int = 1) -> Any:
        """The data of the `count`th event `name`, once it happened."""
        wait_until(
            lambda: len(self.events(name)) >= count,
            timeout=timeout,
            what=f"softphone event {name} #{count} (events: {json.dumps(self.events())[-600:]})",
        )
        return self.events(name)[count - 1]

    def wait_state(self, state: str, timeout: float = 10.0) -> None:
        wait_until(
            lambda: self.state == state,
            timeout=timeout,
            what=f"softphone state {state} (now {self.state})",
        )

    def hear(self, freq_hz: float, duration_ms: int = 1000) -> dict[str, Any]:
        """What the page hears now: ToneMeter.measure at `freq_hz` over `duration_ms`
        ({toneFraction, dominantHz, maxLevelDb, maxShare, windows, toneWindows})."""
        result = self.page.evaluate("([f, d]) => window.hear(f, d)", [freq_hz, duration_ms])
        if result is None:
            raise AssertionError("the page has no remote audio stream")
        return dict(result)
