"""Simulated parties for tests, benchmarks and the demo: sipp scenarios and RTP endpoints,
and what a party heard (`_audio`: prompts by cross-correlation, barge-in, DTMF, tones)."""

from simulators._agents import (
    AgentPhone,
    RegistrationError,
    register,
    registration,
    start_agent_phone,
)
from simulators._audio import (
    PRESENT_SCORE,
    decode_alaw,
    decode_ulaw,
    detect_dtmf,
    encode_alaw,
    encode_ulaw,
    find_prompt,
    goertzel_power,
    load_wav,
    played_duration_s,
    prompt_present,
    received_pcm,
    tone_fraction,
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
    telephone_events,
)
from simulators._g711 import (
    ULAW_SILENCE,
    alaw_to_linear,
    linear_to_ulaw,
    ulaw_to_linear,
)
from simulators._ports import free_port
from simulators._rtp import RtpEndpoint, RtpPacket, payload_for
from simulators._sipp import SippRun, scenario_path, start_sipp

__all__ = [
    "AGENT_MARKER",
    "CARRIER_MARKER",
    "FREQUENCIES",
    "PRESENT_SCORE",
    "ULAW_SILENCE",
    "AgentPhone",
    "CallReport",
    "RegistrationError",
    "RtpEndpoint",
    "RtpPacket",
    "RtpSender",
    "SippRun",
    "alaw_to_linear",
    "call_with_media",
    "decode_alaw",
    "decode_ulaw",
    "detect_dtmf",
    "dtmf_tone",
    "encode_alaw",
    "encode_ulaw",
    "find_prompt",
    "free_port",
    "goertzel_power",
    "inband_frames",
    "linear_to_ulaw",
    "load_wav",
    "media_address",
    "parse_log_fields",
    "payload_for",
    "played_duration_s",
    "prompt_present",
    "received_pcm",
    "register",
    "registration",
    "scenario_path",
    "start_agent_phone",
    "start_sipp",
    "telephone_events",
    "tone_fraction",
    "ulaw_to_linear",
]
