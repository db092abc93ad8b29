"""Simulated parties for tests, benchmarks and the demo: sipp scenarios and RTP endpoints."""

from simulators._agents import (
    AgentPhone,
    RegistrationError,
    register,
    registration,
    start_agent_phone,
)
from simulators._call import (
    AGENT_MARKER,
    CARRIER_MARKER,
    CallReport,
    call_with_media,
    media_address,
    parse_log_fields,
)
from simulators._ports import free_port
from simulators._rtp import RtpEndpoint, RtpPacket, payload_for
from simulators._sipp import SippRun, scenario_path, start_sipp

__all__ = [
    "AGENT_MARKER",
    "CARRIER_MARKER",
    "AgentPhone",
    "CallReport",
    "RegistrationError",
    "RtpEndpoint",
    "RtpPacket",
    "SippRun",
    "call_with_media",
    "free_port",
    "media_address",
    "parse_log_fields",
    "payload_for",
    "register",
    "registration",
    "scenario_path",
    "start_agent_phone",
    "start_sipp",
]
