"""The IVR on the whole stack: callers through Kamailio to two controller replicas, with
rtpengine playing the prompts, the ACD and an agent's phone, the business data store,
a carrier's gateway and the CDR service, all as `callcenter up` starts them.

Callers are sipp (sipp/ivr_caller.xml: SIP through the edge, following its route set;
SIP INFO digits when the test says so), each with an RTP endpoint that records what
reached it and keys in RFC 4733 events or in-band tones. What a caller heard is checked
by cross-correlation with the prompts as the controller renders them (the same cache),
barge-in by how much of a prompt was heard. The CDR service runs in the stack, so
each call's path and result are read back from its CDR too, and the sensitive entry is
looked for there as well as in every log and everything in Redis.

One stack for the module; the calls are independent, so they all start at once (the
`calls` fixture runs each scenario on its own thread) and each test waits for its own
and checks it. The flows are the demo's hotline as shipped and small ones written into
the stack's flows directory, with timeouts of milliseconds. Node types and rules, and
the call that covers each (the module takes about 30 s, the calls together 17 s):

| what | call |
|---|---|
| the demo path in Mandarin, barge-in, "0" to an agent (queue), RFC 4733 | demo_zh |
| the demo path in English (set) | demo_en |
| menu invalid input, collect failing its validation, lookup not found, play; in-band | tones |
| menu by SIP INFO; lookup found, branch (time and data), set, queue out of hours | info |
| menu timeout, retries exhausted | silence |
| voicemail placeholder | voicemail |
| transfer to a number (carrier-a's gateway, sipp) | transfer |
| the maximum time in the IVR | max_time |
| a number out of hours | closed |
| a sensitive collect node (INFO and RFC 4733) and its lookup | pin |
| a flow reloaded while a call is in it | reload |
| a bad flow refused, the old one still serving | bad_flow |
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

import bizdata
import prompts
from analytics import ServiceClient
from controller._voicemail import DEFAULT_GREETING
from eventlog import Event, replay
from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from testbed import (
    PRESENT_SCORE,
    AcdPath,
    Stack,
    acd_path_config,
    agent_phone,
    cdr_row,
    controller_feed_subscribed,
    exchange,
    find_prompt,
    load_wav,
    media_of,
    played_duration_s,
    prompt_present,
    received_pcm,
    running_acd_path,
    track,
    wait_until,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOTLINE_FLOW = ROOT / "config" / "ivr" / "hotline.yaml"

# Numbers, each with its flow (or its hours).
HOTLINE, TOUR, HURRY, CLOSED, PIN, RELOAD, STEADY = (
    "95598",
    "95501",
    "95503",
    "95504",
    "95505",
    "95506",
    "95507",
)
AGENT = "1001"
QUEUE = "billing"
CUSTOMER = "+8613800138000"  # a transfer's number, behind carrier-a's gateway
ACCOUNT = "12345674"  # the demo's account: 123.45 owed, due 2026-12-31
UNKNOWN_ACCOUNT = "76543214"  # passes the Luhn check; the store has no such account
BAD_ACCOUNT = "12345678"  # fails the Luhn check
# A sensitive entry: long enough that no timestamp, port or ID in a log holds it by chance.
# Its second half (RFC 4733) shares no key with its first (SIP INFO): the controller takes
# a key that arrives by a second method within 2 s of the same key by another for one
# press sent two ways (docs/call-control.md, "DTMF").
SECRET_PIN = "864209751371"

# Lines that would give a digit away (tests/controller/test_dtmf.py): a SIP INFO body,
# rtpengine's per-packet DTMF lines, an event's JSON or bencode, "digit" and a digit.
LEAKS = (
    re.compile(r"Signal="),
    re.compile(r"DTMF event packet"),
    re.compile(r"DTMF DSP"),
    re.compile(r'"event"\s*:'),
    re.compile(r"onDTMF"),
    re.compile(r"digit\W{1,3}[0-9*#A-D](?:\W|$)"),
)

BALANCE = Decimal("123.45")
DUE = date(2026, 12, 31)
BALANCE_TEXT = {
    "zh": f"您的余额是{prompts.say(BALANCE, 'amount', 'zh')}，"
    f"缴费截止日期是{prompts.say(DUE, 'date', 'zh')}。",
    "en": f"Your balance is {prompts.say(BALANCE, 'amount', 'en')}, "
    f"due on {prompts.say(DUE, 'date', 'en')}.",
}

TOUR_FLOW = """\
name: tour
languages: [zh]
start: top
prompts:
  top: {zh: 查询账户请按1，留言请按2，转接请按3。}
  invalid: {zh: 输入有误。}
  no_input: {zh: 没有收到您的输入。}
  ask: {zh: 请输入户号，以井号键结束。}
  bad: {zh: 户号有误，请重新输入。}
  unknown: {zh: 没有找到这个户号。}
  leave: {zh: 请在提示音后留言。}
  transferring: {zh: 正在为您转接。}
  desk_closed: {zh: 柜台已经下班了。}
  bye: {zh: 再见。}
nodes:
  top:
    type: menu
    prompt: top
    choices: {1: ask, 2: box, 3: out}
    timeout_ms: 400
    retries: 1
    invalid_prompt: invalid
    timeout_prompt: no_input
  ask:
    type: collect
    prompt: ask
    min_digits: 8
    max_digits: 12
    validate: luhn
    store_as: account
    first_digit_timeout_ms: 5000
    inter_digit_timeout_ms: 2000
    retries: 1
    invalid_prompt: bad
    next: find
  find:
    type: lookup
    source: accounts
    key: "{account}"
    store_as: acct
    next: check
    on_not_found: unknown
  unknown:
    type: play
    prompt: unknown
    next: bye
  check:
    type: branch
    conditions:
      - {open: shut, next: bye}
      - {var: acct.status, op: eq, value: active, next: vip}
    default: bye
  vip:
    type: set
    category: tour-vip
    priority: 7
    skill: billing
    next: desk
  desk:
    type: queue
    queue: billing
    priority: 3
    skills: {billing: 1}
    hours: shut
    closed: desk_closed
  desk_closed:
    type: hangup
    prompt: desk_closed
  box:
    type: voicemail
    box: tour
    prompt: leave
  out:
    type: transfer
    number: "+8613800138000"
    prompt: transferring
  bye:
    type: hangup
    prompt: bye
"""

HURRY_FLOW = """\
name: hurry
languages: [zh]
start: hold
max_duration_ms: 1500
on_max_time: late
prompts:
  hold: {zh: 请稍候。}
  late: {zh: 很抱歉，本次服务时间已到。}
nodes:
  hold:
    type: menu
    prompt: hold
    choices: {1: late}
    timeout_ms: 30000
    retries: 0
  late:
    type: hangup
    prompt: late
"""

PIN_FLOW = """\
name: pin
languages: [zh]
start: ask_pin
prompts:
  pin: {zh: 请输入您的密码，以井号键结束。}
  wrong: {zh: 密码不正确。}
  bye: {zh: 再见。}
nodes:
  ask_pin:
    type: collect
    prompt: pin
    min_digits: 12
    max_digits: 16
    sensitive: true
    store_as: pin
    first_digit_timeout_ms: 5000
    inter_digit_timeout_ms: 3000
    next: check_pin
  check_pin:
    type: lookup
    source: accounts
    key: "{pin}"
    store_as: holder
    next: bye
    on_not_found: wrong
    on_error: wrong
  wrong:
    type: hangup
    prompt: wrong
  bye:
    type: hangup
    prompt: bye
"""

# Two versions of one flow: each node and prompt names its version.
RELOAD_FLOW = """\
name: reload
languages: [zh]
start: {v}_menu
prompts:
  ask: {{zh: 这是{zh}菜单，请按1。}}
  bye: {{zh: {zh}，再见。}}
nodes:
  {v}_menu:
    type: menu
    prompt: ask
    choices: {{1: {v}_bye}}
    timeout_ms: 30000
    retries: 0
  {v}_bye:
    type: hangup
    prompt: bye
"""
RELOAD_V1 = RELOAD_FLOW.format(v="first", zh="第一版")
RELOAD_V2 = RELOAD_FLOW.format(v="second", zh="第二版")

STEADY_FLOW = """\
name: steady
languages: [zh]
start: greet
prompts:
  hello: {zh: 您好，这是稳定的版本。}
nodes:
  greet:
    type: play
    prompt: hello
    next: done
  done:
    type: hangup
"""
# The same flow with a `next` to a node that does not exist: refused at load.
STEADY_BAD = STEADY_FLOW.replace("next: done", "next: nowhere")


def _flows() -> dict[str, str]:
    return {
        "hotline": HOTLINE_FLOW.read_text(encoding="utf-8"),
        "tour": TOUR_FLOW,
        "hurry": HURRY_FLOW,
        "pin": PIN_FLOW,
        "reload": RELOAD_V1,
        "steady": STEADY_FLOW,
    }


def write_flow(path: Path, text: str) -> None:
    """Replace a flow file at once (a new inode), as an editor's save or a deploy does:
    the watcher never reads half a file."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


# ---------------------------------------------------------------- the event log


class EventTail:
    """The stack's event log, followed by one thread, by correlation ID: the callers'
    threads wait on it without each replaying the whole stream."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._by_cid: dict[str, list[Event]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._from = "0"
        self._thread = threading.Thread(target=self._follow, name="event-tail", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            for delivery in replay(self._client, from_id=self._from):
                with self._lock:
                    self._by_cid[delivery.event.correlation_id].append(delivery.event)
                self._from = "(" + delivery.entry_id
            self._stop.wait(0.05)

    def of(self, cid: str, kind: str | None = None) -> list[Event]:
        with self._lock:
            found = list(self._by_cid.get(cid, ()))
        return [e for e in found if kind is None or e.kind == kind]

    def arrived_from(self, caller: str) -> str | None:
        """The correlation ID of the call from `caller` (as the edge normalised it)."""
        with self._lock:
            events = [e for found in self._by_cid.values() for e in found]
        return next(
            (
                e.correlation_id
                for e in events
                if e.kind == "call.arrived" and e.data.get("caller") == caller
            ),
            None,
        )

    def wait(self, cid: str, kind: str, *, timeout: float = 20.0, **fields: str) -> dict[str, str]:
        """The first `kind` event of the call whose data has `fields`."""

        def match() -> dict[str, str] | None:
            for event in self.of(cid, kind):
                data = dict(event.data)
                if all(data.get(k) == v for k, v in fields.items()):
                    return data
            return None

        wait_until(match, timeout=timeout, what=f"{kind} {fields} of {cid}: {self.steps(cid)}")
        found = match()
        assert found is not None
        return found

    def steps(self, cid: str) -> list[tuple[str, str]]:
        return [(e["ivr_node"], e["input"]) for e in self.of(cid, "call.ivr_step")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------- the callers

_CALLER_NUMBERS = iter(range(1, 100))


@dataclass
class Caller:
    """One sipp caller through the edge and the RTP endpoint behind its SDP."""

    name: str
    caller: str  # the national form the edge makes of what it sent
    run: SippRun
    rtp: RtpEndpoint
    port: int
    call_id: str
    tail: EventTail
    cid: str = ""
    media: tuple[str, int] = ("", 0)
    _infos: int = 0

    def answered(self, timeout: float = 15.0) -> Caller:
        """Wait for the controller's answer; learn the call's correlation ID."""
        self.media = media_of(self.run.wait_for_log("ANSWERED", timeout=timeout)[0])
        wait_until(
            lambda: self.tail.arrived_from(self.caller),
            timeout=5,
            what=f"call.arrived from {self.caller}",
        )
        self.cid = self.tail.arrived_from(self.caller) or ""
        return self

    def step(self, node: str, timeout: float = 20.0) -> None:
        self.tail.wait(self.cid, "call.ivr_step", timeout=timeout, ivr_node=node)

    def done(self, timeout: float = 30.0) -> dict[str, str]:
        return self.tail.wait(self.cid, "call.ivr_done", timeout=timeout)

    def audio_s(self) -> float:
        """Seconds of audio received so far (20 ms packets)."""
        return sum(1 for p in self.rtp.packets() if p.payload_type in (0, 8)) * 0.02

    def hear(self, seconds: float, *, since: float | None = None, timeout: float = 20.0) -> None:
        """Wait until `seconds` more audio arrived than at `since` (default: now)."""
        start = self.audio_s() if since is None else since
        wait_until(
            lambda: self.audio_s() >= start + seconds,
            timeout=timeout,
            what=f"{self.name} hears {seconds} s more (at {start:.1f} s, steps "
            f"{self.tail.steps(self.cid)})",
        )

    def rfc4733(self, digits: str) -> None:
        self.rtp.send_dtmf(self.media, digits)

    def tones(self, digits: str) -> None:
        self.rtp.send_dtmf(self.media, digits, inband=True)

    def info(self, digits: str) -> None:
        """Each digit by SIP INFO in the caller's dialog (through the edge); answered 200."""
        for digit in digits:
            self._to_sipp("NOTIFY", f"Signal={digit}\r\n")
            self._infos += 1
            self.run.wait_for_log("INFO 200", count=self._infos, timeout=10)

    def hang_up(self) -> None:
        self._to_sipp("MESSAGE", "")

    def _to_sipp(self, method: str, body: str) -> None:
        """A request straight to the caller's sipp, in its Call-ID: its instruction."""
        message = (
            f"{method} sip:caller@127.0.0.1:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{secrets.token_hex(6)}\r\n"
            f"From: <sip:test@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
            "To: <sip:caller@127.0.0.1>\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), ("127.0.0.1", self.port))

    def ended(self, timeout: float = 15.0) -> None:
        """The caller's sipp ended cleanly (the flow's BYE, or its own)."""
        assert self.run.wait(timeout=timeout) == 0, self.run.errors()[-2000:]

    def heard(self) -> Any:
        return received_pcm(self.rtp)


# ---------------------------------------------------------------- the stack


@dataclass
class IvrStack:
    path: AcdPath
    cdrs: ServiceClient
    tail: EventTail
    workdir: Path
    gateway: str  # carrier-a's gateway (host:port), where a transfer's number rings
    phone_rtp: RtpEndpoint
    phone: SippRun
    # Every Offer the ACD made (WatchActions), as the agent's desktop would see them.
    offers: list[Any] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def stack(self) -> Stack:
        return self.path.stack

    @property
    def flows(self) -> Path:
        return Path(self.stack.config.ivr.flows_dir)

    @property
    def cache(self) -> Path:
        """The prompt cache the replicas render into (and rtpengine plays from)."""
        return self.stack.layout.root / "prompts"

    def prompt(self, text: str, language: str = "zh") -> Any:
        """A prompt's samples as the controller renders it (same renderer, same cache)."""
        return load_wav(prompts.render(text, language, self.cache))

    def replicas(self) -> list[Any]:
        return [self.stack.replica_control(i) for i in range(len(self.stack.config.controllers))]

    def ivr_status(self) -> list[dict[str, Any]]:
        """Every replica's `ivr` command."""
        found = []
        for control in self.replicas():
            try:
                found.append(control.cmd("ivr"))
            finally:
                control.close()
        return found

    def flow_versions(self, name: str) -> set[str]:
        return {
            f["version"]
            for status in self.ivr_status()
            for f in status["flows"]
            if f["name"] == name
        }

    def call(self, name: str, number: str, *, tones: bool = False) -> Caller:
        """A carrier call from a caller of its own (so its call.arrived tells it apart),
        offering telephone-event, or (`tones`) only PCMU as a trunk sending tones does."""
        n = next(_CALLER_NUMBERS)
        rtp = RtpEndpoint(record=True)
        self._closers.append(rtp.close)
        port, call_id = free_port(), f"ivr-{name}-{secrets.token_hex(6)}"
        run = track(
            start_sipp(
                name,
                "ivr_caller",
                self.stack.sip,
                workdir=self.workdir / name,
                port=port,
                service=number,
                keys={
                    "rtp_port": rtp.port,
                    "caller": f"+86138{n:08d}",
                    "payloads": "0" if tones else "0 101",
                    "event_line": "a=ptime:20" if tones else "a=rtpmap:101 telephone-event/8000",
                },
                extra=["-cid_str", call_id, "-base_cseq", "10"],
                timeout_s=120,
            )
        )
        return Caller(name, f"138{n:08d}", run, rtp, port, call_id, self.tail).answered()

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


def _schedules() -> dict[str, Any]:
    today = date.today()
    return {
        # The demo's `office`: open whenever the test runs.
        "office": {"timezone": "Asia/Shanghai", "weekly": {"mon-sun": ["00:00-24:00"]}},
        # Closed whenever the test runs: a holiday from the day before yesterday on.
        "shut": {
            "timezone": "Asia/Shanghai",
            "weekly": {"mon-sun": ["00:00-24:00"]},
            "holidays": [f"{today - timedelta(days=2)}..{today + timedelta(days=2)}"],
        },
    }


@pytest.fixture(scope="module")
def ivr_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IvrStack]:
    workdir = tmp_path_factory.mktemp("ivr")
    flows = workdir / "ivr"
    flows.mkdir()
    for name, text in _flows().items():
        (flows / f"{name}.yaml").write_text(text, encoding="utf-8")

    def number(dialled: str, flow: str, **more: Any) -> dict[str, Any]:
        return {"number": dialled, "category": flow, "target": "controller", "ivr": flow, **more}

    config, passwords = acd_path_config(
        workdir,
        (AGENT,),
        numbers=[
            number(HOTLINE, "hotline"),
            number(TOUR, "tour"),
            number(HURRY, "hurry"),
            number(
                CLOSED,
                "tour",
                hours="shut",
                closed={"zh": "现在是非工作时间。", "en": "We are closed now."},
            ),
            number(PIN, "pin"),
            number(RELOAD, "reload"),
            number(STEADY, "steady"),
        ],
        queues=[
            {
                "name": QUEUE,
                "skills": {"billing": 1},
                "strategy": "longest_idle",
                "ring_timeout_ms": 5000,
                "wrap_up_ms": 500,
            }
        ],
        skills={"billing": 2},
        controller_name="ivr-ctl0",
    )
    config["controllers"].append(
        {
            "sip": f"127.0.0.1:{free_port()}",
            "control": f"127.0.0.1:{free_port()}",
            "name": "ivr-ctl1",
        }
    )
    config["ivr"] = {"flows_dir": str(flows)}
    # The tour flow's voicemail node's box: a message ends after 5 s at the latest.
    config["voicemail"] = {"boxes": {"tour": {"queue": QUEUE, "max_message_s": 5}}}
    config["schedules"] = _schedules()
    config["bizdata"] = {}
    gateway = f"127.0.0.1:{free_port()}"
    config["trunks"] = [
        {
            "name": "carrier-a",
            "sources": ["127.0.0.1/32"],
            "gateway": gateway,
            "outbound_prefixes": ["+86"],
        }
    ]
    config["analytics"] = {
        "data_dir": str(workdir / "chdb"),
        "listen": f"127.0.0.1:{free_port()}",
        "block_ms": 100,
    }
    started = time.monotonic()
    with running_acd_path(request, workdir, config, passwords) as path:
        stack = path.stack
        assert stack.config.bizdata is not None and stack.config.analytics is not None
        bizdata.seed_demo(bizdata.store_url(stack.config.bizdata, stack.layout.root))
        seeded = {a.account_number for a in bizdata.demo_accounts()}
        assert ACCOUNT in seeded and UNKNOWN_ACCOUNT not in seeded
        second = stack.layout.log_file("controller1")
        wait_until(
            lambda: controller_feed_subscribed(second.read_text()),
            timeout=10,
            what="the second replica's ACD action feed is subscribed",
        )
        path.log_in(AGENT)
        phone = agent_phone(path, workdir / "phone", AGENT, "ctl_via_edge_agent")
        tail = EventTail(path.events_redis)
        ivr = IvrStack(
            path,
            ServiceClient(stack.config.analytics.url()),
            tail,
            workdir,
            gateway,
            phone.rtp,
            phone.run,
        )
        feed = path.acd.actions(
            lambda action: ivr.offers.append(action.offer) if action.HasField("offer") else None
        )
        print(f"\nthe IVR stack took {time.monotonic() - started:.1f} s to start")
        try:
            yield ivr
        finally:
            feed.close()
            ivr.close()
            tail.close()
            path.close()


# ---------------------------------------------------------------- the calls


@dataclass
class Outcome:
    """What a scenario saw, for its test to check."""

    caller: Caller
    done: dict[str, str]
    steps: list[tuple[str, str]]
    heard: Any
    notes: dict[str, Any] = field(default_factory=dict)


def _finish(c: Caller, **notes: Any) -> Outcome:
    done = c.done()
    c.ended()
    return Outcome(c, done, c.tail.steps(c.cid), c.heard(), notes)


def demo_zh(s: IvrStack) -> Outcome:
    """The hotline in Mandarin: "1" cuts the language menu after a second of it, the main
    menu's "1", the account and "#" by RFC 4733, the balance heard whole, then "0": an
    agent's phone rings, answers and talks with the caller, who then hangs up."""
    c = s.call("demo_zh", HOTLINE)
    c.step("language")
    c.hear(1.0)
    barged_at = c.audio_s()
    c.rfc4733("1")
    c.step("main")
    c.hear(1.0, since=barged_at + 0.2)
    c.rfc4733("1")
    c.step("ask_account")
    c.rfc4733(f"{ACCOUNT}#")
    c.step("after_balance", timeout=40)  # the balance was said to its end
    c.rfc4733("0")
    c.step("agent")
    ringing = s.phone.wait_for_log("CALL ", timeout=20)[0]
    bridged = media_of(c.run.wait_for_log("REINVITE", timeout=15)[0])
    c.run.wait_for_log("SETTLED", timeout=10)
    heard_before_agent = c.heard()
    to_agent, to_caller = exchange(c.rtp, bridged, s.phone_rtp, media_of(ringing))
    c.hang_up()
    c.run.wait_for_log("HUNG_UP", timeout=10)
    s.phone.wait_for_log("BYE", timeout=10)
    done = c.done()
    c.ended()
    return Outcome(
        c,
        done,
        c.tail.steps(c.cid),
        heard_before_agent,
        {"ringing": ringing, "to_agent": to_agent, "to_caller": to_caller},
    )


def demo_en(s: IvrStack) -> Outcome:
    """The hotline in English ("2"), the account by RFC 4733, the balance heard; then
    the caller hangs up at the "repeat or agent" menu."""
    c = s.call("demo_en", HOTLINE)
    c.step("language")
    c.hear(0.5)
    c.rfc4733("2")
    c.step("main")
    c.hear(0.5)
    c.rfc4733("1")
    c.step("ask_account")
    c.rfc4733(f"{ACCOUNT}#")
    c.step("after_balance", timeout=40)
    c.hang_up()
    c.run.wait_for_log("HUNG_UP", timeout=10)
    return _finish(c)


def tones(s: IvrStack) -> Outcome:
    """In-band tones: a wrong key, then "1"; an account failing the Luhn check, then one
    the store does not have."""
    c = s.call("tones", TOUR, tones=True)
    c.step("top")
    c.hear(0.5)
    c.tones("9")  # not a choice: "输入有误。" and the menu again
    c.hear(len(s.prompt("输入有误。")) / 8000 + 0.8)
    c.tones("1")
    c.step("ask")
    c.hear(0.3)
    c.tones(f"{BAD_ACCOUNT}#")  # the Luhn check fails: "户号有误" and the prompt again
    c.hear(len(s.prompt("户号有误，请重新输入。")) / 8000 + 0.8)
    c.tones(f"{UNKNOWN_ACCOUNT}#")
    return _finish(c)


def info(s: IvrStack) -> Outcome:
    """SIP INFO: "1", the demo's account and "#": found and active, so the branch goes to
    the set node and the queue, which is out of hours."""
    c = s.call("info", TOUR)
    c.step("top")
    c.hear(0.3)
    c.info("1")
    c.step("ask")
    c.info(f"{ACCOUNT}#")
    return _finish(c)


def silence(s: IvrStack) -> Outcome:
    """No key at all: the menu times out twice (400 ms each after its prompt)."""
    c = s.call("silence", TOUR)
    return _finish(c)


def voicemail(s: IvrStack) -> Outcome:
    c = s.call("voicemail", TOUR)
    c.step("top")
    c.hear(0.3)
    c.rfc4733("2")
    return _finish(c)


def transfer(s: IvrStack) -> Outcome:
    """ "3": the flow transfers to CUSTOMER; carrier-a's gateway answers, the two talk."""
    gateway_rtp = RtpEndpoint()
    s._closers.append(gateway_rtp.close)
    gateway = track(
        start_sipp(
            "gateway",
            "ctl_via_edge_gateway",
            s.stack.sip,
            workdir=s.workdir / "gateway",
            port=int(s.gateway.rpartition(":")[2]),
            keys={"rtp_port": gateway_rtp.port},
            pause_ms=200,
            timeout_s=120,
        )
    )
    c = s.call("transfer", TOUR)
    c.step("top")
    c.hear(0.3)
    c.rfc4733("3")
    rung = gateway.wait_for_log("CALL ", timeout=20)[0]
    bridged = media_of(c.run.wait_for_log("REINVITE", timeout=15)[0])
    c.run.wait_for_log("SETTLED", timeout=10)
    to_customer, to_caller = exchange(c.rtp, bridged, gateway_rtp, media_of(rung))
    done = c.done()
    c.hang_up()
    c.run.wait_for_log("HUNG_UP", timeout=10)
    gateway.wait_for_log("BYE", timeout=10)
    c.ended()
    assert gateway.wait(timeout=10) == 0, gateway.errors()
    return Outcome(
        c,
        done,
        c.tail.steps(c.cid),
        c.heard(),
        {"rung": rung, "to_customer": to_customer, "to_caller": to_caller},
    )


def max_time(s: IvrStack) -> Outcome:
    c = s.call("max_time", HURRY)
    return _finish(c)


def closed(s: IvrStack) -> Outcome:
    c = s.call("closed", CLOSED)
    return _finish(c)


def pin(s: IvrStack) -> Outcome:
    """A sensitive entry: its first half by SIP INFO, the rest and "#" by RFC 4733."""
    c = s.call("pin", PIN)
    c.step("ask_pin")
    c.hear(0.3)
    c.info(SECRET_PIN[:6])
    c.rfc4733(SECRET_PIN[6:] + "#")
    return _finish(c)


def reload(s: IvrStack) -> Outcome:
    """A call waits in the first version's menu while the flow changes; a call after the
    change gets the second version; each then ends on its own version."""
    path = s.flows / "reload.yaml"
    (old,) = s.flow_versions("reload")
    first = s.call("reload_first", RELOAD)
    first.step("first_menu")
    write_flow(path, RELOAD_V2)
    wait_until(
        lambda: old not in s.flow_versions("reload"),
        timeout=10,
        what="every replica reloads the changed flow",
    )
    (new,) = s.flow_versions("reload")
    versions_in_calls = {
        c["cid"]: c["version"] for status in s.ivr_status() for c in status["calls"]
    }
    second = s.call("reload_second", RELOAD)
    second.step("second_menu")
    second.hear(0.5)
    second.rfc4733("1")
    first.rfc4733("1")  # its menu ended long ago: it waits 30 s for a key
    outcome = _finish(first)
    outcome.notes.update(
        second=_finish(second),
        old=old,
        new=new,
        first_version=versions_in_calls.get(first.cid),
    )
    return outcome


def bad_flow(s: IvrStack) -> Outcome:
    """A flow broken at run time is refused by every replica; a new call still gets the
    old one."""
    path = s.flows / "steady.yaml"
    (old,) = s.flow_versions("steady")
    write_flow(path, STEADY_BAD)
    wait_until(
        lambda: all(
            "nowhere" in (status.get("last_reload_error") or "") for status in s.ivr_status()
        ),
        timeout=10,
        what="every replica refuses the bad flow",
    )
    errors = [status["last_reload_error"] for status in s.ivr_status()]
    versions = s.flow_versions("steady")
    c = s.call("bad_flow", STEADY)
    outcome = _finish(c)
    write_flow(path, STEADY_FLOW)
    outcome.notes.update(errors=errors, versions=versions, old=old, path=path)
    return outcome


SCENARIOS: dict[str, Callable[[IvrStack], Outcome]] = {
    f.__name__: f
    for f in (
        demo_zh,
        demo_en,
        tones,
        info,
        silence,
        voicemail,
        transfer,
        max_time,
        closed,
        pin,
        reload,
        bad_flow,
    )
}


@dataclass
class Calls:
    futures: dict[str, Future[Outcome]]
    started: float

    def outcome(self, name: str) -> Outcome:
        return self.futures[name].result(timeout=180)


@pytest.fixture(scope="module")
def calls(ivr_stack: IvrStack) -> Iterator[Calls]:
    """Every scenario at once, each on its own thread."""
    with ThreadPoolExecutor(len(SCENARIOS), thread_name_prefix="ivr-call") as pool:
        futures = {name: pool.submit(run, ivr_stack) for name, run in SCENARIOS.items()}
        yield Calls(futures, time.monotonic())


def _kinds(s: IvrStack, cid: str) -> list[str]:
    """The call's event kinds in time order: the controller and the ACD write from
    different processes, so their order in the stream may differ (testbed.events_of)."""
    return [e.kind for e in sorted(s.tail.of(cid), key=lambda e: e.ts)]


# ---------------------------------------------------------------- the tests


def test_the_demo_hotline_in_mandarin_reads_the_balance_and_0_reaches_an_agent(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("demo_zh")
    s, cid = ivr_stack, o.caller.cid
    assert o.steps == [
        ("language", ""),
        ("mandarin", "1"),
        ("main", ""),
        ("ask_account", "1"),
        ("find_account", ACCOUNT),
        ("say_balance", ""),
        ("after_balance", ""),
        ("agent", "0"),
    ]
    assert o.done == {"ivr_node": "agent", "result": "queued"}
    heard = o.heard
    assert prompt_present(heard, s.prompt(BALANCE_TEXT["zh"])), "the balance was not heard"
    assert not prompt_present(heard, s.prompt(BALANCE_TEXT["en"], "en"))
    # Barge-in: "1" a second into the language menu cut it; the main menu followed.
    language_zh = s.prompt("欢迎致电华安电力。普通话服务请按1。")
    cut = played_duration_s(heard, language_zh)
    assert 0.5 <= cut <= len(language_zh) / 8000 - 1.0, (cut, len(language_zh) / 8000)
    assert (
        played_duration_s(heard, s.prompt("查询电费余额请按1，报修停电请按2，人工服务请按0。"))
        > 0.5
    )
    assert prompt_present(heard, s.prompt("正在为您转接，请稍候。"))  # before the queue
    # The agent's phone was rung with the call (X-Huaan-Call-Id: the ACD's call ID), and
    # the ACD's offer carried the IVR path and the account entered (the desktop's ring).
    assert f"cid={cid} " in o.notes["ringing"]
    assert f" acd={cid} " in o.notes["ringing"]
    offer = next(offer for offer in s.offers if offer.call_id == cid)
    assert dict(offer.call_data) == {
        "ivr_path": ">".join(node for node, _ in o.steps),
        "account": ACCOUNT,
    }
    assert o.notes["to_agent"] >= 48 and o.notes["to_caller"] >= 48
    kinds = _kinds(s, cid)
    assert kinds.count("call.ivr_done") == 1
    assert kinds.index("call.ivr_done") < kinds.index("call.queued") < kinds.index("call.answered")
    cdr = cdr_row(s.cdrs, cid, until=lambda row: row["disposition"] == "answered", timeout=20)
    assert list(cdr["ivr_path"]) == [node for node, _ in o.steps]
    assert (cdr["ivr_result"], cdr["agent"], cdr["queue"]) == ("queued", AGENT, QUEUE)


def test_the_demo_hotline_in_english_reads_the_balance_in_english(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("demo_en")
    s = ivr_stack
    assert [node for node, _ in o.steps] == [
        "language",
        "english",
        "main",
        "ask_account",
        "find_account",
        "say_balance",
        "after_balance",
    ]
    assert o.done == {"ivr_node": "after_balance", "result": "caller_left"}
    assert prompt_present(o.heard, s.prompt(BALANCE_TEXT["en"], "en"))
    assert not prompt_present(o.heard, s.prompt(BALANCE_TEXT["zh"]))
    assert (
        played_duration_s(
            o.heard,
            s.prompt(
                "For your balance, press 1. To report a power outage, press 2. "
                "For an agent, press 0.",
                "en",
            ),
        )
        > 0.3
    )


def test_in_band_tones_drive_menus_and_collect_invalid_entries_and_unknown_accounts(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("tones")
    s = ivr_stack
    assert o.steps == [
        ("top", ""),
        ("ask", "1"),
        ("find", UNKNOWN_ACCOUNT),
        ("unknown", ""),
        ("bye", ""),
    ]
    assert o.done == {"ivr_node": "bye", "result": "self_served"}
    for text in ("输入有误。", "户号有误，请重新输入。", "没有找到这个户号。", "再见。"):
        assert prompt_present(o.heard, s.prompt(text)), text


def test_sip_info_digits_drive_a_menu_through_lookup_branch_set_and_a_closed_queue(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("info")
    s = ivr_stack
    assert o.steps == [
        ("top", ""),
        ("ask", "1"),
        ("find", ACCOUNT),
        ("check", ""),
        ("vip", ""),
        ("desk", ""),
        ("desk_closed", ""),
    ]
    assert o.done == {"ivr_node": "desk_closed", "result": "closed"}
    assert prompt_present(o.heard, s.prompt("柜台已经下班了。"))
    assert "call.queued" not in _kinds(s, o.caller.cid)


def test_a_menu_without_input_times_out_and_runs_out_of_retries(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("silence")
    assert o.steps == [("top", "")]
    assert o.done == {"ivr_node": "top", "result": "retries_exhausted"}
    heard, top = o.heard, ivr_stack.prompt("查询账户请按1，留言请按2，转接请按3。")
    no_input = ivr_stack.prompt("没有收到您的输入。")
    at, score = find_prompt(heard, no_input)
    assert score >= PRESENT_SCORE
    # The menu whole before the timeout prompt, and again after it.
    split = round(at * 8000)
    assert prompt_present(heard[:split], top)
    assert prompt_present(heard[split + len(no_input) :], top)


def test_voicemail_plays_the_nodes_prompt_and_the_boxs_greeting_then_records(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("voicemail")
    s = ivr_stack
    assert o.steps == [("top", ""), ("box", "2")]
    assert o.done == {"ivr_node": "box", "result": "voicemail"}
    assert prompt_present(o.heard, s.prompt("请在提示音后留言。"))
    assert prompt_present(o.heard, s.prompt(DEFAULT_GREETING["zh"]))
    assert len(s.tail.of(o.caller.cid, "call.voicemail")) == 1
    # This stack's rtpengine has no recording spool unless `recording:` is configured:
    # either way the controller tried to record (tests/controller/ivr/test_voicemail.py
    # checks the pcap).
    kinds = _kinds(s, o.caller.cid)
    assert "recording.started" in kinds or "recording.failed" in kinds


def test_transfer_to_a_number_rings_the_trunk_and_bridges_the_caller(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("transfer")
    s, cid = ivr_stack, o.caller.cid
    assert o.steps == [("top", ""), ("out", "3")]
    assert o.done == {"ivr_node": "out", "result": "transferred"}
    assert f"cid={cid} " in o.notes["rung"]
    assert o.notes["to_customer"] >= 48 and o.notes["to_caller"] >= 48
    assert prompt_present(o.heard, s.prompt("正在为您转接。"))
    (moved,) = s.tail.of(cid, "call.transferred")
    assert moved["to_kind"] == "external"


def test_the_maximum_time_in_the_ivr_ends_a_waiting_caller(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("max_time")
    assert o.steps == [("hold", ""), ("late", "")]
    assert o.done == {"ivr_node": "late", "result": "max_time"}
    assert prompt_present(o.heard, ivr_stack.prompt("很抱歉，本次服务时间已到。"))


def test_out_of_hours_the_number_announces_it_and_hangs_up(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("closed")
    s = ivr_stack
    assert o.steps == []
    assert o.done == {"ivr_node": "", "result": "closed"}
    assert prompt_present(o.heard, s.prompt("现在是非工作时间。"))
    assert prompt_present(o.heard, s.prompt("We are closed now.", "en"))


def test_a_flow_reloaded_while_a_call_is_in_it(ivr_stack: IvrStack, calls: Calls) -> None:
    o = calls.outcome("reload")
    s = ivr_stack
    assert o.notes["old"] != o.notes["new"]
    assert o.notes["first_version"] == o.notes["old"]
    assert o.steps == [("first_menu", ""), ("first_bye", "1")]
    assert o.done == {"ivr_node": "first_bye", "result": "self_served"}
    assert prompt_present(o.heard, s.prompt("第一版，再见。"))
    second: Outcome = o.notes["second"]
    assert second.steps == [("second_menu", ""), ("second_bye", "1")]
    assert prompt_present(second.heard, s.prompt("第二版，再见。"))
    assert not prompt_present(second.heard, s.prompt("第一版，再见。"))


def test_a_bad_flow_is_refused_and_the_old_one_still_serves(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    o = calls.outcome("bad_flow")
    path: Path = o.notes["path"]
    line = STEADY_BAD.splitlines().index("    next: nowhere") + 1
    for error in o.notes["errors"]:
        assert f"{path}:{line}: node greet: " in error and "nowhere" in error, error
    assert o.notes["versions"] == {o.notes["old"]}
    assert o.steps == [("greet", ""), ("done", "")]
    assert o.done == {"ivr_node": "done", "result": "self_served"}
    assert prompt_present(o.heard, ivr_stack.prompt("您好，这是稳定的版本。"))


def test_digits_in_all_three_forms_reach_the_replica_that_owns_the_call(
    ivr_stack: IvrStack, calls: Calls
) -> None:
    """Both replicas took IVR calls (Kamailio's round robin), and each call's digits,
    whatever their form, drove its flow on its own replica (the scenarios' paths);
    together the replicas counted digits of all three methods."""
    outcomes = [calls.outcome(name) for name in SCENARIOS]
    owners = {e.node for o in outcomes for e in ivr_stack.tail.of(o.caller.cid, "call.ivr_done")}
    assert owners == {"ivr-ctl0", "ivr-ctl1"}
    by_method: dict[str, int] = defaultdict(int)
    for status in ivr_stack.ivr_status():
        assert sum(status["results"].values()) > 0
        for method, count in status["digits"].items():
            by_method[method] += count
    assert by_method["rfc4733"] > 0 and by_method["inband"] > 0 and by_method["info"] > 0


def _redis_values(client: redis.Redis) -> Iterator[tuple[str, bytes]]:
    """Every value of every key in the stack's Redis, as bytes."""
    for key in client.scan_iter():
        kind = client.type(key)
        name = key.decode(errors="replace")
        values: Any
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"hash":
            values = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"set":
            values = client.smembers(key)
        elif kind == b"zset":
            values = client.zrange(key, 0, -1)
        elif kind == b"stream":
            values = [
                v for _, fields in client.xrange(key) for pair in fields.items() for v in pair
            ]
        else:
            values = []
        for value in values:
            yield name, value if isinstance(value, bytes) else str(value).encode()


def test_a_sensitive_entry_is_in_no_log_event_or_cdr(ivr_stack: IvrStack, calls: Calls) -> None:
    """Runs last: every call is over, so every log is complete."""
    for name in SCENARIOS:
        calls.outcome(name)
    print(f"\nall IVR calls took {time.monotonic() - calls.started:.1f} s")
    o = calls.outcome("pin")
    s, cid = ivr_stack, o.caller.cid
    assert o.steps == [("ask_pin", ""), ("check_pin", "<sensitive>"), ("wrong", "")]
    assert o.done == {"ivr_node": "wrong", "result": "self_served"}
    secret = SECRET_PIN.encode()
    values = list(_redis_values(s.path.events_redis))
    # A control: an entry that is not sensitive (the demo's account) is there.
    assert any(ACCOUNT.encode() in value for _, value in values)
    for name, value in values:
        assert secret not in value, f"the entry is in Redis, {name}"
    cdr = cdr_row(s.cdrs, cid, timeout=20)
    assert SECRET_PIN not in repr(cdr)
    assert list(cdr["ivr_path"]) == ["ask_pin", "check_pin", "wrong"]
    logs = sorted(s.stack.layout.logs.glob("*.log"))
    assert {"controller0.log", "controller1.log", "kamailio.log", "rtpengine0.log"} <= {
        log.name for log in logs
    }
    controllers = "".join(
        log.read_text(errors="replace") for log in logs if log.name.startswith("controller")
    )
    assert f"cid={cid} " in controllers  # a control: the logs tell of this call
    for log in logs:
        text = log.read_text(errors="replace")
        assert SECRET_PIN not in text, f"the entry is in {log.name}"
        for line in text.splitlines():
            for leak in LEAKS:
                assert not leak.search(line), f"{log.name} gives a digit away: {line}"
    # Nothing left: no call in a replica, no rtpengine session.
    for control in s.replicas():
        try:
            wait_until(
                lambda c=control: c.cmd("status")["calls"] == 0, timeout=10, what="calls end"
            )
        finally:
            control.close()
    wait_until(lambda: not s.stack.rtpengine_calls(), timeout=10, what="no rtpengine session")
