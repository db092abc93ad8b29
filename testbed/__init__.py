"""The real processes on loopback that tests and benchmarks stand on.

A whole stack as `callcenter up` starts it (`running_stack`, and `running_acd_path`
with the ACD driving a controller), a controller and rtpengine on their own
(`running_controller`), the CDR service, Redis, PostgreSQL, and the parties that talk to them:
sipp phones and callers, RTP endpoints and an OPTIONS responder. Waiting is on a
condition with a deadline (`wait_until`), never a sleep. What a party heard (prompts
by cross-correlation, barge-in, DTMF and tones) is simulators' audio analysis, re-exported.

Not part of the product: nothing under the project's packages imports it.
"""

from simulators import (
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
from testbed._acd_path import (
    CALLER,
    OK,
    AcdPath,
    Party,
    acd_node,
    acd_path_config,
    agent_phone,
    agent_states,
    call_events,
    carrier_call,
    controller_feed_subscribed,
    events_of,
    hang_up,
    running_acd_path,
)
from testbed._cdr_service import (
    CdrServiceProcess,
    cdr_row,
    is_null,
    leg_rows,
    start_cdr_service,
)
from testbed._controller import (
    ControlError,
    Controller,
    Rtpengine,
    assert_clean,
    exchange,
    fresh_markers,
    media_of,
    non_silent,
    running_controller,
    running_rtpengine,
)
from testbed._options_responder import OptionsResponder
from testbed._parties import stop_all, track
from testbed._paths import ARTIFACTS, ROOT, artifact_dir
from testbed._postgres import create_database, postgres_bin, running_postgres
from testbed._redis_server import REDIS_SERVER, redis_server
from testbed._sip import (
    AGENTS,
    SDP,
    Dialog,
    RawSip,
    Reply,
    final_code,
    log_value,
    no_rtpengine_session,
    options_rtt,
    register_agent,
    registered,
    start_phone,
    unregister_all,
)
from testbed._stack import (
    REALM,
    ReplicaControl,
    Stack,
    base_config,
    running_stack,
    tls_spki_hash,
    wss_ca_file,
    wss_config,
)
from testbed._talker import Talker
from testbed._waiting import wait_until

__all__ = [
    "AGENTS",
    "ARTIFACTS",
    "CALLER",
    "OK",
    "PRESENT_SCORE",
    "REALM",
    "REDIS_SERVER",
    "ROOT",
    "SDP",
    "AcdPath",
    "CdrServiceProcess",
    "ControlError",
    "Controller",
    "Dialog",
    "OptionsResponder",
    "Party",
    "RawSip",
    "ReplicaControl",
    "Reply",
    "Rtpengine",
    "Stack",
    "Talker",
    "acd_node",
    "acd_path_config",
    "agent_phone",
    "agent_states",
    "artifact_dir",
    "assert_clean",
    "base_config",
    "call_events",
    "carrier_call",
    "cdr_row",
    "controller_feed_subscribed",
    "create_database",
    "decode_alaw",
    "decode_ulaw",
    "detect_dtmf",
    "encode_alaw",
    "encode_ulaw",
    "events_of",
    "exchange",
    "final_code",
    "find_prompt",
    "fresh_markers",
    "goertzel_power",
    "hang_up",
    "is_null",
    "leg_rows",
    "load_wav",
    "log_value",
    "media_of",
    "no_rtpengine_session",
    "non_silent",
    "options_rtt",
    "played_duration_s",
    "postgres_bin",
    "prompt_present",
    "received_pcm",
    "redis_server",
    "register_agent",
    "registered",
    "running_acd_path",
    "running_controller",
    "running_postgres",
    "running_rtpengine",
    "running_stack",
    "start_cdr_service",
    "start_phone",
    "stop_all",
    "tls_spki_hash",
    "tone_fraction",
    "track",
    "unregister_all",
    "wait_until",
    "wss_ca_file",
    "wss_config",
]
