"""Issue 4: an agent whose phone unregisters, or stops answering OPTIONS, becomes not ready.

The real stack (`callcenter up`): Kamailio with the usrloc keepalive and the jsonrpcs
FIFO, an ACD replica with Redis, and the presence watcher beside Kamailio. Phones
register with sipp (digest auth); their Contact is a small OPTIONS responder, because
a sipp UAS cannot answer keepalives (each new Call-ID starts a call of its scenario,
so the second OPTIONS already goes unanswered). The assertions are the ACD's view:
phone_ok, the agent's state, and whether a waiting call is offered.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from acd_api.v1 import acd_pb2 as pb
from acd_client import AcdClient
from callcenter import _process, account_entry
from callcenter._stack import _wait_healthy, plan, status
from presence import KamailioRpc, KamailioRpcError, registered_users
from presence._kamailio import rpc_fifo, status_file
from simulators import free_port, registration
from testbed import (
    REALM,
    OptionsResponder,
    Stack,
    artifact_dir,
    base_config,
    running_stack,
    wait_until,
)

pytestmark = pytest.mark.integration

AGENTS = ("1001", "1002", "1003", "1004")
KEEPALIVE_S, KEEPALIVE_TIMEOUT_S = 1, 3
# Kamailio notices the silence at a timer run after ka_timeout, lets the contact expire
# 10 s later (usrloc's fixed grace), removes it at the next run; then one watcher poll.
DROP_DEADLINE_S = KEEPALIVE_TIMEOUT_S + 10 + 3 * KEEPALIVE_S + 5
POLL_S = 0.2
OK = pb.ERROR_CODE_UNSPECIFIED


@dataclass
class PresenceStack:
    stack: Stack
    acd: AcdClient
    workdir: Path
    sessions: dict[str, str] = field(default_factory=dict)

    def agent(self, employee_id: int) -> pb.AgentView | None:
        return next(
            (a for a in self.acd.get_snapshot().agents if a.employee_id == employee_id), None
        )

    def login(self, user: str, seat: int) -> None:
        reply = self.acd.login(
            pb.LoginRequest(
                username=user,
                password=self.stack.passwords[user],
                seat=seat,
                employee_id=int(user),
                role=pb.ROLE_AGENT,
            )
        )
        assert reply.error.code == OK, reply.error
        self.sessions[user] = reply.session_id

    def logout(self, user: str) -> None:
        reply = self.acd.logout(
            pb.LogoutRequest(employee_id=int(user), session_id=self.sessions.pop(user))
        )
        assert reply.error.code == OK, reply.error

    def register(self, user: str, contact_port: int, *, expires: int = 300) -> None:
        run = registration(
            self.stack.sip,
            user,
            self.stack.passwords[user],
            REALM,
            contact_port,
            workdir=self.workdir / "sipp",
            expires=expires,
        )
        assert any(line.startswith("REGISTERED") for line in run.log_lines()), run.errors()

    def registered(self) -> frozenset[str]:
        return registered_users(KamailioRpc(rpc_fifo(self.stack.layout)).call("ul.dump"))

    def wait_phone(self, user: str, *, reachable: bool, timeout: float = 10.0) -> pb.AgentView:
        def settled() -> bool:
            view = self.agent(int(user))
            return view is not None and view.phone_ok is reachable

        wait_until(
            settled,
            timeout=timeout,
            what=f"ACD shows {user}'s phone {'reachable' if reachable else 'unreachable'}"
            f" (now {self.agent(int(user))})",
        )
        view = self.agent(int(user))
        assert view is not None
        return view

    def watcher_status(self) -> dict[str, Any]:
        """What the watcher wrote after its last poll (its status file)."""
        data: dict[str, Any] = json.loads(status_file(self.stack.layout).read_text())
        return data

    def presence_healthy(self) -> bool:
        rows = {row.name: row for row in status(self.stack.config, self.stack.layout)}
        return rows["presence"].healthy


@pytest.fixture(scope="module")
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PresenceStack]:
    workdir = tmp_path_factory.mktemp("presence")
    config, passwords = base_config(workdir, AGENTS)
    config["sip"].update(
        phone_keepalive_s=KEEPALIVE_S, phone_keepalive_timeout_s=KEEPALIVE_TIMEOUT_S
    )
    config["accounts"] = [
        account_entry(a, passwords[a], REALM, ["agent"], employee_id=a, skills={"billing": 1})
        for a in AGENTS
    ]
    config["queues"] = [
        {
            "name": "billing",
            "skills": {"billing": 1},
            "ring_timeout_ms": 60_000,
            "max_no_answers": 0,
        }
    ]
    # call_events acd: no call controller here; the test drives the calls at the ACD.
    config["acd"] = {
        "listen": f"127.0.0.1:{free_port()}",
        "call_events": "acd",
        "lease_ms": 600_000,
        "leader_lease_ms": 1000,
        "seat_range": [1, 100],
        "employee_id_range": [1, 99_999],
    }
    config["presence"] = {"poll_ms": int(POLL_S * 1000)}
    failed_before = request.session.testsfailed
    with running_stack(workdir, config, passwords) as stack:
        acd = AcdClient(config["acd"]["listen"], timeout=2.0, retry_for=10.0, token=stack.acd_token)
        try:
            yield PresenceStack(stack, acd, workdir)
        finally:
            acd.close()
            if request.session.testsfailed > failed_before:
                keep = artifact_dir(f"{request.node.nodeid}-stack")
                shutil.copytree(stack.layout.logs, keep, dirs_exist_ok=True)


@pytest.fixture
def phone() -> Iterator[OptionsResponder]:
    responder = OptionsResponder()
    yield responder
    responder.stop()


def test_up_starts_the_watcher_and_status_probes_it(env: PresenceStack) -> None:
    rows = {row.name: row for row in status(env.stack.config, env.stack.layout)}
    assert list(rows)[-2:] == ["kamailio", "presence"]
    assert rows["presence"].running and rows["presence"].healthy


def test_unregistering_makes_the_agent_not_ready_and_registering_ready_again(
    env: PresenceStack, phone: OptionsResponder
) -> None:
    env.login("1001", seat=1)
    try:
        # Login starts with phone_ok true; with no registration the watcher corrects it.
        view = env.wait_phone("1001", reachable=False)
        assert (view.state, view.reason) == (pb.AGENT_STATE_BUSY, "PHONE_UNREACHABLE")

        env.register("1001", phone.port)
        view = env.wait_phone("1001", reachable=True)
        assert view.state == pb.AGENT_STATE_IDLE

        env.register("1001", phone.port, expires=0)  # the phone unregisters
        assert "1001" not in env.registered()
        view = env.wait_phone("1001", reachable=False)
        assert (view.state, view.reason) == (pb.AGENT_STATE_BUSY, "PHONE_UNREACHABLE")

        # Not ready means not offered: a call for the agent's only queue waits.
        call_id = secrets.token_hex(16)
        queued = env.acd.enqueue(
            pb.EnqueueRequest(
                call_id=call_id, queue="billing", caller="13912345678", category="billing"
            )
        )
        assert queued.error.code == OK, queued.error
        assert not [a for a in queued.actions if a.WhichOneof("kind") == "offer"]
        billing = next(q for q in env.acd.get_snapshot().queues if q.name == "billing")
        assert billing.waiting == 1
        try:
            env.register("1001", phone.port)  # registered again: ready, and offered the call
            env.wait_phone("1001", reachable=True)
            wait_until(
                lambda: (v := env.agent(1001)) is not None and v.call_id == call_id,
                timeout=10,
                what="the waiting call is offered to 1001",
            )
            assert env.agent(1001).state == pb.AGENT_STATE_RESERVED  # type: ignore[union-attr]
        finally:
            env.acd.abandon(pb.AbandonRequest(call_id=call_id))
    finally:
        env.logout("1001")
        env.register("1001", phone.port, expires=0)


def test_a_phone_that_stops_answering_options_becomes_unreachable(
    env: PresenceStack, phone: OptionsResponder
) -> None:
    env.register("1002", phone.port)
    env.login("1002", seat=2)
    try:
        env.wait_phone("1002", reachable=True)
        # A phone that answers survives the keepalive: well past the timeout, with
        # every ping answered, it is still registered and reachable.
        wait_until(
            lambda: phone.answered >= 2 * KEEPALIVE_TIMEOUT_S // KEEPALIVE_S + 1,
            timeout=KEEPALIVE_TIMEOUT_S * 4,
            what=f"Kamailio's keepalive OPTIONS answered (so far {phone.answered})",
        )
        assert "1002" in env.registered()
        assert env.wait_phone("1002", reachable=True).state == pb.AGENT_STATE_IDLE

        phone.stop()  # the phone dies without unregistering
        died = time.monotonic()
        view = env.wait_phone("1002", reachable=False, timeout=DROP_DEADLINE_S)
        assert (view.state, view.reason) == (pb.AGENT_STATE_BUSY, "PHONE_UNREACHABLE")
        # Dropped by the keepalive, not by the registration's own expiry (300 s).
        assert time.monotonic() - died < DROP_DEADLINE_S
        assert "1002" not in env.registered()
    finally:
        env.logout("1002")


def _kamailio_fifo_process(env: PresenceStack) -> int:
    processes = KamailioRpc(rpc_fifo(env.stack.layout)).call("core.psx")
    (pid,) = [p["PID"] for p in processes if "JSONRPCS FIFO" in p["DSC"]]
    return int(pid)


def test_an_rpc_outage_marks_nobody_unreachable(
    env: PresenceStack, phone: OptionsResponder
) -> None:
    env.register("1003", phone.port)
    env.login("1003", seat=3)
    fifo_pid = _kamailio_fifo_process(env)
    try:
        env.wait_phone("1003", reachable=True)
        os.kill(fifo_pid, signal.SIGSTOP)  # Kamailio's RPC process hangs
        try:
            wait_until(
                lambda: env.watcher_status()["kamailio_ok"] is False,
                timeout=20,
                what="the watcher's poll fails (its RPC times out)",
            )
            assert not env.presence_healthy()  # what `callcenter status` shows
            # Polls keep failing, and nobody is reported unreachable meanwhile.
            failed_at = env.watcher_status()["updated"]
            wait_until(
                lambda: env.watcher_status()["updated"] > failed_at,
                timeout=20,
                what="another failed poll",
            )
            assert env.agent(1003).phone_ok  # type: ignore[union-attr]
        finally:
            os.kill(fifo_pid, signal.SIGCONT)
        wait_until(env.presence_healthy, timeout=20, what="the watcher healthy again")
        assert env.agent(1003).phone_ok  # type: ignore[union-attr]
    finally:
        env.logout("1003")
        env.register("1003", phone.port, expires=0)


def test_a_report_the_acd_missed_is_made_once_it_is_back(
    env: PresenceStack, phone: OptionsResponder
) -> None:
    layout = env.stack.layout
    (acd_daemon,) = [d for d in plan(env.stack.config, layout) if d.spec.name == "acd"]
    env.register("1004", phone.port)
    env.login("1004", seat=4)
    try:
        env.wait_phone("1004", reachable=True)
        _process.stop(layout, "acd", grace=5)
        try:
            env.register("1004", phone.port, expires=0)  # unregisters while the ACD is down
            wait_until(
                lambda: env.watcher_status()["acd_ok"] is False,
                timeout=10,
                what="the watcher sees the ACD down",
            )
        finally:
            _wait_healthy(layout, acd_daemon, _process.start(layout, acd_daemon.spec))
        # Its state (the login) is in Redis; the watcher now makes the missed report.
        view = env.wait_phone("1004", reachable=False, timeout=15)
        assert (view.state, view.reason) == (pb.AGENT_STATE_BUSY, "PHONE_UNREACHABLE")
    finally:
        env.logout("1004")


def test_the_fifo_carries_a_dump_too_big_for_a_datagram(env: PresenceStack) -> None:
    """1,000 registrations: ~540 KB of ul.dump, past the ~128 KiB that jsonrpcs' datagram
    transport can send in one reply."""
    rpc = KamailioRpc(rpc_fifo(env.stack.layout))
    aors = [f"load{i:04d}" for i in range(1000)]
    try:
        for aor in aors:  # table, AoR, contact, expires, q, path, flags, cflags, methods
            rpc.call(
                "ul.add", "location", aor, f"sip:{aor}@127.0.0.1:9", 600, 1.0, "", 0, 0, 4294967295
            )
        result = rpc.call("ul.dump")
        assert len(json.dumps(result, separators=(",", ":"))) > 4 * 128 * 1024
        assert set(aors) <= registered_users(result)
    finally:
        for aor in aors:
            rpc.call("ul.rm", "location", aor)


def test_a_kamailio_error_reply_is_an_error(env: PresenceStack) -> None:
    with pytest.raises(KamailioRpcError, match="Method Not Found"):
        KamailioRpc(rpc_fifo(env.stack.layout)).call("no.such.method")
