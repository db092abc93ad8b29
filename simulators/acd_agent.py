"""Simulated ACD agents for tests and the demo: log in over gRPC, heartbeat, take calls.

Each agent answers an offer after `answer_delay` seconds (None: never, so the
ACD's ring timeout moves the call on), talks for a random holding time and
hangs up, reporting Answered and Hangup to the ACD itself: it stands in for
the call controller (run the ACD with `acd.call_events: acd` then).

With `--controller` (`SimulatedAgents(..., reports_calls=False)`) the call
controller drives the calls: it rings the agent's SIP phone (a sipp party in the
tests) and reports Answered/NoAnswer/Hangup, so the simulator only logs the
agents in, heartbeats and counts the offers it sees. (Registering a SIP endpoint
comes later.)

    python -m simulators.acd_agent --acd 127.0.0.1:50051 \\
        --agent 1001:PASSWORD:1001:1 --answer-delay 2 --hold 30:120
"""

from __future__ import annotations

import argparse
import logging
import queue
import random
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient, ActionFeed, TokenError, read_token

__all__ = ["AgentProfile", "AgentStats", "SimulatedAgents"]

log = logging.getLogger(__name__)
OK = pb.ERROR_CODE_UNSPECIFIED


@dataclass(frozen=True)
class AgentProfile:
    username: str
    password: str
    employee_id: int
    seat: int
    role: pb.Role = pb.ROLE_AGENT
    answer_delay: float | None = 0.2  # None: never answers
    hold: tuple[float, float] = (0.5, 2.0)  # talk time, uniform in [low, high] seconds
    start_busy: bool = False


@dataclass
class AgentStats:
    offers: int = 0
    answered: int = 0
    hung_up: int = 0
    cancelled: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def refuse(self, what: str, code: int) -> None:
        key = f"{what}:{pb.ErrorCode.Name(code)}"
        with self.lock:
            self.refused[key] = self.refused.get(key, 0) + 1

    def count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


class _Agent:
    def __init__(
        self,
        profile: AgentProfile,
        client: AcdClient,
        stats: AgentStats,
        rng: random.Random,
        stop: threading.Event,
        *,
        reports_calls: bool = True,
    ) -> None:
        self.profile = profile
        self.reports_calls = reports_calls
        self.session = ""
        self._client = client
        self._stats = stats
        self._rng = rng
        self._stop = stop
        self._lock = threading.Lock()
        self.inbox: queue.Queue[pb.Action] = queue.Queue()
        self._cancelled: set[str] = set()
        self.thread = threading.Thread(
            target=self._run, daemon=True, name=f"agent-{profile.employee_id}"
        )

    def cancel(self, call_id: str) -> None:
        with self._lock:
            self._cancelled.add(call_id)

    def _was_cancelled(self, call_id: str) -> bool:
        with self._lock:
            return call_id in self._cancelled

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                action = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._take(action.offer)
            except Exception:
                log.exception(
                    "agent %s failed on %s", self.profile.employee_id, action.offer.call_id
                )

    def _take(self, offer: pb.Offer) -> None:
        delay = self.profile.answer_delay
        if delay is None or not self.reports_calls:
            return  # let it ring out, or the call controller reports what the phone did
        # The stop event doubles as an interruptible sleep: ringing time.
        if self._stop.wait(delay) or self._was_cancelled(offer.call_id):
            return
        reply = self._client.answered(
            pb.AnsweredRequest(call_id=offer.call_id, employee_id=offer.employee_id)
        )
        if reply.error.code != OK:
            self._stats.refuse("answered", reply.error.code)
            return
        self._stats.count("answered")
        self._stop.wait(self._rng.uniform(*self.profile.hold))  # talking
        hang = self._client.hangup(
            pb.HangupRequest(call_id=offer.call_id, side=pb.HANGUP_SIDE_AGENT)
        )
        if hang.error.code == OK:
            self._stats.count("hung_up")
        else:  # UNKNOWN_CALL after a fail-over: the first attempt was carried out
            self._stats.refuse("hangup", hang.error.code)


class SimulatedAgents:
    """A group of agents sharing one client and one action feed."""

    def __init__(
        self,
        client: AcdClient,
        profiles: Sequence[AgentProfile],
        *,
        heartbeat_every: float | None = None,
        seed: int = 1,
        reports_calls: bool = True,
    ) -> None:
        """`reports_calls=False`: the call controller reports Answered/Hangup (see above)."""
        self.client = client
        self.stats = AgentStats()
        self._stop = threading.Event()
        rng = random.Random(seed)  # noqa: S311 - simulated holding times, not secrets
        self.agents = {
            p.employee_id: _Agent(
                p,
                client,
                self.stats,
                random.Random(rng.random()),  # noqa: S311
                self._stop,
                reports_calls=reports_calls,
            )
            for p in profiles
        }
        self.offers: list[pb.Offer] = []  # every offer seen for these agents, in order
        self._heartbeat_every = heartbeat_every
        self._feed: ActionFeed | None = None
        self._heartbeats = threading.Thread(
            target=self._heartbeat, daemon=True, name="agent-heartbeats"
        )

    def login(self) -> dict[int, pb.LoginResponse]:
        """Log every agent in; returns each reply (refusals included)."""
        replies = {}
        for eid, agent in self.agents.items():
            p = agent.profile
            reply = self.client.login(
                pb.LoginRequest(
                    username=p.username,
                    password=p.password,
                    seat=p.seat,
                    employee_id=eid,
                    role=p.role,
                    start_busy=p.start_busy,
                )
            )
            replies[eid] = reply
            if reply.error.code == OK:
                agent.session = reply.session_id
                if self._heartbeat_every is None:
                    self._heartbeat_every = reply.lease_seconds / 3
        return replies

    def start(self) -> SimulatedAgents:
        """Subscribe to offers, log in, start answering and heartbeating."""
        for agent in self.agents.values():
            agent.thread.start()
        self._feed = self.client.actions(self._on_action)
        self.login()
        self._heartbeats.start()
        return self

    def _on_action(self, action: pb.Action) -> None:
        which = action.WhichOneof("kind")
        if which == "offer":
            agent = self.agents.get(action.offer.employee_id)
            if agent is not None:
                self.stats.count("offers")
                with self.stats.lock:
                    self.offers.append(action.offer)
                agent.inbox.put(action)
        elif which == "cancel_ring":
            agent = self.agents.get(action.cancel_ring.employee_id)
            if agent is not None:
                self.stats.count("cancelled")
                agent.cancel(action.cancel_ring.call_id)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self._heartbeat_every or 1.0):
            for eid, agent in self.agents.items():
                if not agent.session:
                    continue
                try:
                    reply = self.client.heartbeat(
                        pb.HeartbeatRequest(employee_id=eid, session_id=agent.session)
                    )
                except Exception:
                    log.exception("heartbeat for %s failed", eid)
                    continue
                if reply.error.code != OK:
                    self.stats.refuse("heartbeat", reply.error.code)

    def stop(self, *, logout: bool = True) -> None:
        self._stop.set()
        if self._feed is not None:
            self._feed.close()
        for agent in self.agents.values():
            agent.thread.join(timeout=5)
        if self._heartbeats.is_alive():
            self._heartbeats.join(timeout=5)
        if logout:
            for eid, agent in self.agents.items():
                if agent.session:
                    self.client.logout(pb.LogoutRequest(employee_id=eid, session_id=agent.session))


def _profile(spec: str, args: argparse.Namespace) -> AgentProfile:
    user, password, eid, seat = spec.split(":", 3)
    low, _, high = args.hold.partition(":")
    return AgentProfile(
        user,
        password,
        int(eid),
        int(seat),
        answer_delay=None if args.no_answer else args.answer_delay,
        hold=(float(low), float(high or low)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated ACD agents")
    parser.add_argument("--acd", required=True, help="replica addresses, comma-separated")
    parser.add_argument(
        "--agent", action="append", required=True, metavar="USER:PASSWORD:EMPLOYEE_ID:SEAT"
    )
    parser.add_argument("--answer-delay", type=float, default=2.0)
    parser.add_argument("--no-answer", action="store_true", help="never answer")
    parser.add_argument("--hold", default="30:120", help="talk time MIN:MAX seconds")
    parser.add_argument(
        "--controller",
        action="store_true",
        help="the call controller rings SIP phones and reports the calls: "
        "only log in and heartbeat",
    )
    parser.add_argument(
        "--acd-token-file",
        type=Path,
        help="the ACD's service token (acd.token_file); needed to report "
        "calls, not with --controller",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        token = None if args.acd_token_file is None else read_token(args.acd_token_file)
    except TokenError as exc:
        parser.error(str(exc))
    client = AcdClient(args.acd.split(","), token=token)
    agents = SimulatedAgents(
        client, [_profile(s, args) for s in args.agent], reports_calls=not args.controller
    )
    agents.start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(10):
        log.info("agents: %s", agents.stats)
    agents.stop()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
