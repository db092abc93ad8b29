"""The desktop's softphone bundle in Debian's Chromium (Playwright), against real parts.

One browser for the module (testbed.running_browser): fake microphone playing a
1,000 Hz tone. The smoke test needs no SIP: the bundle loads, and a WebRTC loopback
in the page, negotiated through the bundle's G.711 filter, carries the microphone's
tone to the bundle's ToneMeter. Screenshots go to test-artifacts/<module>/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import (
    PAGE_TONE_HZ,
    SOFTPHONE_PAGE,
    ChromiumBrowser,
    StaticServer,
    artifact_dir,
    build_bundle,
    chromium_path,
    running_browser,
    serve_static,
)

pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (scripts/install installs it)"
)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[ChromiumBrowser]:
    build_bundle()
    with running_browser(artifact_dir(request.node.nodeid)) as running:
        yield running


@pytest.fixture(scope="module")
def pages() -> Iterator[StaticServer]:
    with serve_static(pages={"/": SOFTPHONE_PAGE}) as server:
        yield server


# Two peer connections in one page: the microphone goes through pc1 to pc2, with the
# offer cut to G.711 by the bundle; pc2's stream plays in an <audio> and is measured.
LOOPBACK = """async (freqHz) => {
  const mic = await navigator.mediaDevices.getUserMedia({audio: true, video: false});
  const pc1 = new RTCPeerConnection({iceServers: []});
  const pc2 = new RTCPeerConnection({iceServers: []});
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
  const remote = new Promise((resolve) => { pc2.ontrack = (e) => resolve(e.streams[0]); });
  mic.getTracks().forEach((t) => pc1.addTrack(t, mic));
  const offer = await pc1.createOffer();
  await pc1.setLocalDescription(offer);
  await pc2.setRemoteDescription({type: "offer", sdp: HuaanSoftphone.keepG711(offer.sdp)});
  const answer = await pc2.createAnswer();
  await pc2.setLocalDescription(answer);
  await pc1.setRemoteDescription(answer);
  const stream = await remote;
  const audio = document.getElementById("remote");
  audio.srcObject = stream;
  await audio.play();
  const meter = new HuaanSoftphone.ToneMeter(stream);
  const heard = await meter.measure({freqHz, durationMs: 1500});
  const other = await meter.measure({freqHz: freqHz * 1.37, durationMs: 300});
  meter.close();
  let codec = "";
  (await pc1.getStats()).forEach((r) => {
    if (r.type === "codec" && codec === "") codec = r.mimeType;
  });
  pc1.close(); pc2.close();
  return {heard, other, codec, answerCodecs: HuaanSoftphone.audioCodecs(answer.sdp)};
}"""


def test_bundle_loads_and_a_loopback_call_carries_the_microphone_tone(
    browser: ChromiumBrowser, pages: StaticServer
) -> None:
    page = browser.page(pages.url + "/")
    assert page.evaluate("typeof HuaanSoftphone.Softphone") == "function"
    assert page.evaluate("HuaanSoftphone.version") == "3.13.8"

    result: dict[str, Any] = page.evaluate(LOOPBACK, PAGE_TONE_HZ)

    assert result["answerCodecs"][0] in ("pcmu/8000", "pcma/8000"), result
    assert set(result["answerCodecs"]) <= {"pcmu/8000", "pcma/8000", "telephone-event/8000"}
    assert result["codec"] in ("audio/PCMU", "audio/PCMA"), result
    heard = result["heard"]
    assert heard["toneFraction"] >= 0.8, heard
    assert abs(heard["dominantHz"] - PAGE_TONE_HZ) < 30, heard
    # The meter is selective: the same audio shows no tone at another frequency.
    assert result["other"]["toneFraction"] == 0, result["other"]
    shot = browser.screenshot(page, "loopback")
    assert Path(shot).stat().st_size > 0
