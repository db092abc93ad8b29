"""SIP over WSS at the Kamailio edge (docs/kamailio.md, "WSS"): the desktop's softphone.

Real Kamailio with its WSS listener, rtpengine, Redis and one call-controller replica;
the browser is simulators.SipPhone (SIP over a WebSocket over TLS, no media), the carrier
sipp. rtpengine must turn plain RTP into WebRTC (ICE, DTLS-SRTP, rtcp-mux, G.711 only)
toward the browser, and the browser's answer back into plain RTP/AVP.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity import sip_ha1
from simulators import SipMessage, SipPhone, free_port, start_sipp, webrtc_sdp
from testbed import (
    Stack,
    artifact_dir,
    base_config,
    registered,
    running_stack,
    tls_spki_hash,
    track,
    wait_until,
    wss_ca_file,
    wss_config,
)

pytestmark = pytest.mark.integration

DIRECT = "95598"  # the edge rings agents 1001, 1002 itself (base_config)
SERVICE = "95500"  # the controller answers; the test has it ring an agent
CALLER = "+8613912345678"


class Wss:
    def __init__(self, stack: Stack, url: str) -> None:
        self.stack = stack
        self.url = url

    async def phone(self, user: str, password: str | None = None) -> SipPhone:
        secret = self.stack.passwords[user] if password is None else password
        return await SipPhone.websocket(
            self.url,
            user,
            self.stack.realm,
            sip_ha1(user, self.stack.realm, secret),
            ca_file=wss_ca_file(self.stack),
        )

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.url.removeprefix("wss://").rpartition(":")
        return host, int(port)


@pytest.fixture(scope="module")
def wss(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wss]:
    workdir = tmp_path_factory.mktemp("wss")
    config, passwords = base_config(workdir)
    url = wss_config(workdir, config)
    config["numbers"].append({"number": SERVICE, "category": "billing", "target": "controller"})
    config["controllers"] = [
        {"sip": f"127.0.0.1:{free_port()}", "control": f"127.0.0.1:{free_port()}"}
    ]
    failed_before = request.session.testsfailed
    with running_stack(workdir, config, passwords) as stack:
        yield Wss(stack, url)
        if request.session.testsfailed > failed_before:
            keep = artifact_dir(f"{request.node.nodeid}-stack")
            shutil.copytree(stack.layout.logs, keep, dirs_exist_ok=True)


def _assert_webrtc_offer(sdp: str) -> None:
    """What rtpengine must give a browser: ICE, DTLS-SRTP, rtcp-mux, G.711 and DTMF only."""
    media = re.search(r"^m=audio \d+ (\S+) ([\d ]+)\r?$", sdp, re.M)
    assert media, sdp
    assert media.group(1) == "UDP/TLS/RTP/SAVPF", sdp
    assert re.search(r"^a=fingerprint:sha-256 [0-9A-F:]+", sdp, re.M), sdp
    assert re.search(r"^a=ice-ufrag:\S+", sdp, re.M) and "a=ice-pwd:" in sdp, sdp
    assert re.search(r"^a=candidate:\S+ 1 [Uu][Dd][Pp] \d+ 127\.0\.0\.1 \d+ typ host", sdp, re.M)
    assert "a=rtcp-mux" in sdp and "a=crypto:" not in sdp, sdp
    codecs = {m.lower() for m in re.findall(r"^a=rtpmap:\d+ ([^/]+)/", sdp, re.M)}
    assert codecs <= {"pcmu", "pcma", "telephone-event"} and {"pcmu"} <= codecs, sdp


def _rtpengine_port(stack: Stack, media: str) -> bool:
    node = stack.config.rtpengine.nodes[0]
    ip, _, port = media.rpartition(":")
    return ip == "127.0.0.1" and node.port_min <= int(port) <= node.port_max


def test_register_over_wss_takes_the_right_password_and_refuses_a_wrong_one(wss: Wss) -> None:
    async def run() -> tuple[int, int, int]:
        good, bad = await wss.phone("1003"), await wss.phone("1002", password="not-it")
        # What JsSIP sends (RFC 5626 instance and reg-id, outbound in Supported): taken
        # as a plain registration, the edge has no outbound module.
        good.register_params = ';+sip.ice;reg-id=1;+sip.instance="<urn:uuid:0d3b7b1c-1b7a>"'
        good.register_headers = [("Supported", "path, gruu, outbound")]
        try:
            return await good.register(), await bad.register(), await good.register(expires=0)
        finally:
            await good.close()
            await bad.close()

    assert asyncio.run(run()) == (200, 403, 200)
    assert len(base64.b64decode(tls_spki_hash(wss.stack))) == 32  # for Chromium's flag


def test_a_closed_connection_takes_its_registration_with_it(wss: Wss) -> None:
    async def register_and_leave() -> None:
        phone = await wss.phone("1003")
        assert await phone.register() == 200
        assert registered(wss.stack, "1003")
        await phone.close()

    asyncio.run(register_and_leave())
    wait_until(
        lambda: not registered(wss.stack, "1003"),
        timeout=5,
        what="the contact of a closed WebSocket removed (usrloc handle_lost_tcp)",
    )


def test_trunk_call_reaches_a_browser_as_webrtc_and_the_carrier_gets_plain_rtp(
    wss: Wss, workdir: Path
) -> None:
    stack = wss.stack

    async def run() -> None:
        phone = await wss.phone("1001")
        try:
            assert await phone.register() == 200
            carrier = track(
                start_sipp(
                    "carrier",
                    "trunk_call_webrtc_agent",
                    stack.sip,
                    workdir=workdir,
                    keys={"rtp_port": free_port(), "caller": CALLER},
                    service=f"+86{DIRECT}",
                    timeout_s=20,
                )
            )
            invite = await phone.next_request("INVITE")
            _assert_webrtc_offer(invite.body)
            assert invite.header("X-CC-Dialled") == DIRECT
            dialog = await phone.ring(invite)
            await phone.answer(dialog, webrtc_sdp(port=free_port()))
            answered = (await asyncio.to_thread(carrier.wait_for_log, "ANSWERED"))[0]
            fields = dict(re.findall(r"(\w+)=(\S+)", answered))
            assert fields["proto"] == "RTP/AVP", answered
            assert fields["webrtc"] == "none", "no ICE, DTLS or SDES toward the carrier"
            assert _rtpengine_port(stack, fields["media"]), answered
            # The edge's own rtpengine call for this dialog (call-id ws-<Call-ID>).
            assert stack.rtpengine_calls() == [f"ws-{invite.header('Call-ID')}"]
            # The browser hangs up; its BYE finds the carrier through the edge.
            assert await phone.bye(dialog) == 200
            await asyncio.to_thread(carrier.wait_for_log, "BYE-RECEIVED")
            assert await asyncio.to_thread(carrier.wait, 10) == 0, carrier.errors()
        finally:
            await phone.register(expires=0)
            await phone.close()

    asyncio.run(run())
    wait_until(lambda: not stack.rtpengine_calls(), timeout=5, what="bridge deleted after BYE")


def test_controller_leg_reaches_a_browser_which_holds_and_hangs_up(wss: Wss, workdir: Path) -> None:
    """The ACD path: the controller's INVITE to the agent (via the edge, lookup) reaches
    the browser's WebSocket as WebRTC; the controller is answered plain RTP; the
    browser's hold (re-INVITE a=sendonly) and BYE pass the edge's bridge too."""
    stack = wss.stack
    control = stack.replica_control(0)

    async def run() -> None:
        phone = await wss.phone("1002")
        try:
            assert await phone.register() == 200
            carrier = track(
                start_sipp(
                    "carrier",
                    "ctl_caller_released",
                    stack.sip,
                    workdir=workdir,
                    keys={"rtp_port": free_port(), "cidhdr": "X-CC-Nothing", "cid": "-"},
                    service=f"+86{SERVICE}",
                    timeout_s=20,
                )
            )
            cid = str((await asyncio.to_thread(control.wait_new_call))["cid"])
            control.cmd("connect", cid=cid, agents=["1002"], ring_timeout_s=5.0)
            invite = await phone.next_request("INVITE")
            _assert_webrtc_offer(invite.body)
            dialog = await phone.ring(invite)
            await phone.answer(dialog, webrtc_sdp(port=free_port()))
            await asyncio.to_thread(control.wait_state, cid, "bridged")
            # Two rtpengine calls: the controller's anchor and the edge's WebRTC bridge,
            # whose controller side is plain RTP and whose browser side is WebRTC.
            bridge = f"ws-{invite.header('Call-ID')}"
            assert sorted(stack.rtpengine_calls()) == sorted([cid, bridge])
            tags = stack.ng().request("query", **{"call-id": bridge})["tags"]
            protocols = sorted(m["protocol"] for t in tags.values() for m in t["medias"])
            assert protocols == ["RTP/AVP", "UDP/TLS/RTP/SAVPF"], protocols

            # Hold from the browser: the controller relays it to the caller (its second
            # re-INVITE) and the browser's answer is WebRTC again.
            held = await phone.reinvite(dialog, webrtc_sdp(port=free_port(), direction="sendonly"))
            assert held.status == 200, held.first_line
            assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF ", held.body, re.M), held.body
            await asyncio.to_thread(carrier.wait_for_log, "REINVITE2")

            # The browser hangs up; the controller ends the caller's leg.
            assert await phone.bye(dialog) == 200
            assert await asyncio.to_thread(carrier.wait, 10) == 0, carrier.errors()
        finally:
            await phone.register(expires=0)
            await phone.close()

    try:
        asyncio.run(run())
    finally:
        control.close()
    wait_until(lambda: not stack.rtpengine_calls(), timeout=8, what="both rtpengine calls gone")


def test_a_browsers_internal_call_reaches_a_desk_phone_as_plain_rtp(wss: Wss) -> None:
    """Without an ACD the edge rings the callee itself: the browser's WebRTC offer
    reaches a UDP desk phone as plain RTP, and the phone's answer the browser as WebRTC."""
    stack = wss.stack

    async def run() -> None:
        browser = await wss.phone("1001")
        desk = await SipPhone.udp(
            stack.sip, "1003", stack.realm, sip_ha1("1003", stack.realm, stack.passwords["1003"])
        )
        try:
            assert await browser.register() == 200 and await desk.register() == 200
            calling = asyncio.create_task(
                browser.call("1003", webrtc_sdp(port=free_port(), payloads=("111", "0", "8")))
            )
            invite = await desk.next_request("INVITE")
            assert re.search(r"^m=audio \d+ RTP/AVP ", invite.body, re.M), invite.body
            assert "a=fingerprint" not in invite.body and "a=ice-" not in invite.body
            assert "a=rtcp-mux" not in invite.body
            dialog = await desk.ring(invite)
            plain = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            plain += f"m=audio {free_port()} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            await desk.answer(dialog, plain)
            answered, browser_dialog = await calling
            assert answered.status == 200 and browser_dialog is not None
            _assert_webrtc_offer(answered.body)  # an answer, but the same WebRTC shape
            assert stack.rtpengine_calls() == [f"ws-{invite.header('Call-ID')}"]
            hanging_up = asyncio.create_task(browser.bye(browser_dialog))
            await desk.respond(await desk.next_request("BYE"))
            assert await hanging_up == 200
        finally:
            for phone in (browser, desk):
                await phone.register(expires=0)
                await phone.close()

    asyncio.run(run())
    wait_until(lambda: not stack.rtpengine_calls(), timeout=5, what="bridge deleted after BYE")


def _tls(wss: Wss) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=wss_ca_file(wss.stack))
    raw = socket.create_connection(wss.address, timeout=3)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def _http(wss: Wss, request: bytes) -> bytes:
    with _tls(wss) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_plain_http_and_a_malformed_frame_are_refused_and_kamailio_keeps_serving(
    wss: Wss,
) -> None:
    host = f"Host: {wss.url.removeprefix('wss://')}\r\n".encode()
    got = _http(wss, b"GET / HTTP/1.1\r\n" + host + b"\r\n")
    assert got.startswith(b"HTTP/1.1 426 "), got
    got = _http(wss, b"POST / HTTP/1.1\r\n" + host + b"Content-Length: 0\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 405 "), got

    # A proper handshake, then a frame a client must never send (unmasked, reserved
    # opcode): the connection is closed, nothing else happens.
    with _tls(wss) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\n" + host + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: sip\r\n\r\n"
        )
        handshake = b""
        while b"\r\n\r\n" not in handshake:
            handshake += sock.recv(4096)
        assert handshake.startswith(b"HTTP/1.1 101 "), handshake
        sock.sendall(bytes([0x83, 0x05]) + b"hello" + bytes([0x81, 0x7F]) + b"\xff" * 8)
        closed = b""
        try:
            while chunk := sock.recv(4096):
                closed += chunk
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass
        # Either a close frame (opcode 8) or the connection simply dropped.
        assert closed == b"" or closed[0] & 0x0F == 0x8, closed

    async def still_serving() -> int:
        phone = await wss.phone("1003")
        try:
            return await phone.register(expires=0)
        finally:
            await phone.close()

    assert asyncio.run(still_serving()) == 200
    assert "websocket" in wss.stack.kamailio_log().lower()


def test_webrtc_offer_helpers_parse_what_they_build() -> None:
    message = SipMessage.parse(
        "INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n"
        "i: abc\r\nCSeq: 1 INVITE\r\n\r\n" + webrtc_sdp()
    )
    assert message.header("Via").startswith("SIP/2.0/WSS") and message.header("Call-ID") == "abc"
    assert "UDP/TLS/RTP/SAVPF 0 8 101" in message.body
