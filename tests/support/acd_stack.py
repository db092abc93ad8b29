"""The whole call path on real processes: `callcenter up` with a controller and an ACD.

`acd_path_config` extends `tests.support.stack.base_config` (its keyword overrides,
plus the agents' ACD fields on the accounts it generated): one managed controller
replica, an `acd:` section, queues and numbers with `target: controller` and a
`queue:`. `AcdPath` bundles what a test reads back: the ACD over gRPC (snapshot,
agents logged in with the agent simulator in controller mode), the call event log in
the stack's Redis, and the replica's control socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

import eventlog
from acd_api.v1 import acd_pb2 as pb
from acdsvc import AcdClient
from simulators import free_port
from simulators.acd_agent import AgentProfile, SimulatedAgents
from tests.support.stack import ReplicaControl, Stack, base_config
from tests.support.waiting import wait_until

OK = pb.ERROR_CODE_UNSPECIFIED


def acd_path_config(workdir: Path, agents: tuple[str, ...], *, numbers: list[dict[str, Any]],
                    queues: list[dict[str, Any]], skills: dict[str, int],
                    controller_name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """base_config with the ACD driving one managed controller replica.

    Each agent's account gets employee ID = its username (numeric) and `skills`, which
    is what the ACD checks at login; its SIP user stays the username, which is what the
    controller rings through the edge.
    """
    config, passwords = base_config(
        workdir, agents,
        numbers=numbers,
        queues=queues,
        controllers=[{"sip": f"127.0.0.1:{free_port()}",
                      "control": f"127.0.0.1:{free_port()}", "name": controller_name}],
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
        profiles = [AgentProfile(name, self.stack.passwords[name], int(name),
                                 int(name) % 1000, start_busy=name in busy)
                    for name in names]
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
        return "LOGGED_OUT" if view is None else \
            pb.AgentState.Name(view.state).removeprefix("AGENT_STATE_")

    def wait_agent(self, name: str, state: str, timeout: float = 10.0) -> None:
        wait_until(lambda: self.state_of(name) == state, timeout=timeout,
                   what=f"agent {name} {state} in the ACD (now {self.state_of(name)})")

    def queue_view(self, name: str) -> pb.QueueView:
        for queue in self.acd.get_snapshot().queues:
            if queue.name == name:
                return queue
        raise AssertionError(f"the ACD has no queue {name}")

    # ------------------------------------------------------------------ the event log

    def events(self, cid: str) -> list[eventlog.Event]:
        return [d.event for d in eventlog.replay(self.events_redis)
                if d.event.correlation_id == cid]

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
        return [d.event for d in eventlog.replay(self.events_redis, from_id=since)
                if d.event.kind == "call.arrived"]

    def ended_events(self, cid: str, timeout: float = 10.0) -> list[eventlog.Event]:
        """The call's events once its call.ended is in the log."""
        wait_until(lambda: any(e.kind == "call.ended" for e in self.events(cid)),
                   timeout=timeout, what=f"call.ended of {cid} in the event log")
        return self.events(cid)

    def close(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()


def call_events(events: list[eventlog.Event]) -> list[tuple[str, str, dict[str, str]]]:
    """(kind, node, fields) of the call.* events, in log order."""
    return [(e.kind, e.node, dict(e.data)) for e in events if e.kind.startswith("call.")]


def agent_states(events: list[eventlog.Event], agent: str) -> list[tuple[str, str]]:
    return [(e["previous"], e["state"]) for e in events
            if e.kind == "agent.state" and e["agent"] == agent]
