"""Malformed input is refused (4xx) or dropped, and never takes the edge down (R-CORE-1).

Raw UDP datagrams, because sipp will not send broken SIP. After each one the edge
must still answer OPTIONS at once; after all of them a normal call still works.
Stray requests (a BYE, CANCEL or ACK that matches nothing) get the answer RFC 3261
gives them, and the normal ACK of a refused INVITE is absorbed without a word.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from callcenter import _process
from simulators import RtpEndpoint, start_sipp
from testbed import (
    RawSip,
    Stack,
    media_of,
    no_rtpengine_session,
    options_rtt,
    start_phone,
    unregister_all,
    wait_until,
)

pytestmark = pytest.mark.integration


def _invite(
    host: str,
    port: int,
    raw: RawSip,
    *,
    drop: tuple[str, ...] = (),
    content_length: str | None = None,
    body: str = "v=0\r\n",
) -> bytes:
    """An INVITE from the trunk with some headers left out or a forged Content-Length."""
    tag = secrets.token_hex(4)
    headers = {
        "Via": f"SIP/2.0/UDP {raw.local_ip}:{raw.local_port};branch=z9hG4bK{tag};rport",
        "From": f"<sip:+8613912345678@{raw.local_ip}>;tag={tag}",
        "To": f"<sip:95598@{host}:{port}>",
        "Call-ID": f"bad-{tag}",
        "CSeq": "1 INVITE",
        "Contact": f"<sip:+8613912345678@{raw.local_ip}:{raw.local_port}>",
        "Max-Forwards": "70",
        "Content-Type": "application/sdp",
        "Content-Length": content_length if content_length is not None else str(len(body)),
    }
    lines = [f"INVITE sip:95598@{host}:{port} SIP/2.0"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name not in drop]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


CASES: dict[str, bytes | dict[str, Any]] = {
    "binary-garbage": bytes(range(256)) * 2,
    "text-garbage": b"HELLO THERE\r\n\r\n",
    "empty-headers": b"INVITE sip:95598@127.0.0.1 SIP/2.0\r\n\r\n",
    "no-from-to-callid-cseq": {"drop": ("From", "To", "Call-ID", "CSeq")},
    "no-cseq": {"drop": ("CSeq",)},
    "no-call-id": {"drop": ("Call-ID",)},
    "content-length-too-long": {"content_length": "9999"},
    "content-length-not-a-number": {"content_length": "abc"},
    "content-length-negative": {"content_length": "-5"},
}


def _assert_still_serving(stack: Stack) -> None:
    code, rtt = options_rtt(stack.sip, timeout=2.0)
    assert code == 200, "Kamailio stopped answering OPTIONS"
    assert rtt < 1.0, f"OPTIONS took {rtt:.2f}s"


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_malformed_request_is_refused_or_dropped(stack: Stack, case: str) -> None:
    host, port = stack.sip.rsplit(":", 1)
    with RawSip(stack.sip) as raw:
        spec = CASES[case]
        data = spec if isinstance(spec, bytes) else _invite(host, int(port), raw, **spec)
        sent_at = raw.send(data)
        # Waiting for an answer that may rightly never come: a deadline, not a sleep.
        replies = raw.replies(timeout=0.5, sent_at=sent_at)
    for reply in replies:
        assert 400 <= reply.code < 500, f"{case}: got {reply.code}"
    _assert_still_serving(stack)


def test_max_forwards_zero_gets_483(stack: Stack) -> None:
    with RawSip(stack.sip) as raw:
        dialog = raw.invite("95598", max_forwards=0)
        reply = dialog.final(timeout=5)
        assert reply is not None and reply.code == 483, reply
        dialog.ack(reply)
    _assert_still_serving(stack)


def _log_after(stack: Stack, offset: int) -> list[str]:
    return stack.kamailio_log()[offset:].splitlines()


def _warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if " WARNING: " in line or " ERROR: " in line]


def test_stray_bye_and_cancel_get_481_and_a_stray_ack_no_reply(stack: Stack, workdir: Path) -> None:
    """RFC 3261 9.2, 12.2.2, 15.1.2: 481, not 405 or silence. The scenario fails on any
    other reply, and on a reply to its ACK."""
    offset = len(stack.kamailio_log())
    run = start_sipp(
        "stray",
        "stray_requests",
        stack.sip,
        workdir=workdir,
        service="95598",
        keys={"caller": "+8613912345678"},
        timeout_s=20,
    )
    assert run.wait(timeout=15) == 0, run.errors()
    assert [line.split()[0:2] for line in run.log_lines()] == [
        ["BYE-IN-DIALOG", "481"],
        ["BYE-NO-TAG", "481"],
        ["CANCEL", "481"],
    ]
    lines = _log_after(stack, offset)
    for refused in (
        "refused BYE from 127.0.0.1: BYE matches no dialog",
        "refused CANCEL from 127.0.0.1: CANCEL matches no transaction",
    ):
        assert any(refused in line and " NOTICE: " in line for line in lines), refused
    (dropped,) = [line for line in lines if "dropped ACK" in line]
    assert " INFO: " in dropped, dropped
    assert _warnings(lines) == []
    _assert_still_serving(stack)


def test_the_ack_of_a_refused_invite_is_absorbed_without_a_log_line(stack: Stack) -> None:
    offset = len(stack.kamailio_log())
    with RawSip(stack.sip) as raw:
        refused = raw.invite("+8612345")  # no such number
        reply = refused.final()
        assert reply is not None and reply.code == 404, reply
        refused.ack(reply)
        # Then an ACK nobody knows, which is logged: once its line is there, the ACK
        # sent before it has been handled too.
        stray = f"stray-{secrets.token_hex(6)}"
        host, port = raw.target
        raw.send(
            f"ACK sip:95598@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {raw.local_ip}:{raw.local_port};"
            f"branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
            f"From: <sip:+8613912345678@{raw.local_ip}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:95598@{host}:{port}>\r\nCall-ID: {stray}\r\n"
            "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        wait_until(
            lambda: any(
                stray in line and "dropped ACK" in line for line in _log_after(stack, offset)
            ),
            timeout=5,
            what="the stray ACK's log line",
        )
        assert raw.replies(timeout=0.2) == [], "an ACK was answered"
    lines = _log_after(stack, offset)
    assert [line for line in lines if refused.call_id in line and "ACK" in line] == []
    assert _warnings(lines) == []


def test_after_malformed_input_the_edge_still_completes_a_call(stack: Stack, workdir: Path) -> None:
    # Runs after the cases above (pytest keeps file order): the same Kamailio.
    pid = _process.read_pid(stack.layout, "kamailio")
    assert pid is not None and _process.is_alive(pid)
    log = stack.kamailio_log()
    for crash in ("exited by a signal", "signal 11", "Traceback", "core dumped"):
        assert crash not in log, f"{crash!r} in the Kamailio log"

    unregister_all(stack)
    agent_rtp, carrier_rtp = RtpEndpoint(), RtpEndpoint()
    phone = start_phone(stack, "1001", workdir=workdir, rtp_port=agent_rtp.port)
    carrier = start_sipp(
        "carrier",
        "trunk_call",
        stack.sip,
        workdir=workdir,
        service="95598",
        pause_ms=2500,
        keys={"caller": "+8613912345678", "rtp_port": carrier_rtp.port},
    )
    try:
        (delivered,) = phone.run.wait_for_log("CALL ")
        (answered,) = carrier.wait_for_log("ANSWERED ")
        carrier_rtp.send(media_of(answered), marker=0xCA, count=20)
        assert agent_rtp.wait_received(20) >= 19
        assert agent_rtp.received_from(0xCA) >= 19
        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert phone.run.wait(timeout=15) == 0, phone.run.errors()
        assert "dialled=95598" in delivered
        no_rtpengine_session(stack)
    finally:
        carrier.stop()
        phone.run.stop()
        agent_rtp.close()
        carrier_rtp.close()
        unregister_all(stack)
