"""CDRs of real calls: sipp carrier -> Kamailio -> call controller -> Kamailio -> agents.

Real Kamailio, rtpengine, Redis and CDR service (`callcenter up` with `controllers:`
and `analytics:` sections), and one controller replica started by `callcenter up`
(with `--edge`): its legs to the agents go back through Kamailio, which finds each
agent's registered sipp phone. Its events go to the stack's Redis; the CDR service
folds them, and each test reads the CDR back through the service's API
(`ServiceClient.report`) and checks it field by field.

Legs are checked through `agent_summary` (which counts them) and, for their outcomes,
against the pure fold of the same events (`analytics.build_records`) read back from
Redis; test_cdr_outcomes.py reads them from the service's `leg_list`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pytest
import redis

from analytics import Records, ServiceClient, build_records
from eventlog import replay
from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from testbed import (
    ReplicaControl,
    Stack,
    artifact_dir,
    base_config,
    cdr_row,
    is_null,
    running_stack,
    start_phone,
    track,
    unregister_all,
    wait_until,
)

pytestmark = pytest.mark.integration

SERVICE = "95500"
CATEGORY = "self-service"
NODE = "cdr-ctl0"
CALLER = "+8613912345678"  # as the carrier sends it
CALLER_NORMALISED = "13912345678"
# Controller agents, one set per test, so per-agent reports see only that test's legs.
AGENTS = ("2001", "2002", "2003", "2004")
TALK_MS = 1000
CDR_DEADLINE_S = 10.0


@dataclass
class CdrStack:
    stack: Stack
    controller: ReplicaControl
    client: ServiceClient


@pytest.fixture(scope="module")
def cdr_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CdrStack]:
    workdir = tmp_path_factory.mktemp("cdrsip")
    # base_config's numbers hunt 1001-1003; AGENTS are the controller's.
    config, passwords = base_config(workdir, ("1001", "1002", "1003", *AGENTS))
    config["numbers"].append({"number": SERVICE, "category": CATEGORY, "target": "controller"})
    config["controllers"] = [
        {"sip": f"127.0.0.1:{free_port()}", "control": f"127.0.0.1:{free_port()}", "name": NODE}
    ]
    config["sip"]["controller_ping_interval_s"] = 1
    config["analytics"] = {
        "data_dir": str(workdir / "chdb"),
        "listen": f"127.0.0.1:{free_port()}",
        "block_ms": 100,
    }
    failed_before = request.session.testsfailed
    with running_stack(workdir, config, passwords) as stack:
        assert stack.config.analytics is not None
        controller = stack.replica_control(0)
        try:
            yield CdrStack(stack, controller, ServiceClient(stack.config.analytics.url()))
        finally:
            controller.close()
        if request.session.testsfailed > failed_before:
            keep = artifact_dir(f"{request.node.nodeid}-stack")
            shutil.copytree(stack.layout.logs, keep, dirs_exist_ok=True)


@pytest.fixture(autouse=True)
def _clean_registrations(cdr_stack: CdrStack) -> Iterator[None]:
    unregister_all(cdr_stack.stack, AGENTS)
    yield
    unregister_all(cdr_stack.stack, AGENTS)


_RTPS: list[RtpEndpoint] = []


@pytest.fixture(autouse=True)
def _close_rtp_endpoints() -> Iterator[None]:
    yield
    while _RTPS:
        _RTPS.pop().close()


def _rtp() -> RtpEndpoint:
    endpoint = RtpEndpoint()
    _RTPS.append(endpoint)
    return endpoint


def _carrier(s: CdrStack, workdir: Path, scenario: str) -> SippRun:
    run = start_sipp(
        "carrier",
        scenario,
        s.stack.sip,
        workdir=workdir,
        keys={"rtp_port": _rtp().port, "caller": CALLER},
        service=f"+86{SERVICE}",
        pause_ms=TALK_MS,
        timeout_s=30,
    )
    track(run)
    return run


def _agent(s: CdrStack, workdir: Path, name: str, scenario: str) -> SippRun:
    """A registered phone for `name`, rung by the replica through the edge."""
    phone = start_phone(
        s.stack, name, workdir=workdir, scenario=scenario, answer_after_ms=100, rtp_port=_rtp().port
    )
    return track(phone.run)


def _cdr(s: CdrStack, cid: str) -> dict[str, Any]:
    """The call's CDR from the CDR service, once it is there (deadline 10 s)."""
    return cdr_row(s.client, cid, timeout=CDR_DEADLINE_S)


def _records(s: CdrStack, cid: str) -> Records:
    """The pure fold of the call's events as the controller logged them in Redis."""
    host, _, port = s.stack.config.redis.listen.rpartition(":")
    client = redis.Redis(host=host, port=int(port), socket_timeout=2)
    try:
        return build_records([d.event for d in replay(client) if d.event.correlation_id == cid])
    finally:
        client.close()


def _agents(s: CdrStack, *names: str) -> dict[str, dict[str, Any]]:
    df = s.client.report("agent_summary", agents=list(names))
    return {row["agent"]: row for row in df.to_dict("records")}


def _assert_clean(s: CdrStack) -> None:
    """(A managed replica's Sippy dialogs linger its default `--dead-linger`, 32 s, to
    absorb retransmissions, so `dialogs` and `sip_consumers` are not checked here.)"""

    def clean() -> bool:
        status = s.controller.cmd("status")
        return (status["calls"], status["media_sessions"]) == (
            0,
            0,
        ) and not s.stack.rtpengine_calls()

    wait_until(
        clean,
        timeout=8,
        what=f"no call or rtpengine session left (status {s.controller.cmd('status')})",
    )


def _assert_common(cdr: dict[str, Any], cid: str) -> None:
    """The fields every call through this number has, whatever its outcome."""
    assert cdr["correlation_id"] == cid
    assert cdr["caller"] == CALLER_NORMALISED  # +86 stripped at the edge
    assert cdr["dialled"] == SERVICE  # normalised at the edge
    assert cdr["category"] == CATEGORY
    assert cdr["trunk"] == ""  # not passed on by the edge yet (docs/call-control.md)
    assert cdr["queue"] == ""  # no ACD in this path: no call.queued
    assert is_null(cdr["queued_at"]) and cdr["wait_s"] == 0.0
    assert cdr["hold_s"] == 0.0 and cdr["wrapup_s"] == 0.0 and cdr["transfers"] == 0
    assert cdr["hangup_side"] == "caller" and cdr["hangup_cause"] == "200"
    assert cdr["arrived_at"] <= cdr["ended_at"]
    age = pd.Timestamp.now(tz="UTC") - cdr["ended_at"]
    assert pd.Timedelta(0) <= age < pd.Timedelta(seconds=60), cdr


def test_answered_call_hung_up_by_the_caller(cdr_stack: CdrStack, workdir: Path) -> None:
    s = cdr_stack
    agent = _agent(s, workdir, "2001", "ctl_via_edge_agent")
    carrier = _carrier(s, workdir, "ctl_caller_talk_hangup")
    cid = s.controller.wait_new_call(timeout=10)["cid"]
    s.controller.cmd("connect", cid=cid, agents=["2001"], ring_timeout_s=5.0)
    carrier.wait_for_log("HUNG_UP", timeout=10)
    assert carrier.wait(timeout=10) == 0, carrier.errors()
    assert f"BYE cid={cid}" in agent.wait_for_log("BYE")[0]
    assert agent.wait(timeout=10) == 0, agent.errors()

    cdr = _cdr(s, cid)
    _assert_common(cdr, cid)
    assert cdr["disposition"] == "answered"
    assert cdr["agent"] == "2001"
    assert cdr["arrived_at"] <= cdr["answered_at"] <= cdr["ended_at"]
    # The carrier talks for TALK_MS after the bridge, plus a few SIP round trips.
    assert TALK_MS / 1000 * 0.9 <= cdr["talk_s"] < TALK_MS / 1000 + 1.5, cdr
    spanned = (cdr["ended_at"] - cdr["answered_at"]).total_seconds()
    assert cdr["talk_s"] == pytest.approx(spanned, abs=0.01)
    row = _agents(s, "2001")["2001"]
    assert (row["calls"], row["ring_no_answer"]) == (1, 0)
    assert row["talk_s"] == pytest.approx(cdr["talk_s"], abs=0.01)
    _assert_clean(s)


def test_ring_no_answer_then_answered_by_the_second_agent(
    cdr_stack: CdrStack, workdir: Path
) -> None:
    s = cdr_stack
    first = _agent(s, workdir, "2002", "ctl_via_edge_agent_noanswer")
    second = _agent(s, workdir, "2003", "ctl_via_edge_agent")
    carrier = _carrier(s, workdir, "ctl_caller_talk_hangup")
    cid = s.controller.wait_new_call(timeout=10)["cid"]
    s.controller.cmd("connect", cid=cid, agents=["2002", "2003"], ring_timeout_s=1.0)
    assert f"CANCELLED cid={cid}" in first.wait_for_log("CANCELLED")[0]
    carrier.wait_for_log("HUNG_UP", timeout=10)
    for party in (carrier, first, second):
        assert party.wait(timeout=10) == 0, party.errors()

    cdr = _cdr(s, cid)
    _assert_common(cdr, cid)
    assert cdr["disposition"] == "answered"
    assert cdr["agent"] == "2003"
    # The first agent rang for the ring timeout (1 s) before the second answered.
    waited = (cdr["answered_at"] - cdr["arrived_at"]).total_seconds()
    assert 0.9 <= waited < 4.0, cdr
    assert TALK_MS / 1000 * 0.9 <= cdr["talk_s"] < TALK_MS / 1000 + 1.5, cdr

    agents = _agents(s, "2002", "2003")
    assert (agents["2002"]["calls"], agents["2002"]["ring_no_answer"]) == (0, 1)
    assert (agents["2003"]["calls"], agents["2003"]["ring_no_answer"]) == (1, 0)
    assert agents["2003"]["talk_s"] == pytest.approx(cdr["talk_s"], abs=0.01)
    records = _records(s, cid)
    legs = sorted(records.legs, key=lambda leg: leg.seq)
    assert [(leg.agent, leg.attempt, leg.outcome) for leg in legs] == [
        ("2002", 1, "no_answer"),
        ("2003", 2, "answered"),
    ]
    rang = legs[0].ended_at - legs[0].started_at
    assert 0.9 <= rang < 3.0, f"the first agent rang for the ring timeout (1 s), not {rang}"
    (folded,) = records.cdrs
    assert (folded.disposition, folded.agent) == (cdr["disposition"], cdr["agent"])
    assert folded.talk_s == pytest.approx(cdr["talk_s"], abs=0.001)
    _assert_clean(s)


def test_caller_hangs_up_while_the_agent_rings(cdr_stack: CdrStack, workdir: Path) -> None:
    """connect parks (answers) the caller first, so the caller leaves with a BYE while
    the agent rings: rule 4 of docs/analytics.md, `abandoned_ringing`."""
    s = cdr_stack
    agent = _agent(s, workdir, "2004", "ctl_via_edge_agent_noanswer")
    carrier = _carrier(s, workdir, "trunk_call")  # answered, waits TALK_MS, BYE
    cid = s.controller.wait_new_call(timeout=10)["cid"]
    s.controller.cmd("connect", cid=cid, agents=["2004"], ring_timeout_s=10.0)
    assert f"RANG cid={cid}" in agent.wait_for_log("RANG")[0]
    assert carrier.wait(timeout=10) == 0, carrier.errors()
    # The caller's BYE stops the ring: the controller cancels the agent's INVITE.
    assert f"CANCELLED cid={cid}" in agent.wait_for_log("CANCELLED")[0]
    assert agent.wait(timeout=10) == 0, agent.errors()

    cdr = _cdr(s, cid)
    _assert_common(cdr, cid)
    assert cdr["disposition"] == "abandoned_ringing"
    assert cdr["agent"] == ""
    assert is_null(cdr["answered_at"]) and cdr["talk_s"] == 0.0
    lasted = (cdr["ended_at"] - cdr["arrived_at"]).total_seconds()
    assert TALK_MS / 1000 * 0.9 <= lasted < TALK_MS / 1000 + 2.0, cdr

    row = _agents(s, "2004")["2004"]
    assert (row["calls"], row["ring_no_answer"], row["talk_s"]) == (0, 0, 0.0)
    (leg,) = _records(s, cid).legs
    assert (leg.agent, leg.attempt, leg.outcome) == ("2004", 1, "abandoned")
    _assert_clean(s)
