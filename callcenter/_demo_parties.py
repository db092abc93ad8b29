"""The demo's simulated parties on the real call path, and what each of them saw.

A carrier call goes Kamailio -> a call-controller replica, which answers it (parked)
and enqueues it at the ACD; the ACD offers it to an agent; the controller rings that
agent's registered phone back through Kamailio and bridges the two in rtpengine.
Here the carrier and the phones are sipp parties, each with its own RTP endpoint, so
every party counts the audio that reached it; the agents are logged in at the ACD by
the agent simulator in controller mode (it heartbeats; the controller reports calls).
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from simulators import (
    AGENT_MARKER,
    CARRIER_MARKER,
    AgentPhone,
    RtpEndpoint,
    SippRun,
    media_address,
    parse_log_fields,
    register,
    start_agent_phone,
    start_sipp,
)
from simulators.acd_agent import AgentProfile, SimulatedAgents

OK = pb.ERROR_CODE_UNSPECIFIED
T = TypeVar("T")


class DemoError(Exception):
    """A party did not do what the demo expected in time; the message says which."""


def wait_for(
    condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll `condition` until it returns something truthy; DemoError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass(frozen=True)
class DemoAgent:
    username: str  # the account and SIP user; also the employee ID (numeric)
    seat: int


@dataclass
class Phone:
    """One agent's sipp phone, registered at Kamailio, and its RTP endpoint."""

    agent: DemoAgent
    phone: AgentPhone
    rtp: RtpEndpoint

    @property
    def run(self) -> SippRun:
        return self.phone.run

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.run.log_lines() if line.startswith(prefix)]


def start_phones(
    sip: str,
    agents: list[DemoAgent],
    passwords: dict[str, str],
    realm: str,
    *,
    workdir: Path,
    calls: int,
    answer_after_ms: int,
) -> dict[str, Phone]:
    """Each agent's phone answers up to `calls` calls rung through the edge
    (sipp/ctl_via_edge_agent.xml) and registers with SIP digest auth."""
    phones: dict[str, Phone] = {}
    try:
        for agent in agents:
            rtp = RtpEndpoint()
            try:
                phone = start_agent_phone(
                    sip,
                    agent.username,
                    passwords[agent.username],
                    realm,
                    workdir=workdir,
                    scenario="ctl_via_edge_agent",
                    calls=calls,
                    answer_after_ms=answer_after_ms,
                    rtp_port=rtp.port,
                )
            except BaseException:
                rtp.close()
                raise
            phones[agent.username] = Phone(agent, phone, rtp)
    except BaseException:
        stop_phones(phones, sip, passwords, realm, workdir=workdir)
        raise
    return phones


def stop_phones(
    phones: dict[str, Phone], sip: str, passwords: dict[str, str], realm: str, *, workdir: Path
) -> list[str]:
    """Stop the phones and remove their registrations (REGISTER with Expires: 0), so
    Kamailio keeps no Contact of a phone that is gone. Returns what went wrong."""
    problems = []
    for name, phone in phones.items():
        phone.run.stop()
        phone.rtp.close()
        try:
            register(
                sip, name, passwords[name], realm, phone.phone.sip_port, workdir=workdir, expires=0
            )
        except Exception as exc:  # reported; the other phones still unregister
            problems.append(f"{name} did not unregister: {exc}")
    return problems


def log_agents_in(
    client: AcdClient, agents: list[DemoAgent], passwords: dict[str, str], *, retry_for: float
) -> SimulatedAgents:
    """Log the agents in at the ACD, in order (the first is idle the longest).

    An agent still logged in from an earlier demo that was killed is refused
    (ALREADY_LOGGED_IN) until its session lease runs out; that is retried for
    `retry_for` seconds. Any other refusal is an error.
    """
    profiles = [
        AgentProfile(a.username, passwords[a.username], int(a.username), a.seat) for a in agents
    ]
    simulated = SimulatedAgents(client, profiles, reports_calls=False)
    simulated.start()
    try:

        def logged_in() -> bool:
            missing = [a for a in simulated.agents.values() if not a.session]
            if not missing:
                return True
            replies = simulated.login()
            for agent in missing:
                code = replies[agent.profile.employee_id].error.code
                if code not in (OK, pb.ERROR_CODE_ALREADY_LOGGED_IN):
                    raise DemoError(
                        f"agent {agent.profile.username} cannot log in: "
                        f"{replies[agent.profile.employee_id].error.message}"
                    )
            return all(a.session for a in simulated.agents.values())

        if not logged_in():
            print(
                f"an agent is still logged in from an earlier run; waiting up to "
                f"{retry_for:.0f} s for its session to expire"
            )
            wait_for(logged_in, timeout=retry_for, what="the agents to log in", interval=1.0)
    except BaseException:
        simulated.stop(logout=True)
        raise
    return simulated


def agent_state(client: AcdClient, username: str) -> tuple[str, int, str]:
    """(state, calls taken, call ID) of an agent in the ACD's snapshot."""
    for view in client.get_snapshot().agents:
        if view.username == username:
            state = pb.AgentState.Name(view.state).removeprefix("AGENT_STATE_").lower()
            return state, view.calls, view.call_id
    return "logged_out", 0, ""


@dataclass(frozen=True)
class CallOutcome:
    caller: str  # as the carrier sent it
    cid: str  # the correlation ID, as the agent's phone got it
    agent: str  # whose phone rang and answered
    seen_caller: str  # the caller ID the agent's phone got (normalised at the edge)
    sip: str  # what the carrier's SIP dialog went through
    sip_ok: bool
    acd_states: tuple[str, ...]  # the agent's states in the ACD: during and after the call
    packets: int
    to_agent: int  # the carrier's packets that reached the agent
    to_caller: int  # the agent's packets that reached the carrier

    @property
    def ok(self) -> bool:
        return (
            self.sip_ok
            and self.to_agent >= self.packets * 0.95
            and self.to_caller >= self.packets * 0.95
        )


def carrier_call(
    sip: str,
    number: str,
    caller: str,
    phones: dict[str, Phone],
    client: AcdClient,
    *,
    workdir: Path,
    name: str,
    talk_ms: int,
    packets: int,
    queue_wait_s: float,
) -> CallOutcome:
    """One carrier call through the whole path; RTP both ways while it is bridged.

    The carrier (sipp/ctl_caller_talk_hangup.xml) is answered by the controller and
    parked, takes the re-INVITE that bridges it to the agent, talks `talk_ms` and
    hangs up. Which agent gets it is the ACD's choice: the phone that rings tells.
    """
    carrier_rtp = RtpEndpoint()
    rung_before = {n: len(p.lines("CALL ")) for n, p in phones.items()}
    byes_before = {n: len(p.lines("BYE ")) for n, p in phones.items()}
    for phone in phones.values():
        phone.rtp.received.clear()  # each phone's endpoint serves all its calls
    try:
        carrier = start_sipp(
            name,
            "ctl_caller_talk_hangup",
            sip,
            workdir=workdir,
            service=number,
            pause_ms=talk_ms,
            timeout_s=60,
            keys={"caller": caller, "rtp_port": carrier_rtp.port},
        )
        try:
            carrier.wait_for_log("ANSWERED ", timeout=10)  # the controller parks it
            agent = wait_for(
                lambda: next(
                    (n for n, p in phones.items() if len(p.lines("CALL ")) > rung_before[n]), None
                ),
                timeout=queue_wait_s,
                what=f"an agent's phone to ring for {caller}",
            )
            phone = phones[agent]
            delivered = parse_log_fields(phone.lines("CALL ")[-1])
            bridged = parse_log_fields(carrier.wait_for_log("REINVITE1 ", timeout=10)[-1])
            cid = delivered["cid"]
            during = wait_for(
                lambda: _on_call(client, agent, cid),
                timeout=5,
                what=f"the ACD to show {agent} talking on {cid}",
            )
            carrier_rtp.send(media_address(bridged), marker=CARRIER_MARKER, count=packets)
            phone.rtp.send(media_address(delivered), marker=AGENT_MARKER, count=packets)
            phone.rtp.wait_received(packets, timeout=3)
            carrier_rtp.wait_received(packets, timeout=3)
            with _KeepTalking(
                [(carrier_rtp, media_address(bridged)), (phone.rtp, media_address(delivered))]
            ):
                exit_code = carrier.wait(timeout=talk_ms / 1000 + 15)
            hung_up = any(line.startswith("HUNG_UP") for line in carrier.log_lines())
            wait_for(
                lambda: len(phone.lines("BYE ")) > byes_before[agent],
                timeout=5,
                what=f"the BYE at {agent}'s phone",
            )
            after = wait_for(
                lambda: _left_call(client, agent),
                timeout=5,
                what=f"the ACD to take {agent} off the call",
            )
        finally:
            carrier.stop()
        sip_ok = exit_code == 0 and hung_up
        return CallOutcome(
            caller=caller,
            cid=cid,
            agent=agent,
            seen_caller=delivered["caller"],
            sip=(
                "200 (parked), re-INVITE (bridged), BYE 200"
                if sip_ok
                else f"sipp exit {exit_code}: {carrier.errors()[-300:]}"
            ),
            sip_ok=sip_ok,
            acd_states=(during, after),
            packets=packets,
            to_agent=phone.rtp.received_from(CARRIER_MARKER),
            to_caller=carrier_rtp.received_from(AGENT_MARKER),
        )
    finally:
        carrier_rtp.close()


# PCMU silence, one 20 ms packet's worth.
_SILENCE = b"\xff" * 160


class _KeepTalking:
    """Both parties go on sending (PCMU silence, a packet every 20 ms) after the counted
    exchange until the caller hangs up, as phones do for the whole call. A recording of
    the call (docs/recording.md) then runs to the hang-up: the recorder reports a pcap
    that ends more than 1 s before the stop as cut short. The counted audio is not
    touched: these packets carry none of the parties' markers."""

    def __init__(self, streams: Sequence[tuple[RtpEndpoint, tuple[str, int]]]) -> None:
        self._streams = streams
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-keep-talking", daemon=True)

    def __enter__(self) -> _KeepTalking:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        seq = 0
        while not self._stop.wait(0.02):
            for i, (endpoint, dest) in enumerate(self._streams):
                header = struct.pack(
                    "!BBHII", 0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, 0x5EED0000 + i
                )
                # The call gone (an ICMP unreachable came back): nothing more to say.
                with contextlib.suppress(OSError):
                    endpoint.send_packet(dest, header + _SILENCE)
            seq += 1


def _on_call(client: AcdClient, agent: str, cid: str) -> str | None:
    """ "talking" once the ACD counts the agent as talking on this call (the controller
    reports the answer to the ACD just after it bridged the two)."""
    state, _, call = agent_state(client, agent)
    return state if state == "talking" and call == cid else None


def _left_call(client: AcdClient, agent: str) -> str | None:
    """The agent's state once the ACD no longer has it talking (wrap_up, or idle)."""
    state = agent_state(client, agent)[0]
    return None if state in ("talking", "reserved") else state
