"""The whole call path on real processes: `callcenter up` with a controller and an ACD.

`acd_path_config` extends `testbed.base_config` (its keyword overrides,
plus the agents' ACD fields on the accounts it generated): one managed controller
replica, an `acd:` section, queues and numbers with `target: controller` and a
`queue:`. `AcdPath` bundles what a test reads back: the ACD over gRPC (snapshot,
agents logged in with the agent simulator in controller mode), the call event log in
the stack's Redis, and the replica's control socket.

`running_acd_path` starts such a stack for a test module; `agent_phone`,
`carrier_call` and `hang_up` are the sipp parties its tests place calls with.
"""

from __future__ import annotations

import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

import eventlog
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from configuration import split_hostport
from simulators import RtpEndpoint, SippRun, free_port, scenario_path, start_sipp
from simulators.acd_agent import AgentProfile, SimulatedAgents
from testbed._parties import track
from testbed._paths import artifact_dir
from testbed._sip import start_phone, unregister_all
from testbed._stack import ReplicaControl, Stack, base_config, running_stack
from testbed._waiting import wait_until

if TYPE_CHECKING:
    import pytest

# The ACD-driven caller: parked, bridged by re-INVITE, hangs up when sent a MESSAGE.
CALLER_SCENARIO = scenario_path("acd_caller")
# What that scenario sends as its From user (a national mobile: the edge keeps it).
CALLER = "13912345678"

# The error code of an ACD reply that succeeded.
OK = pb.ERROR_CODE_UNSPECIFIED


def acd_path_config(
    workdir: Path,
    agents: tuple[str, ...],
    *,
    numbers: list[dict[str, Any]],
    queues: list[dict[str, Any]],
    skills: dict[str, int],
    controller_name: str,
) -> tuple[dict[str, Any], dict[str, str]]:
    """base_config with the ACD driving one managed controller replica.

    Each agent's account gets employee ID = its username (numeric) and `skills`, which
    is what the ACD checks at login; its SIP user stays the username, which is what the
    controller rings through the edge.
    """
    config, passwords = base_config(
        workdir,
        agents,
        numbers=numbers,
        queues=queues,
        controllers=[
            {
                "sip": f"127.0.0.1:{free_port()}",
                "control": f"127.0.0.1:{free_port()}",
                "name": controller_name,
            }
        ],
        acd={"listen": f"127.0.0.1:{free_port()}"},
        # The presence watcher turns unregistered phones into "not ready"; these tests
        # register and log in by hand and do not test it.
        presence={"managed": False},
    )
    for account in config["accounts"]:
        account["employee_id"] = account["username"]
        account["skills"] = dict(skills)
    return config, passwords


def controller_feed_subscribed(log_text: str) -> bool:
    """The replica's WatchActions stream is open. `callcenter up` starts the replicas
    before the ACD, so their feed retries with a back-off (up to 2 s) after the ACD
    is up; an Offer that only the feed carries (an agent who becomes idle while a
    call waits) would otherwise wait for the ACD's ring timer."""
    return "WatchActions subscribed" in log_text or "WatchActions resumed" in log_text


@dataclass
class AcdPath:
    stack: Stack
    acd: AcdClient
    events_redis: redis.Redis
    control: ReplicaControl
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    # ------------------------------------------------------------------ agents

    def log_in(self, *names: str, busy: tuple[str, ...] = ()) -> SimulatedAgents:
        """Log agents in at the ACD in this order (the first is idle the longest), as the
        agent simulator in controller mode: it heartbeats; the controller reports calls."""
        profiles = [
            AgentProfile(
                name,
                self.stack.passwords[name],
                int(name),
                int(name) % 1000,
                start_busy=name in busy,
            )
            for name in names
        ]
        agents = SimulatedAgents(self.acd, profiles, reports_calls=False)
        agents.start()
        self._cleanups.append(lambda: agents.stop(logout=True))
        for agent in agents.agents.values():
            assert agent.session, f"agent {agent.profile.username} did not log in"
        return agents

    # ------------------------------------------------------------------ the ACD's view

    def agent_view(self, name: str) -> pb.AgentView | None:
        return next((a for a in self.acd.get_snapshot().agents if a.username == name), None)

    def state_of(self, name: str) -> str:
        view = self.agent_view(name)
        return (
            "LOGGED_OUT"
            if view is None
            else pb.AgentState.Name(view.state).removeprefix("AGENT_STATE_")
        )

    def wait_clean(self) -> None:
        """No call in the replica, no rtpengine session (the replica's and rtpengine's
        own lists), and no traceback in the replica's log. Finished Sippy dialogs are not
        counted: `callcenter up` runs the replica with the default --dead-linger of 32 s,
        in which they absorb retransmissions."""

        def clean() -> bool:
            status = self.control.cmd("status")
            return (status["calls"], status["media_sessions"]) == (
                0,
                0,
            ) and not self.stack.rtpengine_calls()

        wait_until(clean, timeout=8, what="no call in the replica and no rtpengine session")
        log = self.stack.layout.log_file("controller0").read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]  # e.g. a SIP message Sippy could not parse

    def wait_agent(self, name: str, state: str, timeout: float = 10.0) -> None:
        wait_until(
            lambda: self.state_of(name) == state,
            timeout=timeout,
            what=f"agent {name} {state} in the ACD (now {self.state_of(name)})",
        )

    def queue_view(self, name: str) -> pb.QueueView:
        for queue in self.acd.get_snapshot().queues:
            if queue.name == name:
                return queue
        raise AssertionError(f"the ACD has no queue {name}")

    # ------------------------------------------------------------------ the event log

    def events(self, cid: str) -> list[eventlog.Event]:
        return events_of(self.events_redis, cid)

    def log_mark(self) -> str:
        """The newest entry ID of the event log now ("0" when empty), for `arrivals`."""
        newest: Any = self.events_redis.xrevrange(eventlog.DEFAULT_STREAM, count=1)
        if not newest:
            return "0"
        entry_id = newest[0][0]
        return "(" + (entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id))

    def arrivals(self, since: str) -> list[eventlog.Event]:
        """call.arrived events after `log_mark()`: how a test learns the correlation ID of
        a call too short-lived to be seen in the replica's `calls`."""
        return [
            d.event
            for d in eventlog.replay(self.events_redis, from_id=since)
            if d.event.kind == "call.arrived"
        ]

    def ended_events(self, cid: str, timeout: float = 10.0) -> list[eventlog.Event]:
        """The call's events once its call.ended is in the log."""
        wait_until(
            lambda: any(e.kind == "call.ended" for e in self.events(cid)),
            timeout=timeout,
            what=f"call.ended of {cid} in the event log",
        )
        return self.events(cid)

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run `cleanup` at `close()` (the end of the test), newest first."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()

    @contextmanager
    def for_one_test(self, agents: tuple[str, ...]) -> Iterator[AcdPath]:
        """A module's shared stack for one test: `agents` unregistered and logged out
        before it, and again after it (their desks through `close`), pass or fail."""
        unregister_all(self.stack, agents)
        try:
            yield self
        finally:
            self.close()
            unregister_all(self.stack, agents)


def events_of(client: redis.Redis, cid: str) -> list[eventlog.Event]:
    """A call's events in time order. The controller (batching in a background sender)
    and the ACD (in its commit) write from different processes, so the stream's order
    between them can differ from the events' own; consumers order by `ts` too."""
    found = [d.event for d in eventlog.replay(client) if d.event.correlation_id == cid]
    return sorted(found, key=lambda e: e.ts)


def call_events(events: list[eventlog.Event]) -> list[tuple[str, str, dict[str, str]]]:
    """(kind, node, fields) of the call.* events, in the order given."""
    return [(e.kind, e.node, dict(e.data)) for e in events if e.kind.startswith("call.")]


def agent_states(events: list[eventlog.Event], agent: str) -> list[tuple[str, str]]:
    return [
        (e["previous"], e["state"])
        for e in events
        if e.kind == "agent.state" and e["agent"] == agent
    ]


@contextmanager
def running_acd_path(
    request: pytest.FixtureRequest | None,
    workdir: Path,
    config: dict[str, Any],
    passwords: dict[str, str],
) -> Iterator[AcdPath]:
    """`callcenter up` from `config` (acd_path_config's shape), until the replica's ACD
    action feed is subscribed; the stack's logs go to test-artifacts/ if a test of the
    module failed (`request`: None outside pytest, e.g. a benchmark)."""
    failed_before = request.session.testsfailed if request is not None else 0
    with running_stack(workdir, config, passwords) as stack:
        assert stack.config.acd is not None
        host, port = split_hostport(stack.config.redis.listen)
        events = redis.Redis(host=host, port=port)
        acd = AcdClient(stack.config.acd.listen, timeout=2.0, retry_for=5.0, token=stack.acd_token)
        control = stack.replica_control(0)
        try:
            log = stack.layout.log_file("controller0")
            wait_until(
                lambda: controller_feed_subscribed(log.read_text()),
                timeout=10,
                what="the replica's ACD action feed is subscribed",
            )
            yield AcdPath(stack, acd, events, control)
        finally:
            control.close()
            acd.close()
            events.close()
        if request is not None and request.session.testsfailed > failed_before:
            keep = artifact_dir(f"{request.node.nodeid}-stack")
            shutil.copytree(stack.layout.logs, keep, dirs_exist_ok=True)


@dataclass
class Party:
    """A sipp party and the RTP endpoint behind the port its SDP names."""

    run: SippRun
    rtp: RtpEndpoint
    port: int  # its SIP port
    call_id: str = ""  # a caller's SIP Call-ID (for hang_up)


def agent_phone(
    path: AcdPath, workdir: Path, agent: str, scenario: str, *, calls: int = 1
) -> Party:
    """Agent's sipp phone running `scenario` for `calls` calls (answering ones pick up
    after 100 ms), registered at Kamailio with digest auth; its media goes to its own
    RTP endpoint. Stopped and closed at the end of the test (`path.close()`)."""
    rtp = RtpEndpoint()
    path.on_close(rtp.close)
    phone = start_phone(
        path.stack,
        agent,
        workdir=workdir,
        scenario=scenario,
        calls=calls,
        answer_after_ms=100,
        rtp_port=rtp.port,
    )
    track(phone.run)
    return Party(phone.run, rtp, phone.sip_port)


def carrier_call(
    path: AcdPath,
    workdir: Path,
    number: str,
    *,
    scenario: Path = CALLER_SCENARIO,
    record: bool = False,
) -> Party:
    """A carrier call to `number` (sent as +86...) through Kamailio, from CALLER. It
    sends its own correlation ID and category, which the edge (an untrusted source's
    X-CC-*) must replace. `scenario`: acd_caller.xml or one with its contract;
    `record`: the caller's RTP endpoint keeps what it heard (testbed.received_pcm)."""
    rtp, port = RtpEndpoint(record=record), free_port()
    path.on_close(rtp.close)
    call_id = f"caller-{secrets.token_hex(8)}"
    run = track(
        start_sipp(
            "caller",
            str(scenario),
            path.stack.sip,
            workdir=workdir,
            port=port,
            service=f"+86{number}",
            timeout_s=60,
            keys={"rtp_port": rtp.port, "cid": "f" * 32, "category": "spoofed"},
            extra=["-cid_str", call_id],
        )
    )
    return Party(run, rtp, port, call_id)


def hang_up(caller: Party) -> None:
    """Tell the caller to hang up: a MESSAGE in its dialog (acd_caller.xml's contract),
    sent straight to it, so the test never waits on a timer for the caller to act."""
    message = (
        f"MESSAGE sip:caller@127.0.0.1:{caller.port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{secrets.token_hex(6)}\r\n"
        f"From: <sip:test@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
        "To: <sip:caller@127.0.0.1>\r\n"
        f"Call-ID: {caller.call_id}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), ("127.0.0.1", caller.port))


def acd_node(stack: Stack) -> str:
    """The ACD replica's `node` in events: acdsvc's default, <node.name>-acd-<port>."""
    assert stack.config.acd is not None
    return f"{stack.config.node.name}-acd-{stack.config.acd.listen.rpartition(':')[2]}"
