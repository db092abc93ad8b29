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
from simulators._dtmf import (
    FREQUENCIES,
    RtpSender,
    dtmf_tone,
    inband_frames,
    linear_to_ulaw,
    telephone_events,
    ulaw_to_linear,
)
from simulators._ports import free_port
from simulators._rtp import RtpEndpoint, RtpPacket, payload_for
from simulators._sipp import SippRun, scenario_path, start_sipp

__all__ = [
    "AGENT_MARKER",
    "CARRIER_MARKER",
    "FREQUENCIES",
    "AgentPhone",
    "CallReport",
    "RegistrationError",
    "RtpEndpoint",
    "RtpPacket",
    "RtpSender",
    "SippRun",
    "call_with_media",
    "dtmf_tone",
    "free_port",
    "inband_frames",
    "linear_to_ulaw",
    "media_address",
    "parse_log_fields",
    "payload_for",
    "register",
    "registration",
    "scenario_path",
    "start_agent_phone",
    "start_sipp",
    "telephone_events",
    "ulaw_to_linear",
]
