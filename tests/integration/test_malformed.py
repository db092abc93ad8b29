"""Malformed input is refused (4xx) or dropped, and never takes the edge down (R-CORE-1).

Raw UDP datagrams, because sipp will not send broken SIP. After each one the edge
must still answer OPTIONS at once; after all of them a normal call still works.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from callcenter import _process
from simulators import RtpEndpoint, start_sipp
from tests.integration._sip import (
    RawSip,
    media_of,
    no_rtpengine_session,
    options_rtt,
    start_phone,
    unregister_all,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def _invite(host: str, port: int, raw: RawSip, *, drop: tuple[str, ...] = (),
            content_length: str | None = None, body: str = "v=0\r\n") -> bytes:
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


def test_after_malformed_input_the_edge_still_completes_a_call(stack: Stack, workdir: Path
                                                               ) -> None:
    # Runs after the cases above (pytest keeps file order): the same Kamailio.
    pid = _process.read_pid(stack.layout, "kamailio")
    assert pid is not None and _process.is_alive(pid)
    log = stack.kamailio_log()
    for crash in ("exited by a signal", "signal 11", "Traceback", "core dumped"):
        assert crash not in log, f"{crash!r} in the Kamailio log"

    unregister_all(stack)
    agent_rtp, carrier_rtp = RtpEndpoint(), RtpEndpoint()
    phone = start_phone(stack, "1001", workdir=workdir, rtp_port=agent_rtp.port)
    carrier = start_sipp("carrier", "trunk_call", stack.sip, workdir=workdir,
                         service="95598", pause_ms=2500,
                         keys={"caller": "+8613912345678", "rtp_port": carrier_rtp.port})
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
