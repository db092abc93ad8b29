"""The ACD drives the call controller: a real ACD replica, Redis, rtpengine, controller and sipp.

Everything runs as its own process on loopback, as in production: `python -m acdsvc`
(one replica, state in a throwaway redis-server), `python -m controller --acd ...`,
rtpengine, and sipp for the caller and for each agent's phone (at a fixed address
given to the controller with `--agents`). Agents log in over gRPC with the agent
simulator in `--controller` mode: it logs in and heartbeats, the controller reports
the calls.

A test tells a sipp party to hang up by sending it a SIP MESSAGE in its dialog
(`trigger`), so no test waits on a timer for a party to act.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import yaml
from argon2 import PasswordHasher

import acd_client
import eventlog
from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from simulators.acd_agent import AgentProfile, SimulatedAgents
from testbed import (
    ROOT,
    Controller,
    Rtpengine,
    assert_clean,
    events_of,
    running_controller,
    track,
    wait_until,
)
from testbed import redis_server as start_redis
from testbed import running_rtpengine as start_rtpengine

SIPP = ROOT / "sipp"
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
NUMBER = "95598"  # dialled number -> queue billing
QUEUE = "billing"
CTL_NODE = "ctl-a"
ACD_NODE = "acd-t"
WRAP_UP_MS = 1500
RING_TIMEOUT_MS = 2000  # the controller rings 1.5 s of it (ring_time: 0.5 s margin)
AGENTS = ("1001", "1002")
OK = pb.ERROR_CODE_UNSPECIFIED


def password_of(username: str) -> str:
    return f"pw-{username}-secret"


def write_config(path: Path, redis_port: int, acd_port: int) -> Path:
    """Agents whose account (= SIP user) is their employee ID; three queues."""
    # 1003 may also log in as a supervisor: the intercept tests reserve it as one.
    accounts = [
        {
            "username": name,
            "roles": ["agent", "supervisor"] if name == "1003" else ["agent"],
            "employee_id": name,
            # 1002 also speaks English: a call that needs it goes to 1002 only.
            "skills": {"billing": 3, "english": 2} if name == "1002" else {"billing": 3},
            "ha1": "0" * 32,
            "password_hash": _FAST_HASHER.hash(password_of(name)),
        }
        for name in (*AGENTS, "1003")
    ]
    config = {
        "version": 1,
        "node": {"name": "test"},
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223", "managed": False}]},
        "redis": {"listen": f"127.0.0.1:{redis_port}", "managed": False},
        "queues": [
            {
                "name": QUEUE,
                "skills": {"billing": 1},
                "ring_timeout_ms": RING_TIMEOUT_MS,
                "wrap_up_ms": WRAP_UP_MS,
                "max_no_answers": 0,
            },
            # Nobody has the skill: a call overflows at once to a target outside the ACD.
            {"name": "sales", "skills": {"sales": 1}, "overflow_target": "voicemail"},
        ],
        # call_events: controller is the default; spelled out because these tests check it.
        "acd": {
            "listen": f"127.0.0.1:{acd_port}",
            "leader_lease_ms": 1000,
            "lease_ms": 30_000,
            "seat_range": [1, 2000],
            "employee_id_range": [1, 99_999],
            "call_events": "controller",
        },
        "accounts": accounts,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class AcdProcess:
    """One `python -m acdsvc` replica; `stop()` and `start()` again on the same port."""

    config: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> AcdProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "acdsvc",
                    "--config",
                    str(self.config),
                    "--listen",
                    self.address,
                    "--node",
                    ACD_NODE,
                    "--verify-commits",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        process = self.process
        wait_until(
            lambda: process.poll() is not None or acd_client.health_ping(self.address),
            timeout=20,
            what="the ACD replica is healthy",
        )
        assert process.poll() is None, self.log.read_text()[-3000:]
        return self

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None


@dataclass
class Party:
    """A sipp party and the RTP endpoint behind the port its SDP names."""

    run: SippRun
    rtp: RtpEndpoint
    port: int  # its SIP port

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.run.log_lines() if line.startswith(prefix)]

    def wait_bridged(self, timeout: float = 10.0) -> str:
        """A caller's first re-INVITE (the bridge) done, ACK included; its REINVITE line."""
        self.run.wait_for_log("SETTLED", timeout=timeout)
        return self.lines("REINVITE ")[0]


def trigger(party: Party, call_id: str) -> None:
    """A SIP MESSAGE in `call_id`'s dialog: the party's scenario hangs up on it."""
    message = (
        f"MESSAGE sip:party@127.0.0.1:{party.port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{secrets.token_hex(6)}\r\n"
        f"From: <sip:test@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
        f"To: <sip:party@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), ("127.0.0.1", party.port))


@dataclass
class Rig:
    """One test's processes and the helpers the tests share."""

    workdir: Path
    engine: Rtpengine
    redis_port: int
    r: redis.Redis
    acd: AcdProcess
    client: AcdClient
    agent_ports: dict[str, int] = field(default_factory=dict)
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    # ---------------------------------------------------------------- processes

    @contextmanager
    def controller(
        self,
        *extra: str,
        node: str = CTL_NODE,
        acd: str | None = None,
        queue_for: str = f"{NUMBER}=billing,95597=nosuch,95596=sales",
        check_clean: bool = True,
        module: str = "controller",
    ) -> Iterator[Controller]:
        """A controller replica driven by the ACD; its agents are this rig's sipp phones.
        After the test: no call, dialog or media session left, a clean exit, no traceback.
        `module`: what `python -m` runs (a test's wrapper of the controller)."""
        agents = ",".join(f"{a}=127.0.0.1:{p}" for a, p in self.agent_ports.items())
        argv = [
            "--acd",
            acd or self.acd.address,
            "--queue-for",
            queue_for,
            "--redis",
            f"127.0.0.1:{self.redis_port}",
            "--node",
            node,
            "--agents",
            agents,
            *extra,
        ]
        workdir = self.workdir / node
        workdir.mkdir(exist_ok=True)
        with running_controller(workdir, self.engine, (), *argv, module=module) as running:
            yield running
            if check_clean:
                assert_clean(running, self.engine)
            running.close()
            running.process.terminate()
            assert running.process.wait(timeout=10) == 0
            assert "Traceback" not in running.log_text(), running.log_text()[-3000:]

    def agents(
        self, *names: str, busy: tuple[str, ...] = (), supervisors: tuple[str, ...] = ()
    ) -> SimulatedAgents:
        """Log agents in over gRPC (in this order: the first is idle the longest);
        `supervisors` log in with the supervisor role (their account must have it)."""
        profiles = [
            AgentProfile(
                name,
                password_of(name),
                int(name),
                int(name) - 1000,
                start_busy=name in busy,
                role=pb.ROLE_SUPERVISOR if name in supervisors else pb.ROLE_AGENT,
            )
            for name in names
        ]
        agents = SimulatedAgents(self.client, profiles, reports_calls=False)
        agents.start()
        self._cleanups.append(lambda: agents.stop(logout=False))
        for agent in agents.agents.values():
            assert agent.session, f"agent {agent.profile.username} did not log in"
        return agents

    def phone(self, name: str, scenario: str, *, pause_ms: int = 100) -> Party:
        """Agent `name`'s SIP phone: a sipp UAS at the address the controller has for it."""
        rtp = RtpEndpoint()
        self._cleanups.append(rtp.close)
        run = track(
            start_sipp(
                f"agent{name}",
                _scenario(scenario),
                "127.0.0.1:9",
                workdir=self.workdir,
                port=self.agent_ports[name],
                keys={"rtp_port": rtp.port},
                pause_ms=pause_ms,
                timeout_s=60,
            )
        )
        return Party(run, rtp, self.agent_ports[name])

    def caller(
        self,
        controller: Controller,
        cid: str,
        *,
        number: str = NUMBER,
        scenario: str = "acd_caller",
        category: str = "electricity-billing",
    ) -> Party:
        rtp = RtpEndpoint()
        self._cleanups.append(rtp.close)
        port = free_port()
        run = track(
            start_sipp(
                "caller",
                _scenario(scenario),
                controller.sip,
                workdir=self.workdir / cid,
                port=port,
                service=number,
                keys={"rtp_port": rtp.port, "cid": cid, "category": category},
                extra=["-cid_str", caller_call_id(cid)],
                timeout_s=60,
            )
        )
        return Party(run, rtp, port)

    # ---------------------------------------------------------------- observations

    def agent_view(self, name: str) -> pb.AgentView | None:
        for agent in self.client.get_snapshot().agents:
            if agent.username == name:
                return agent
        return None

    def state_of(self, name: str) -> str:
        view = self.agent_view(name)
        return (
            "LOGGED_OUT"
            if view is None
            else pb.AgentState.Name(view.state).removeprefix("AGENT_STATE_")
        )

    def wait_agent(self, name: str, state: str, timeout: float = 10.0) -> None:
        wait_until(
            lambda: self.state_of(name) == state,
            timeout=timeout,
            what=f"agent {name} {state} in the ACD (now {self.state_of(name)})",
        )

    def queue_view(self, name: str = QUEUE) -> pb.QueueView:
        for queue in self.client.get_snapshot().queues:
            if queue.name == name:
                return queue
        raise AssertionError(f"no queue {name}")

    def events(self, cid: str) -> list[eventlog.Event]:
        return events_of(self.r, cid)

    def ended_events(self, cid: str, timeout: float = 10.0) -> list[eventlog.Event]:
        """The call's events once its call.ended is in the log."""
        wait_until(
            lambda: any(e.kind == "call.ended" for e in self.events(cid)),
            timeout=timeout,
            what=f"call.ended of {cid}",
        )
        return self.events(cid)

    def close(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()


def caller_call_id(cid: str) -> str:
    """The caller's SIP Call-ID (sipp -cid_str), which `trigger` needs."""
    return f"caller-{cid}"


def _scenario(name: str) -> str:
    path = SIPP / f"{name}.xml"
    return str(path) if path.exists() else name


def calls(events: list[eventlog.Event]) -> list[tuple[str, str, dict[str, str]]]:
    """(kind, node, fields) of the call events, agent.state left out."""
    return [(e.kind, e.node, dict(e.data)) for e in events if e.kind.startswith("call.")]


def agent_states(events: list[eventlog.Event], agent: str) -> list[tuple[str, str]]:
    return [
        (e["previous"], e["state"])
        for e in events
        if e.kind == "agent.state" and e["agent"] == agent
    ]


def new_cid() -> str:
    return secrets.token_hex(16)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with start_redis(tmp_path_factory.mktemp("redis")) as port:
        yield port


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rtpengine]:
    with start_rtpengine(tmp_path_factory.mktemp("rtpengine")) as running:
        yield running


@pytest.fixture
def rig(workdir: Path, engine: Rtpengine, redis_port: int) -> Iterator[Rig]:
    """A fresh Redis state, one ACD replica, the agents' phone ports; no controller yet."""
    r = redis.Redis(host="127.0.0.1", port=redis_port)
    r.flushall()
    acd_port = free_port()
    config = write_config(workdir / "callcenter.yaml", redis_port, acd_port)
    acd = AcdProcess(config, acd_port, workdir / "acd.log").start()
    client = AcdClient(acd.address, timeout=2.0, retry_for=5.0)
    rig = Rig(
        workdir,
        engine,
        redis_port,
        r,
        acd,
        client,
        agent_ports={name: free_port() for name in AGENTS},
    )
    try:
        yield rig
    finally:
        rig.close()
        client.close()
        acd.stop()
        r.close()
