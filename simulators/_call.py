"""One carrier call to an agent phone, with RTP both ways counted at each party.

Shared by the demo and the tests: it reports what each party saw, and the
caller decides what to assert or print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from configuration import split_hostport
from simulators._agents import AgentPhone
from simulators._rtp import RtpEndpoint
from simulators._sipp import start_sipp

CARRIER_MARKER = 0xCA
AGENT_MARKER = 0xA6
_FIELD = re.compile(r"(\w+)=(\S*)")


def parse_log_fields(line: str) -> dict[str, str]:
    """`CALL cid=abc category=x media=1.2.3.4:5` -> {"cid": "abc", ...}."""
    return dict(_FIELD.findall(line))


def media_address(fields: dict[str, str]) -> tuple[str, int]:
    return split_hostport(fields["media"])


@dataclass(frozen=True)
class CallReport:
    delivered: dict[str, str]  # what the agent's phone saw in the INVITE
    answered: dict[str, str]  # what the carrier saw in the 200
    carrier_rtp_port: int
    carrier_exit: int
    agent_exit: int | None
    packets_sent: int
    agent_received_from_carrier: int
    carrier_received_from_agent: int
    carrier_errors: str


def call_with_media(
    target: str,
    phone: AgentPhone,
    agent_rtp: RtpEndpoint,
    *,
    caller: str,
    service: str,
    workdir: Path,
    name: str = "carrier",
    packets: int = 40,
    hold_ms: int = 2500,
) -> CallReport:
    """Place one call, exchange `packets` RTP packets each way while it is up, wait for BYE.

    `phone` must be answering with its media at agent_rtp.port.
    """
    carrier_rtp = RtpEndpoint()
    calls_before = sum(1 for line in phone.run.log_lines() if line.startswith("CALL "))
    agent_rtp.received.clear()  # the phone's endpoint may have served earlier calls
    try:
        carrier = start_sipp(
            name,
            "trunk_call",
            target,
            workdir=workdir,
            service=service,
            pause_ms=hold_ms,
            keys={"caller": caller, "rtp_port": carrier_rtp.port},
        )
        delivered = parse_log_fields(phone.run.wait_for_log("CALL ", calls_before + 1)[-1])
        answered = parse_log_fields(carrier.wait_for_log("ANSWERED ")[-1])
        carrier_rtp.send(media_address(answered), marker=CARRIER_MARKER, count=packets)
        agent_rtp.send(media_address(delivered), marker=AGENT_MARKER, count=packets)
        agent_rtp.wait_received(packets, timeout=3)
        carrier_rtp.wait_received(packets, timeout=3)
        carrier_exit = carrier.wait(timeout=hold_ms / 1000 + 15)
        return CallReport(
            delivered=delivered,
            answered=answered,
            carrier_rtp_port=carrier_rtp.port,
            carrier_exit=carrier_exit,
            agent_exit=phone.run.process.poll(),
            packets_sent=packets,
            agent_received_from_carrier=agent_rtp.received_from(CARRIER_MARKER),
            carrier_received_from_agent=carrier_rtp.received_from(AGENT_MARKER),
            carrier_errors=carrier.errors(),
        )
    finally:
        carrier_rtp.close()
