"""R-CORE-1, R-AG-3: a trunk call reaches a registered agent through Kamailio and rtpengine.

Each party is a sipp process that checks what it received; media is counted at
each party by an RTP endpoint standing behind the port that party advertised.
"""

from __future__ import annotations

import re
from pathlib import Path

from simulators import RtpEndpoint, call_with_media, start_agent_phone
from testbed import Stack, wait_until


def test_trunk_call_reaches_agent_with_caller_id_category_and_media_both_ways(
    stack: Stack, workdir: Path
) -> None:
    agent_rtp = RtpEndpoint()
    try:
        phone = start_agent_phone(
            stack.sip,
            "1001",
            stack.passwords["1001"],
            stack.realm,
            workdir=workdir,
            rtp_port=agent_rtp.port,
        )
        report = call_with_media(
            stack.sip,
            phone,
            agent_rtp,
            caller="+8613912345678",
            service="+8695598",
            workdir=workdir,
        )
        seen = report.delivered
        # What the agent saw: normalised caller ID, category, dialled number, a fresh ID.
        assert seen["caller"] == "13912345678"
        assert seen["category"] == "electricity-billing"
        assert seen["dialled"] == "95598"
        assert re.fullmatch(r"[0-9a-f]{32}", seen["cid"]) and seen["cid"] != "0" * 32, (
            "the carrier's own correlation header must be replaced"
        )
        # Media was anchored: each party was told an rtpengine port, not the other's.
        assert seen["media"] != f"127.0.0.1:{report.carrier_rtp_port}"
        assert report.answered["media"] != f"127.0.0.1:{agent_rtp.port}"
        # Audio arrived unchanged and from the right party, both ways.
        assert report.agent_received_from_carrier >= report.packets_sent * 0.95
        assert report.carrier_received_from_agent >= report.packets_sent * 0.95

        assert report.carrier_exit == 0, report.carrier_errors
        assert phone.run.wait(timeout=15) == 0, phone.run.errors()
        wait_until(
            lambda: not stack.rtpengine_calls(),
            timeout=5,
            what="rtpengine session deleted after BYE",
        )
        assert f"cid={seen['cid']}" in stack.kamailio_log()
    finally:
        agent_rtp.close()
