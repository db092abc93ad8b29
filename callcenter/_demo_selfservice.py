"""The demo's self-service call: a caller of the hotline serves themselves in the IVR,
then asks for an agent.

The caller (sipp/ivr_caller.xml, with an RTP endpoint that records what reaches it)
dials the number whose flow is the hotline (config/ivr/hotline.yaml). It keys "1" a
second into the bilingual language menu (Mandarin; the key cuts the prompt), "1" in the
main menu (the balance), its account number and "#", all as RFC 4733 telephone events
through rtpengine. It hears its balance read out, then keys "0" for an agent: the flow
hands the call to the ACD, which offers it to an agent, whose phone rings and is bridged
with the caller; the two exchange audio and the caller hangs up.

That the balance was heard is checked on the audio itself. The same interpreter the
controller runs (`ivr.Session`), fed the same keys and the account's record from the
same data source, says what text the balance prompt is; `prompts.render` with the
stack's prompt cache gives its WAV (the very file the controller had rtpengine play);
and cross-correlation finds it in what the caller received. The path through the flow
comes from the call's events (`call.ivr_step`, `call.ivr_done`).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

import bizdata
import eventlog
import ivr
import prompts
from callcenter._demo_parties import DemoError, Phone, wait_for
from configuration import CallCenterConfig, NumberRoute, RunLayout, split_hostport
from simulators import (
    AGENT_MARKER,
    CARRIER_MARKER,
    PRESENT_SCORE,
    RtpEndpoint,
    find_prompt,
    free_port,
    load_wav,
    media_address,
    parse_log_fields,
    received_pcm,
    start_sipp,
)

HOTLINE = "hotline"  # the flow the self-service call goes through
# 张伟, who owns the account (bizdata's well-known demo accounts), as a carrier sends him.
CALLER = "+8613912345678"
ACCOUNT = "12345674"
# The keys, each with the node it is keyed in and what it chooses there.
KEYS = (
    ("1", "language", "Mandarin"),
    ("1", "main", "balance"),
    (f"{ACCOUNT}#", "ask_account", "account number"),
    ("0", "after_balance", "agent"),
)
LISTEN_S = 1.0  # how much of a menu the caller hears before keying in
BALANCE_WAIT_S = 40.0  # until the balance has been read out (espeak-ng renders it first)


def hotline_route(config: CallCenterConfig) -> NumberRoute | None:
    """The first number whose calls go through the hotline flow."""
    return next((r for r in config.numbers if r.ivr == HOTLINE), None)


@dataclass(frozen=True)
class SelfServiceOutcome:
    number: str
    caller: str  # as the carrier sent it
    cid: str
    path: tuple[str, ...]  # the nodes visited (call.ivr_step)
    result: str  # call.ivr_done's
    balance_text: str  # what the balance prompt says, as the interpreter words it
    balance_score: float  # its cross-correlation with what the caller heard
    language_heard_s: float  # how much audio the caller heard before keying "1"
    agent: str  # whose phone rang and answered
    packets: int
    to_agent: int
    to_caller: int
    sip_ok: bool

    @property
    def heard_balance(self) -> bool:
        return self.balance_score >= PRESENT_SCORE

    @property
    def ok(self) -> bool:
        return (
            self.heard_balance
            and self.result == "queued"
            and self.path[-1:] == ("agent",)
            and self.sip_ok
            and self.to_agent >= self.packets * 0.95
            and self.to_caller >= self.packets * 0.95
        )


def expected_balance_text(config: CallCenterConfig, layout: RunLayout, route: NumberRoute) -> str:
    """The balance prompt's text for ACCOUNT after KEYS, as the controller's interpreter
    words it: the flow as `up` loaded it, the record from the data source it asks."""
    flow = ivr.load_flows(Path(config.ivr.flows_dir))[HOTLINE]
    schedules = {
        name: ivr.Schedule.from_spec(config.schedules[name]) for name in sorted(flow.schedules)
    }
    sources = bizdata.open_sources(config.bizdata, layout.root)
    try:
        record = sources["accounts"].lookup(ACCOUNT)
    finally:
        bizdata.close_sources(sources)
    if record is None:
        raise DemoError(f"the business data store has no account {ACCOUNT}: not seeded?")
    session = ivr.Session(
        flow,
        call=ivr.CallFacts(caller=CALLER, dialled=route.number, category=route.category),
        clock=lambda: datetime.now(UTC),
        schedules=schedules,
    )
    actions = session.start()
    for keys, _, _ in KEYS[:3]:
        for key in keys:
            actions = session.digit(key)
    lookup = next(a for a in actions if isinstance(a, ivr.Lookup))
    said = session.lookup_done(lookup.request_id, record, None)
    plays = [a for a in said if isinstance(a, ivr.Play)]
    texts = [item.text for play in plays for item in play.items if isinstance(item, ivr.Tts)]
    if len(texts) != 1:
        raise DemoError(f"the hotline does not read one balance prompt after the account: {texts}")
    return texts[0]


class _CallEvents:
    """The call's events in the stack's event log (Redis)."""

    def __init__(self, config: CallCenterConfig) -> None:
        host, port = split_hostport(config.redis.listen)
        self._client = redis.Redis(host=host, port=port)
        newest: Any = self._client.xrevrange(eventlog.DEFAULT_STREAM, count=1)
        self._mark = "(" + newest[0][0].decode() if newest else "0"

    def arrived(self, number: str) -> str | None:
        """The correlation ID of the first call to `number` since this was made."""
        for delivery in eventlog.replay(self._client, from_id=self._mark):
            event = delivery.event
            if event.kind == eventlog.CALL_ARRIVED and event.data.get("dialled") == number:
                return event.correlation_id
        return None

    def of(self, cid: str, kind: str) -> list[Mapping[str, str]]:
        return [
            d.event.data
            for d in eventlog.replay(self._client, from_id=self._mark)
            if d.event.correlation_id == cid and d.event.kind == kind
        ]

    def path(self, cid: str) -> tuple[str, ...]:
        return tuple(step["ivr_node"] for step in self.of(cid, eventlog.CALL_IVR_STEP))

    def close(self) -> None:
        self._client.close()


def _heard_s(rtp: RtpEndpoint) -> float:
    """Seconds of G.711 audio received (20 ms packets)."""
    return sum(1 for p in rtp.packets() if p.payload_type in (0, 8)) * 0.02


def _tell(port: int, call_id: str, method: str, body: str = "") -> None:
    """A request straight to the caller's sipp in its Call-ID (ivr_caller.xml's
    contract): MESSAGE hangs up."""
    message = (
        f"{method} sip:caller@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{secrets.token_hex(6)}\r\n"
        f"From: <sip:demo@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
        "To: <sip:caller@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), ("127.0.0.1", port))


def self_service_call(
    config: CallCenterConfig,
    layout: RunLayout,
    route: NumberRoute,
    phones: dict[str, Phone],
    *,
    workdir: Path,
    packets: int,
    queue_wait_s: float,
) -> SelfServiceOutcome:
    """The call, from dialling to the caller's hang-up after talking to the agent."""
    balance_text = expected_balance_text(config, layout, route)
    balance_wav = load_wav(prompts.render(balance_text, "zh", layout.root / "prompts"))
    events = _CallEvents(config)
    rtp = RtpEndpoint(record=True)
    port, call_id = free_port(), f"selfservice-{secrets.token_hex(8)}"
    rung_before = {n: len(p.lines("CALL ")) for n, p in phones.items()}
    byes_before = {n: len(p.lines("BYE ")) for n, p in phones.items()}
    for phone in phones.values():
        phone.rtp.received.clear()
    caller = start_sipp(
        "selfservice",
        "ivr_caller",
        config.sip.listen,
        workdir=workdir,
        port=port,
        service=route.number,
        keys={
            "rtp_port": rtp.port,
            "caller": CALLER,
            "payloads": "0 101",
            "event_line": "a=rtpmap:101 telephone-event/8000",
        },
        extra=["-cid_str", call_id],
        timeout_s=120,
    )
    try:
        media = media_address(parse_log_fields(caller.wait_for_log("ANSWERED ", timeout=10)[-1]))
        cid = wait_for(lambda: events.arrived(route.number), timeout=5, what="the call's arrival")

        def reached(node: str, timeout: float = 15.0) -> None:
            wait_for(
                lambda: node in events.path(cid),
                timeout=timeout,
                what=f"the IVR's node {node} (path so far: {events.path(cid)})",
            )

        def listen(seconds: float) -> float:
            start = _heard_s(rtp)
            wait_for(
                lambda: _heard_s(rtp) >= start + seconds,
                timeout=15,
                what=f"{seconds} s of the prompt",
            )
            return _heard_s(rtp)

        reached("language")
        language_heard_s = listen(LISTEN_S)
        rtp.send_dtmf(media, KEYS[0][0])
        reached("main")
        listen(LISTEN_S)
        rtp.send_dtmf(media, KEYS[1][0])
        reached("ask_account")
        rtp.send_dtmf(media, KEYS[2][0])
        reached("after_balance", BALANCE_WAIT_S)  # the balance prompt played to its end
        _, score = find_prompt(received_pcm(rtp), balance_wav)
        rtp.send_dtmf(media, KEYS[3][0])

        agent = wait_for(
            lambda: next(
                (n for n, p in phones.items() if len(p.lines("CALL ")) > rung_before[n]), None
            ),
            timeout=queue_wait_s,
            what="an agent's phone to ring for the self-service caller",
        )
        phone = phones[agent]
        delivered = media_address(parse_log_fields(phone.lines("CALL ")[-1]))
        bridged = media_address(parse_log_fields(caller.wait_for_log("REINVITE ", timeout=10)[-1]))
        caller.wait_for_log("SETTLED", timeout=10)
        rtp.send(bridged, marker=CARRIER_MARKER, count=packets)
        phone.rtp.send(delivered, marker=AGENT_MARKER, count=packets)
        phone.rtp.wait_received(packets, timeout=3)
        rtp.wait_received(packets, timeout=3)
        _tell(port, call_id, "MESSAGE")
        exit_code = caller.wait(timeout=15)
        hung_up = any(line.startswith("HUNG_UP") for line in caller.log_lines())
        wait_for(
            lambda: len(phone.lines("BYE ")) > byes_before[agent],
            timeout=5,
            what=f"the BYE at {agent}'s phone",
        )
        done = wait_for(
            lambda: events.of(cid, eventlog.CALL_IVR_DONE), timeout=5, what="call.ivr_done"
        )
        return SelfServiceOutcome(
            number=route.number,
            caller=CALLER,
            cid=cid,
            path=events.path(cid),
            result=done[0]["result"],
            balance_text=balance_text,
            balance_score=score,
            language_heard_s=language_heard_s,
            agent=agent,
            packets=packets,
            to_agent=phone.rtp.received_from(CARRIER_MARKER),
            to_caller=rtp.received_from(AGENT_MARKER),
            sip_ok=exit_code == 0 and hung_up,
        )
    finally:
        caller.stop()
        rtp.close()
        events.close()
