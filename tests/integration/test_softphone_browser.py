"""The desktop's softphone bundle in Debian's Chromium (Playwright), against real parts.

One browser for the module (testbed.running_browser): fake microphone playing a
1,000 Hz tone. The smoke test needs no SIP: the bundle loads, and a WebRTC loopback
in the page, negotiated through the bundle's G.711 filter, carries the microphone's
tone to the bundle's ToneMeter.

The journey runs on the whole stack (`callcenter up`: Kamailio with its WSS listener,
rtpengine bridging WebRTC to plain RTP, the controller, the ACD): the page's
softphone registers over WSS as agent 1001, the agent logs in at the ACD, a carrier
call (sipp) is queued, offered and rung to the page through Kamailio, and answered
there. Audio is checked by content both ways (the caller's 600 Hz in the page's
ToneMeter; the page's 1,000 Hz decoded from the caller's RTP), then DTMF from the page
reaches the caller, hold reaches it as a sendonly re-INVITE, and the page's hang-up as
a BYE. Screenshots go to test-artifacts/<module>/.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import Page

from simulators import RtpEndpoint, scenario_path
from testbed import (
    CALLER,
    PAGE_TONE_HZ,
    SOFTPHONE_PAGE,
    AcdPath,
    ChromiumBrowser,
    PageSoftphone,
    StaticServer,
    TonePlayer,
    acd_path_config,
    carrier_call,
    chromium_path,
    decode_ulaw,
    media_of,
    received_pcm,
    registered,
    running_acd_path,
    self_signed_cert,
    serve_static,
    start_phone,
    tone_fraction,
    track,
    wait_until,
    wss_config,
)

NUMBER = "95598"
QUEUE = "billing"
AGENT = "1001"
CALLEE = "1002"  # a desk phone (sipp) that the page calls
CALLER_TONE_HZ = 600  # what the caller sends; the page's microphone sends PAGE_TONE_HZ
DESK_CALLER = scenario_path("desk_caller")
# JsSIP's RTCSession status once the ACK of its 2xx came (C.STATUS_CONFIRMED; 6 is
# STATUS_WAITING_FOR_ACK).
JSSIP_CONFIRMED = 9

pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="chromium not installed (scripts/install installs it)"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def pages(certificate: tuple[Path, Path]) -> Iterator[StaticServer]:
    cert, key = certificate
    with serve_static(pages={"/": SOFTPHONE_PAGE}, cert=cert, key=key) as server:
        yield server


@pytest.fixture(scope="module")
def desk_path(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AcdPath]:
    """`callcenter up` with Kamailio's WSS listener, one queue, agent 1001."""
    workdir = tmp_path_factory.mktemp("deskpath")
    config, passwords = acd_path_config(
        workdir,
        (AGENT, CALLEE),
        numbers=[
            {"number": NUMBER, "category": "electricity-billing", "target": "controller"}
            | {"queue": QUEUE}
        ],
        queues=[{"name": QUEUE, "skills": {"billing": 1}, "ring_timeout_ms": 8000}],
        skills={"billing": 2},
        controller_name="desk-ctl0",
    )
    wss_config(workdir, config)
    with running_acd_path(request, workdir, config, passwords) as path:
        yield path


def _registered_page(
    browser: ChromiumBrowser, pages: StaticServer, path: AcdPath, agent: str = AGENT
) -> tuple[Page, PageSoftphone]:
    """A new page whose softphone is registered over WSS as `agent`."""
    stack = path.stack
    assert stack.config.sip.wss_listen is not None
    page = browser.page(pages.url + "/")
    phone = PageSoftphone(page)
    phone.start(
        wss_url=f"wss://{stack.config.sip.wss_listen}",
        uri=f"sip:{agent}@{stack.realm}",
        realm=stack.realm,
        ha1=_ha1(path, agent),
        displayName=f"Agent {agent}",
        debug=True,  # JsSIP's log, in the artifact folder's console-N.log
    )
    phone.wait_event("registered")
    return page, phone


def _settled(page: Page) -> None:
    """Wait until the page's JsSIP session may re-offer: its last re-INVITE answered and
    ACKed, and no re-INVITE to it pending. (The softphone's hold and unhold events
    come when the page asks, before its re-INVITE is through; JsSIP refuses a new
    re-offer until then.)"""
    wait_until(
        lambda: bool(page.evaluate("window.phone.session.isReadyToReOffer()")),
        timeout=5,
        what="the page's last re-INVITE answered and ACKed",
    )


def _confirmed(page: Page) -> None:
    """Wait until every 2xx the page sent got its ACK (JsSIP's session left "waiting
    for ACK"; without one JsSIP resends the 200 and ends the call, "No ACK", at 32 s)."""
    wait_until(
        lambda: page.evaluate("window.phone.session._status") == JSSIP_CONFIRMED,
        timeout=5,
        what="the ACK of the page's last 2xx",
    )


def _ha1(path: AcdPath, username: str) -> str:
    config = path.stack.config
    account = next(a for a in config.accounts if a.username == username)
    return str(account.ha1)


def _audio_after(endpoint: RtpEndpoint, packets: int) -> npt.NDArray[np.int16]:
    """The PCMU audio of `packets` packets `endpoint` receives from now on, skipping the
    first three (60 ms: what was in flight when the page changed what it sends)."""
    start = len(endpoint.packets()) + 3
    wait_until(
        lambda: len(endpoint.packets()) >= start + packets,
        timeout=5,
        what=f"{packets} more packets at {endpoint.port}",
    )
    audio = [p for p in endpoint.packets()[start : start + packets] if p.payload_type == 0]
    return decode_ulaw(b"".join(p.payload for p in audio))


def _events_of(endpoint: RtpEndpoint) -> list[int]:
    """The RFC 4733 events (event codes, once per event) among what `endpoint` received:
    payloads other than G.711 whose 4-byte body is an event; its end packets (E bit)
    repeat, so an event counts once per RTP timestamp."""
    seen: dict[int, int] = {}
    for packet in endpoint.packets():
        if packet.payload_type in (0, 8) or len(packet.payload) != 4:
            continue
        event, flags, _duration = struct.unpack("!BBH", packet.payload)
        if flags & 0x80:
            seen.setdefault(packet.timestamp, event)
    return [seen[t] for t in sorted(seen)]


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


def test_agent_answers_a_queued_call_in_the_page_audio_both_ways_dtmf_hold_hangup(
    browser: ChromiumBrowser, pages: StaticServer, desk_path: AcdPath, tmp_path: Path
) -> None:
    path = desk_path
    page, phone = _registered_page(browser, pages, path)
    with path.for_one_test(()):
        path.log_in(AGENT)
        path.wait_agent(AGENT, "IDLE")

        caller = carrier_call(path, tmp_path, NUMBER, scenario=DESK_CALLER, record=True)
        cid = str(path.control.wait_new_call()["cid"])
        incoming = phone.wait_event("incoming", timeout=15)
        # The controller's X-Huaan-Call-Id pairs the ringing call with the desktop's
        # offer: the ACD call the agent is reserved for (here the correlation ID).
        offered = path.agent_view(AGENT)
        assert offered is not None and offered.call_id, offered
        assert incoming["huaanCallId"] == offered.call_id == cid, (incoming, offered)
        assert incoming["from"] == CALLER, incoming
        browser.screenshot(page, "ringing")

        phone.call("answer")
        phone.wait_event("accepted")
        caller.run.wait_for_log("SETTLED", timeout=10)  # bridged to the page
        bridged = [ln for ln in caller.run.log_lines() if ln.startswith("REINVITE ")][-1]
        path.wait_agent(AGENT, "TALKING")
        assert set(phone.call("codecs")) <= {"pcmu/8000", "pcma/8000", "telephone-event/8000"}

        # The page hears the caller's tone ...
        player = TonePlayer(caller.rtp, lambda: media_of(bridged), CALLER_TONE_HZ)
        path.on_close(player.stop)
        heard = phone.hear(CALLER_TONE_HZ, 1500)
        assert heard["toneFraction"] >= 0.6, heard
        assert abs(heard["dominantHz"] - CALLER_TONE_HZ) < 30, heard
        browser.screenshot(page, "talking")
        # ... and the caller hears the page's microphone.
        wait_until(
            lambda: len(received_pcm(caller.rtp)) >= 8000 * 2,
            timeout=10,
            what="2 s of the page's audio at the caller",
        )
        sent = received_pcm(caller.rtp)[-8000:]
        assert tone_fraction(sent, PAGE_TONE_HZ) >= 0.6, tone_fraction(sent, PAGE_TONE_HZ)
        assert tone_fraction(sent, CALLER_TONE_HZ) < 0.1  # no echo of the caller

        # DTMF from the page reaches the caller, as RFC 4733 events in the audio.
        assert phone.call("sendDtmf", "159#") == "rfc4733"
        wait_until(
            lambda: _events_of(caller.rtp)[-4:] == [1, 5, 9, 11],
            timeout=10,
            what=f"DTMF 1 5 9 # at the caller (got {_events_of(caller.rtp)})",
        )

        # Mute: the caller gets audio without the page's tone, then the tone again.
        phone.call("mute")
        phone.wait_event("muted")
        assert tone_fraction(_audio_after(caller.rtp, 25), PAGE_TONE_HZ) < 0.1
        phone.call("unmute")
        phone.wait_event("unmuted")
        assert tone_fraction(_audio_after(caller.rtp, 25), PAGE_TONE_HZ) >= 0.6

        # Hold: the caller is re-INVITEd with a direction that stops its audio to us.
        reinvites = len(caller.run.wait_for_log("REINVITE "))
        phone.call("hold")
        phone.wait_event("hold")
        assert phone.state == "held"
        held = caller.run.wait_for_log("REINVITE ", count=reinvites + 1)[-1]
        assert "dir=sendonly" in held or "dir=inactive" in held, held
        browser.screenshot(page, "held")
        _settled(page)
        phone.call("unhold")
        phone.wait_event("unhold")
        resumed = caller.run.wait_for_log("REINVITE ", count=reinvites + 2)[-1]
        assert "dir=sendrecv" in resumed or "dir= " in resumed + " ", resumed

        # The page hangs up: BYE reaches the caller through the controller.
        phone.call("hangup")
        ended = phone.wait_event("ended")
        assert ended["originator"] == "local", ended
        caller.run.wait_for_log("BYE", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        player.stop()
        browser.screenshot(page, "ended")
        path.wait_clean()


def test_the_page_calls_a_desk_phone_audio_both_ways_hold_and_hangs_up(
    browser: ChromiumBrowser, pages: StaticServer, desk_path: AcdPath, tmp_path: Path
) -> None:
    """An internal call from the page (`call("1002")`): the edge sends it to the
    controller, the ACD reserves 1002, whose desk phone (sipp) rings through the edge
    and answers; the controller re-INVITEs the page onto the bridge. Audio both ways by
    content. Hold and resume from the page reach the phone as re-INVITEs (JsSIP sends
    none before the ACK of its 200 to the bridge re-INVITE has come), audio flows
    again after them, and the page hangs up: the phone gets BYE."""
    path = desk_path
    page, phone = _registered_page(browser, pages, path)
    with path.for_one_test((CALLEE,)):
        path.log_in(AGENT, CALLEE)
        callee_rtp = RtpEndpoint(record=True)
        path.on_close(callee_rtp.close)
        callee = start_phone(
            path.stack,
            CALLEE,
            workdir=tmp_path,
            scenario="ctl_via_edge_agent_hold",
            rtp_port=callee_rtp.port,
        )
        track(callee.run)
        wait_until(lambda: registered(path.stack, CALLEE), timeout=10, what="1002 registered")

        phone.call("call", CALLEE)
        rang = callee.run.wait_for_log("CALL ", timeout=15)[-1]
        assert f" caller={AGENT} " in rang, rang
        path.wait_agent(CALLEE, "TALKING")
        phone.wait_state("talking")
        player = TonePlayer(callee_rtp, lambda: media_of(rang), CALLER_TONE_HZ)
        path.on_close(player.stop)
        heard = phone.hear(CALLER_TONE_HZ, 1500)
        assert heard["toneFraction"] >= 0.6, heard
        # The controller's ACK of the page's 200 to its bridge re-INVITE came through the
        # edge (Sippy fix 7 in docs/call-control.md).
        _confirmed(page)
        wait_until(
            lambda: len(received_pcm(callee_rtp)) >= 8000 * 2,
            timeout=10,
            what="2 s of the page's audio at the desk phone",
        )
        sent = received_pcm(callee_rtp)[-8000:]
        assert tone_fraction(sent, PAGE_TONE_HZ) >= 0.6, tone_fraction(sent, PAGE_TONE_HZ)
        assert {p.payload_type for p in callee_rtp.packets()} <= {0, 8, 101, 126}
        browser.screenshot(page, "internal-call")

        # Hold and resume from the page: re-INVITEs through the edge's WebRTC bridge
        # and the controller to the phone, each answered back to the page and ACKed.
        phone.call("hold")
        phone.wait_event("hold")
        held = callee.run.wait_for_log("REINVITE1 ", timeout=10)[-1]
        assert "dir=sendonly" in held or "dir=inactive" in held, held
        _settled(page)
        phone.call("unhold")
        phone.wait_event("unhold")
        resumed = callee.run.wait_for_log("REINVITE2 ", timeout=10)[-1]
        assert "dir=sendrecv" in resumed, resumed
        assert phone.state == "talking"
        heard = phone.hear(CALLER_TONE_HZ, 1500)
        assert heard["toneFraction"] >= 0.6, heard
        before = len(received_pcm(callee_rtp))
        wait_until(
            lambda: len(received_pcm(callee_rtp)) >= before + 8000,
            timeout=10,
            what="1 s more of the page's audio at the desk phone after resuming",
        )
        assert tone_fraction(received_pcm(callee_rtp)[-8000:], PAGE_TONE_HZ) >= 0.6

        phone.call("hangup")
        phone.wait_event("ended")
        callee.run.wait_for_log("BYE", timeout=10)
        assert callee.run.wait(timeout=10) == 0, callee.run.errors()
        player.stop()
        path.wait_clean()


def test_a_page_calls_another_page_audio_both_ways_hold_and_hangs_up(
    browser: ChromiumBrowser, pages: StaticServer, desk_path: AcdPath
) -> None:
    """An internal call between two browsers: 1001's page calls 1002's page. Two dialogs
    through the controller, each with its own WebRTC bridge at the edge (the caller's
    offer made plain RTP, the callee's leg made WebRTC again). Both pages' microphones
    play the same tone; each page hears it only from the other. Hold and resume from
    the callee, then the caller hangs up and the callee's call ends."""
    path = desk_path
    page, phone = _registered_page(browser, pages, path)
    with path.for_one_test((CALLEE,)):
        callee_page, callee = _registered_page(browser, pages, path, CALLEE)
        path.on_close(lambda: callee.call("stop"))
        path.log_in(AGENT, CALLEE)
        phone.call("call", CALLEE)
        incoming = callee.wait_event("incoming", timeout=15)
        assert incoming["from"] == AGENT, incoming
        offered = path.agent_view(CALLEE)
        assert offered is not None and incoming["huaanCallId"] == offered.call_id, incoming
        callee.call("answer")
        callee.wait_state("talking")
        phone.wait_state("talking")
        path.wait_agent(CALLEE, "TALKING")
        for side in (phone, callee):
            heard = side.hear(PAGE_TONE_HZ, 1500)
            assert heard["toneFraction"] >= 0.6, heard
        _confirmed(page)  # the bridge re-INVITE's 200 was ACKed
        _confirmed(callee_page)
        browser.screenshot(callee_page, "page-to-page")

        # Each re-INVITE crosses both bridges and the controller; the other page sees it
        # as the remote party's hold, and the controller ACKs its 200.
        callee.call("hold")
        assert phone.wait_event("hold")["originator"] == "remote"
        _settled(callee_page)
        callee.call("unhold")
        assert phone.wait_event("unhold")["originator"] == "remote"
        _settled(callee_page)
        _confirmed(page)
        assert callee.state == "talking" and phone.state == "talking"
        for side in (phone, callee):
            heard = side.hear(PAGE_TONE_HZ, 1500)
            assert heard["toneFraction"] >= 0.6, heard

        phone.call("hangup")
        phone.wait_event("ended")
        callee.wait_event("ended")
        path.wait_clean()
