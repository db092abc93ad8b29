"""R-CORE-1, R-AG-3: a trunk call reaches a registered agent through Kamailio and rtpengine.

Each party is a sipp process that checks what it received; media is counted at
each party by an RTP endpoint standing behind the port that party advertised.
"""

from __future__ import annotations

import re
from pathlib import Path

from simulators import RtpEndpoint, start_agent_phone, start_sipp
from tests.support.stack import Stack
from tests.support.waiting import wait_until

CARRIER_MARKER = 0xCA
AGENT_MARKER = 0xA6
PACKETS = 40


def _media(line: str) -> tuple[str, int]:
    match = re.search(r"media=([0-9.]+):(\d+)", line)
    assert match, line
    return match.group(1), int(match.group(2))


def test_trunk_call_reaches_agent_with_caller_id_category_and_media_both_ways(
    stack: Stack, workdir: Path
) -> None:
    agent_rtp, carrier_rtp = RtpEndpoint(), RtpEndpoint()
    try:
        phone = start_agent_phone(stack.sip, "1001", stack.passwords["1001"], stack.realm,
                                  workdir=workdir, rtp_port=agent_rtp.port)
        carrier = start_sipp("carrier", "trunk_call", stack.sip, workdir=workdir,
                             service="+8695598", pause_ms=2500,
                             keys={"caller": "+8613912345678", "rtp_port": carrier_rtp.port})
        (delivered,) = phone.run.wait_for_log("CALL ")
        (answered,) = carrier.wait_for_log("ANSWERED ")

        # What the agent saw: normalised caller ID, category, dialled number, a fresh ID.
        assert "caller=13912345678 " in delivered
        assert "category=electricity-billing " in delivered
        assert "dialled=95598 " in delivered
        cid = re.search(r"cid=([0-9a-f]{32})", delivered)
        assert cid and cid.group(1) != "0" * 32, "the carrier's own header must be replaced"

        # Media is anchored: each party was given an rtpengine port, not the other's.
        agent_dest, carrier_dest = _media(delivered), _media(answered)
        assert agent_dest[1] != carrier_rtp.port and carrier_dest[1] != agent_rtp.port
        assert stack.rtpengine_calls(), "rtpengine holds the call while it is up"

        carrier_rtp.send(carrier_dest, marker=CARRIER_MARKER, count=PACKETS)
        agent_rtp.send(agent_dest, marker=AGENT_MARKER, count=PACKETS)
        assert agent_rtp.wait_received(PACKETS) >= PACKETS * 0.95
        assert carrier_rtp.wait_received(PACKETS) >= PACKETS * 0.95
        # The audio arrives unchanged and from the right party.
        assert agent_rtp.received_from(CARRIER_MARKER) >= PACKETS * 0.95
        assert carrier_rtp.received_from(AGENT_MARKER) >= PACKETS * 0.95

        assert carrier.wait(timeout=15) == 0, carrier.errors()
        assert phone.run.wait(timeout=15) == 0, phone.run.errors()
        wait_until(lambda: not stack.rtpengine_calls(), timeout=5,
                   what="rtpengine session deleted after BYE")
        assert f"cid={cid.group(1)}" in stack.kamailio_log()
    finally:
        agent_rtp.close()
        carrier_rtp.close()
