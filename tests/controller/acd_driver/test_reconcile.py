"""Reconcile through real processes: no lost BYE, crash or restart leaves an agent stuck.

A controller replica keeps its live calls in its registry record in Redis; the ACD
leader ends the calls of a replica whose record expired (it died) or that no longer
lists them (a Hangup that never reached the ACD). Real ACD replica, Redis, rtpengine,
controllers and sipp, as in conftest. The replicas heartbeat every 0.5 s (TTL 1.5 s)
and the ACD checks every 0.5 s with a 1 s grace, so a lost call is freed within
about 3 s instead of the defaults' ~16 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import yaml

import acd_client
from acd_client import AcdClient, ControllerRecord
from callcenter._stack import controller_argv
from configuration import ConfigError, load_config
from controller._app import parse_args
from controller._registry import RegistryOptions, registry_for
from simulators import free_port
from testbed import Controller, Rtpengine, exchange, media_of, running_controller, wait_until
from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    AGENTS,
    NUMBER,
    ROOT,
    AcdProcess,
    Rig,
    agent_states,
    caller_call_id,
    calls,
    new_cid,
    trigger,
    write_config,
)

INTERVAL_MS = 500
GRACE_MS = 1000
# Registry on a 0.5 s heartbeat; Hangup/Abandon retried 1 s (test c lets one be lost).
FAST = ("--acd-heartbeat", "0.5", "--acd-heartbeat-ttl", "1.5", "--acd-retry", "1")
# From a replica's death to its agent's wrap-up: TTL, then two checks, plus slack for a
# loaded 2-core machine.
FREED_WITHIN_S = 15.0
_CHECK = re.compile(r"reconcile: \d+ calls of \d+ controllers checked")


class DebugAcd(AcdProcess):
    """The conftest replica, logging at DEBUG: a test counts the reconciler's checks."""

    def start(self) -> DebugAcd:
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
                    "--log-level",
                    "DEBUG",
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

    def checks(self) -> int:
        return len(_CHECK.findall(self.log.read_text(errors="replace")))

    def wait_checks(self, count: int) -> None:
        """`count` more checks by the leader (a positive sign it looked, not a sleep)."""
        target = self.checks() + count
        wait_until(
            lambda: self.checks() >= target,
            timeout=count * INTERVAL_MS / 1000 + 10,
            what=f"{count} reconcile checks",
        )


def debug_acd(rig: Rig) -> DebugAcd:
    assert isinstance(rig.acd, DebugAcd)
    return rig.acd


@pytest.fixture
def rig(workdir: Path, engine: Rtpengine, redis_port: int) -> Iterator[Rig]:
    """conftest's rig, with the ACD's reconciler on fast timers."""
    r = redis.Redis(host="127.0.0.1", port=redis_port)
    r.flushall()
    acd_port = free_port()
    config = write_config(workdir / "callcenter.yaml", redis_port, acd_port)
    data = yaml.safe_load(config.read_text())
    data["acd"] |= {"reconcile_interval_ms": INTERVAL_MS, "reconcile_grace_ms": GRACE_MS}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    acd = DebugAcd(config, acd_port, workdir / "acd.log").start()
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


@contextmanager
def replica(rig: Rig, node: str, *extra: str) -> Iterator[Controller]:
    """A controller replica with a live-call registry; it may be killed (no exit checks)."""
    agents = ",".join(f"{a}=127.0.0.1:{p}" for a, p in rig.agent_ports.items())
    workdir = rig.workdir / node
    workdir.mkdir(exist_ok=True)
    with running_controller(
        workdir,
        rig.engine,
        (),
        "--acd",
        rig.acd.address,
        "--queue-for",
        f"{NUMBER}=billing",
        "--redis",
        f"127.0.0.1:{rig.redis_port}",
        "--node",
        node,
        "--agents",
        agents,
        *FAST,
        *extra,
    ) as running:
        yield running


def kill(controller: Controller) -> None:
    controller.process.kill()  # SIGKILL: no shutdown, no Hangup, no last record
    controller.process.wait(timeout=10)


def drop_media(rig: Rig, *cids: str) -> None:
    """rtpengine outlives the killed replica's calls; clear them for the next test."""
    client = rig.engine.client()
    try:
        for cid in cids:
            client.delete(cid)
    finally:
        client.close()


def ended(rig: Rig, cid: str) -> list[tuple[str, str, dict[str, str]]]:
    return [c for c in calls(rig.events(cid)) if c[0] == "call.ended"]


def wrap_reason(rig: Rig, cid: str, agent: str) -> str:
    (wrap,) = [
        e
        for e in rig.events(cid)
        if e.kind == "agent.state" and e["agent"] == agent and e["previous"] == "talking"
    ]
    return f"{wrap['state']}: {wrap['reason']}"


def test_a_killed_replicas_agent_is_freed_and_takes_the_next_call(rig: Rig) -> None:
    """(a) SIGKILL mid-call: the agent goes wrap-up then idle, the ACD writes the call's
    end (nobody else can), and the agent answers the next call."""
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent")
    cid = new_cid()
    with replica(rig, "ctl-a") as controller:
        caller = rig.caller(controller, cid)
        (call,) = phone.run.wait_for_log("CALL", timeout=10)
        bridged = caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        assert rig.r.keys("acd:controllers:ctl-a#*")  # its live-call record
        kill(controller)
        killed = time.monotonic()
        rig.wait_agent("1001", "WRAP_UP", timeout=FREED_WITHIN_S)
        freed_after = time.monotonic() - killed
        rig.wait_agent("1001", "IDLE", timeout=10)
        # The caller's and the agent's SIP dialogs died with the process, but rtpengine
        # still relays their media: they can go on talking while the ACD counts the
        # agent free (docs/call-control.md, "Reconcile").
        to_agent, to_caller = exchange(caller.rtp, media_of(bridged), phone.rtp, media_of(call))
        assert to_agent >= 48 and to_caller >= 48
    assert ended(rig, cid) == [
        ("call.ended", ACD_NODE, {"cause": "reconciled: controller ctl-a gone", "side": "system"})
    ]
    assert agent_states(rig.events(cid), "1001")[:3] == [
        ("idle", "reserved"),
        ("reserved", "talking"),
        ("talking", "wrap_up"),
    ]
    assert wrap_reason(rig, cid, "1001") == "wrap_up: reconciled: controller ctl-a gone"
    assert freed_after < FREED_WITHIN_S
    drop_media(rig, cid)
    caller.run.stop()
    phone.run.stop()

    # The agent takes a new call, from the replica restarted under the same name.
    phone = rig.phone("1001", "acd_agent")
    cid2 = new_cid()
    with rig.controller(*FAST) as controller:
        caller = rig.caller(controller, cid2)
        caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        trigger(caller, caller_call_id(cid2))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        rig.wait_agent("1001", "WRAP_UP")
        rig.wait_agent("1001", "IDLE")
    assert ended(rig, cid2) == [("call.ended", "ctl-a", {"cause": "200", "side": "caller"})]


def test_a_live_replica_keeps_a_long_call(rig: Rig) -> None:
    """(b) No false reconcile: a call of a live replica talks on across many checks."""
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent")
    cid = new_cid()
    with rig.controller(*FAST) as controller:
        caller = rig.caller(controller, cid)
        caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        # Grace (2 checks) plus two strikes, three times over.
        debug_acd(rig).wait_checks(12)
        assert rig.state_of("1001") == "TALKING"
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        phone.run.wait_for_log("BYE", timeout=10)
        rig.wait_agent("1001", "WRAP_UP")
    assert ended(rig, cid) == [("call.ended", "ctl-a", {"cause": "200", "side": "caller"})]
    assert wrap_reason(rig, cid, "1001") == "wrap_up: HANGUP"
    assert "reconciled" not in rig.acd.log.read_text()
    # The clean stop left a `stopped` record with no calls, for the ACD to tell from a crash.
    (key,) = rig.r.keys("acd:controllers:ctl-a#*")
    raw = rig.r.get(key)
    assert raw is not None
    last = ControllerRecord.decode(raw)
    assert (last.node, last.stopped, last.calls) == ("ctl-a", True, frozenset())


def test_a_lost_hangup_is_reconciled_without_a_second_end(rig: Rig) -> None:
    """(c) The ACD is down while the call ends and the driver gives up its Hangup; once
    the ACD is back, the call the live replica no longer lists is ended there."""
    rig.agents("1001")
    phone = rig.phone("1001", "acd_agent")
    cid = new_cid()
    with rig.controller(*FAST) as controller:
        caller = rig.caller(controller, cid)
        caller.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        rig.acd.stop()
        trigger(caller, caller_call_id(cid))
        caller.run.wait_for_log("HUNG_UP", timeout=10)
        phone.run.wait_for_log("BYE", timeout=10)
        wait_until(
            lambda: f"cid={cid} Hangup not delivered" in controller.log_text(),
            timeout=15,
            what="the driver gives up the Hangup",
        )
        rig.acd.start()
        # Back with the state from Redis (agent talking) until the reconciler finds the
        # call missing from the replica's record.
        rig.wait_agent("1001", "WRAP_UP", timeout=FREED_WITHIN_S)
        rig.wait_agent("1001", "IDLE")
    # The controller wrote the end when the caller hung up; the ACD adds none.
    assert ended(rig, cid) == [("call.ended", "ctl-a", {"cause": "200", "side": "caller"})]
    assert wrap_reason(rig, cid, "1001") == "wrap_up: reconciled: call not at controller ctl-a"


def test_two_replicas_one_killed_only_its_call_is_reconciled(rig: Rig) -> None:
    """(d) Each replica has a call; killing one frees only its agent."""
    rig.agents("1001", "1002")
    phone1 = rig.phone("1001", "acd_agent")
    phone2 = rig.phone("1002", "acd_agent")
    cid_a, cid_b = new_cid(), new_cid()
    with replica(rig, "ctl-a") as a, replica(rig, "ctl-b") as b:
        caller_a = rig.caller(a, cid_a)
        caller_a.wait_bridged()
        rig.wait_agent("1001", "TALKING")  # longest idle first
        caller_b = rig.caller(b, cid_b)
        caller_b.wait_bridged()
        rig.wait_agent("1002", "TALKING")
        kill(a)
        rig.wait_agent("1001", "WRAP_UP", timeout=FREED_WITHIN_S)
        rig.wait_agent("1001", "IDLE")
        debug_acd(rig).wait_checks(6)
        assert rig.state_of("1002") == "TALKING"
        trigger(caller_b, caller_call_id(cid_b))
        caller_b.run.wait_for_log("HUNG_UP", timeout=10)
        rig.wait_agent("1002", "WRAP_UP")
        rig.wait_agent("1002", "IDLE")
        assert b.cmd("status")["calls"] == 0
    assert ended(rig, cid_a) == [
        ("call.ended", ACD_NODE, {"cause": "reconciled: controller ctl-a gone", "side": "system"})
    ]
    assert ended(rig, cid_b) == [("call.ended", "ctl-b", {"cause": "200", "side": "caller"})]
    assert wrap_reason(rig, cid_b, "1002") == "wrap_up: HANGUP"
    drop_media(rig, cid_a)
    for party in (caller_a, phone1, phone2):
        party.run.stop()


# ---------------------------------------------------------------- options (no processes)

BASE = [
    "--sip",
    "127.0.0.1:5070",
    "--rtpengine",
    "127.0.0.1:2223",
    "--acd",
    "127.0.0.1:1",
    "--default-queue",
    "q",
]


def test_registry_options_and_their_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    config = parse_args(BASE)
    assert config.registry == RegistryOptions(heartbeat_s=2.0, ttl_s=6.0, prefix="acd:")
    config = parse_args([*BASE, "--acd-heartbeat", "1", "--acd-prefix", "x:"])
    assert config.registry == RegistryOptions(heartbeat_s=1.0, ttl_s=3.0, prefix="x:")
    assert parse_args([*BASE, "--acd-heartbeat", "0"]).registry is None
    for argv, message in (
        (["--acd-heartbeat", "-1"], "--acd-heartbeat must be 0"),
        (
            ["--acd-heartbeat", "2", "--acd-heartbeat-ttl", "3"],
            "--acd-heartbeat-ttl must be at least twice",
        ),
    ):
        with pytest.raises(SystemExit):
            parse_args([*BASE, *argv])
        assert message in capsys.readouterr().err
    # No registry without --redis (nowhere to write it) or without --acd: and then the
    # Enqueues carry no source, so the ACD never ends this replica's calls by itself.
    acd = parse_args(BASE).acd
    assert registry_for(acd, RegistryOptions(), None, "n") is None
    assert registry_for(None, RegistryOptions(), ("127.0.0.1", 6379), "n") is None
    registry = registry_for(acd, RegistryOptions(), ("127.0.0.1", 6379), "ctl-9")
    assert registry is not None and acd is not None
    assert registry.sourced(acd).source == f"ctl-9#{registry.instance}"
    assert registry.key == f"acd:controllers:ctl-9#{registry.instance}"


def test_callcenter_up_passes_the_acd_sections_timers_to_the_replicas(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "rtpengine": {"nodes": [{"ng": "127.0.0.1:2223"}]},
        "controllers": [{"sip": "127.0.0.1:5070", "control": "127.0.0.1:5071"}],
        "queues": [{"name": "billing"}],
        "numbers": [
            {"number": "95598", "category": "b", "target": "controller", "queue": "billing"}
        ],
        "acd": {
            "redis_prefix": "acd2:",
            "controller_heartbeat_ms": 1000,
            "controller_record_ttl_ms": 4000,
        },
    }
    path = tmp_path / "callcenter.yaml"
    path.write_text(yaml.safe_dump(data))
    argv = controller_argv(load_config(path), 0)
    assert argv[argv.index("--acd-heartbeat") + 1] == "1.0"
    assert argv[argv.index("--acd-heartbeat-ttl") + 1] == "4.0"
    assert argv[argv.index("--acd-prefix") + 1] == "acd2:"
    data["acd"] = {"controller_heartbeat_ms": 2000, "controller_record_ttl_ms": 3000}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="must be at least twice controller_heartbeat_ms"):
        load_config(path)
