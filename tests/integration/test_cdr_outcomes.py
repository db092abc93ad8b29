"""A CDR for each outcome of the ACD-driven call path, read back from the CDR service.

The stack is `callcenter up` with an `acd:`, a `controllers:` and an `analytics:`
section (testbed.running_acd_path): Kamailio, rtpengine, Redis, one controller replica
(`--edge`, `--acd`), the ACD replica and the CDR service, each its own process. The
carrier, the agents' registered phones and a trunk's gateway are sipp. Calls are
queued, offered and rung by the ACD, transferred with the ACD's own RPC, or
originated with the replica's `originate` command.

Each test reads the call's CDR (`cdr_list`) and leg rows (`leg_list`) back through the
CDR service's API and checks them field by field against literals, and against the
pure fold of the call's events, which must agree with the service on every column.
Times are checked against timestamps the test took itself on the same host clock
(before the call, when it saw something happen, after the call was gone from the
replica), and durations against the CDR's own times, so no tolerance depends on how
loaded the machine is (MS covers the columns' milliseconds).

Outcomes: abandoned in the queue and while ringing, ring-no-answer then answered,
overflow at once and after the max wait, blind transfer to an agent and to a queue,
failed (the agent's leg answers without SDP), and originated calls (the customer busy,
no route to the customer at the edge, the customer answering). The attended transfer
and intercept are in the fold's unit tests (tests/analytics/test_fold_outcomes.py);
the controller alone, without the ACD, in test_cdr_from_sip.py.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import eventlog
from acd_api.v1 import acd_pb2 as pb
from analytics import ServiceClient, build_records
from simulators import RtpEndpoint, SippRun, free_port, start_sipp
from testbed import (
    CALLER,
    OK,
    AcdPath,
    Party,
    acd_path_config,
    agent_phone,
    carrier_call,
    cdr_row,
    exchange,
    hang_up,
    is_null,
    leg_rows,
    media_of,
    running_acd_path,
    track,
    wait_until,
)

pytestmark = pytest.mark.integration

AGENTS = ("1001", "1002")
NUMBER, QUEUE, CATEGORY = "95598", "billing", "electricity-billing"
# Nobody has `outage`'s skill: the ACD overflows its calls at Enqueue.
OUTAGE_NUMBER, OUTAGE_QUEUE = "95597", "outage"
# `slow` overflows a call that waited MAX_WAIT_MS (an agent is logged in, not ready).
SLOW_NUMBER, SLOW_QUEUE = "95596", "slow"
MAX_WAIT_MS = 1500
CTL_NODE = "cdrout-ctl0"
RING_TIMEOUT_MS = 4000  # the controller rings 3.5 s of it
WRAP_UP_MS = 1000
CUSTOMER = "+8613800138000"  # an outbound call's customer, behind carrier-a's gateway
SIPP = Path(__file__).resolve().parents[2] / "sipp"
# ms columns (DateTime64(3)) against Float64 durations computed from the full stamps.
MS = 0.0015


@pytest.fixture(scope="module")
def running_path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AcdPath, ServiceClient, str]]:
    """The stack, the CDR service's client, and carrier-a's gateway address."""
    workdir = tmp_path_factory.mktemp("cdrout")
    config, passwords = acd_path_config(
        workdir,
        AGENTS,
        numbers=[
            {"number": NUMBER, "category": CATEGORY, "target": "controller", "queue": QUEUE},
            {
                "number": OUTAGE_NUMBER,
                "category": "outage",
                "target": "controller",
                "queue": OUTAGE_QUEUE,
            },
            {
                "number": SLOW_NUMBER,
                "category": "slow",
                "target": "controller",
                "queue": SLOW_QUEUE,
            },
        ],
        queues=[
            {
                "name": QUEUE,
                "skills": {"billing": 1},
                "strategy": "longest_idle",
                "ring_timeout_ms": RING_TIMEOUT_MS,
                "wrap_up_ms": WRAP_UP_MS,
            },
            {"name": OUTAGE_QUEUE, "skills": {"outage": 1}, "overflow_target": "voicemail"},
            {
                "name": SLOW_QUEUE,
                "skills": {"billing": 1},
                "max_wait_ms": MAX_WAIT_MS,
                "overflow_target": "callback",
            },
        ],
        skills={"billing": 2},
        controller_name=CTL_NODE,
    )
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
    with running_acd_path(request, workdir, config, passwords) as path:
        assert path.stack.config.analytics is not None
        yield path, ServiceClient(path.stack.config.analytics.url()), gateway


@pytest.fixture
def path(running_path: tuple[AcdPath, ServiceClient, str]) -> Iterator[AcdPath]:
    """The stack, with no registration and nobody logged in; left the same way."""
    with running_path[0].for_one_test(AGENTS) as acd_path:
        yield acd_path


@pytest.fixture
def cdrs(running_path: tuple[AcdPath, ServiceClient, str]) -> ServiceClient:
    return running_path[1]


# ---------------------------------------------------------------- helpers


def _epoch(value: Any) -> float:
    return float(value.timestamp())


def _matches(row: dict[str, Any], record: Any, skip: tuple[str, ...] = ()) -> None:
    """A row the service returned holds what the record it stored holds (times to the
    millisecond the columns keep)."""
    for column, value in row.items():
        if column in skip:
            continue
        folded = getattr(record, column)
        if column == "ivr_path":  # an array column: a list or numpy array, the fold a tuple
            assert list(value) == list(folded), (column, value, folded)
        elif column.endswith("_at"):
            assert is_null(value) if folded is None else abs(_epoch(value) - folded) < MS, (
                column,
                value,
                folded,
            )
        else:
            assert (
                value == pytest.approx(folded, abs=1e-9)
                if isinstance(folded, float)
                else value == folded
            ), (column, value, folded)


def _cdr(
    path: AcdPath,
    cdrs: ServiceClient,
    cid: str,
    until: Callable[[dict[str, Any]], bool] = lambda row: True,
    what: str = "",
) -> dict[str, Any]:
    """The call's CDR from the service, after checking that the pure fold of the call's
    events in the stack's log agrees with it (wrap-up aside: the fold of the call's
    events alone has no agent intervals). Tests check its columns against literals."""
    row = cdr_row(cdrs, cid, until=until, what=what)
    records = build_records([e for e in path.events(cid) if e.kind != "agent.state"])
    (folded,) = records.cdrs
    _matches(row, folded, skip=("wrapup_s",))
    return row


def _legs(path: AcdPath, cdrs: ServiceClient, cid: str) -> list[dict[str, Any]]:
    """The call's leg rows from the service, each checked against the pure fold."""
    rows = leg_rows(cdrs, cid)
    records = build_records([e for e in path.events(cid) if e.kind != "agent.state"])
    folded = sorted(records.legs, key=lambda leg: leg.seq)
    assert len(rows) == len(folded), (rows, folded)
    for row, leg in zip(rows, folded, strict=True):
        _matches(row, leg)
    return rows


def _new_call(path: AcdPath) -> str:
    cid = str(path.control.wait_new_call()["cid"])
    assert re.fullmatch(r"[0-9a-f]{32}", cid) and cid != "f" * 32, cid
    return cid


def _short_call(path: AcdPath, mark: str) -> str:
    """The correlation ID of a call that may be gone before the replica's `calls` shows
    it: from its call.arrived in the log after `mark`."""
    wait_until(lambda: path.arrivals(mark), timeout=5, what="call.arrived in the log")
    (arrived,) = path.arrivals(mark)
    return arrived.correlation_id


def _call_over(path: AcdPath, *runs: SippRun, idle: tuple[str, ...] = ()) -> float:
    """Every party's scenario passed, `idle` agents are idle again (after any wrap-up),
    and neither the replica nor rtpengine holds the call. Returns the time then: the
    upper bound for the CDR's times, as the replica stamps call.ended after its BYEs."""
    for run in runs:
        assert run.wait(timeout=10) == 0, run.errors()
    for agent in idle:
        path.wait_agent(agent, "IDLE", timeout=WRAP_UP_MS / 1000 + 10)
    path.wait_clean()
    return time.time()


def _assert_inbound(
    cdr: dict[str, Any],
    cid: str,
    *,
    number: str,
    category: str,
    queue: str,
    within: tuple[float, float],
) -> None:
    """What every carrier call has: who called what, and when, from the test's clock."""
    assert cdr["correlation_id"] == cid
    assert (cdr["caller"], cdr["dialled"], cdr["category"], cdr["trunk"]) == (
        CALLER,
        number,
        category,
        "",
    )  # the edge does not pass the trunk on yet
    assert cdr["queue"] == queue
    _assert_no_ivr_nor_recording(cdr)
    start, end = within
    assert (
        start - MS
        <= _epoch(cdr["arrived_at"])
        <= _epoch(cdr["queued_at"])
        <= _epoch(cdr["ended_at"])
        <= end + MS
    ), (within, cdr)


def _assert_no_ivr_nor_recording(cdr: dict[str, Any]) -> None:
    """What the store keeps for a call that met no IVR node and was not recorded."""
    assert list(cdr["ivr_path"]) == [] and cdr["recording_ref"] == "", cdr


def _assert_unanswered(cdr: dict[str, Any]) -> None:
    assert (cdr["agent"], cdr["seat"]) == ("", "")
    assert is_null(cdr["answered_at"])
    assert (cdr["talk_s"], cdr["hold_s"], cdr["wrapup_s"], cdr["transfers"]) == (0.0, 0.0, 0.0, 0)


def _wrap_ups(path: AcdPath, cid: str, agent: str) -> list[float]:
    """The agent's wrap-up spans for this call: from each agent.state `wrap_up` the ACD
    tagged with the call to the agent's next state change."""
    states = sorted(
        (
            d.event
            for d in eventlog.replay(path.events_redis)
            if d.event.kind == "agent.state" and d.event["agent"] == agent
        ),
        key=lambda e: e.ts,
    )
    return [
        after.ts - started.ts
        for started, after in itertools.pairwise(states)
        if started["state"] == "wrap_up" and started.correlation_id == cid
    ]


# ---------------------------------------------------------------- abandoned


def test_abandoned_in_queue_with_no_agent_free(
    path: AcdPath, cdrs: ServiceClient, workdir: Path
) -> None:
    """1001 is logged in but not ready: the call waits, parked, and the caller hangs up."""
    path.log_in("1001", busy=("1001",))
    before = time.time()
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    caller.run.wait_for_log("ANSWERED", timeout=10)
    wait_until(
        lambda: path.queue_view(QUEUE).waiting == 1, timeout=5, what="the call waits in billing"
    )
    seen_waiting = time.time()
    hang_up(caller)
    caller.run.wait_for_log("HUNG_UP", timeout=10)
    after = _call_over(path, caller.run)

    cdr = _cdr(path, cdrs, cid)
    _assert_inbound(cdr, cid, number=NUMBER, category=CATEGORY, queue=QUEUE, within=(before, after))
    _assert_unanswered(cdr)
    assert cdr["disposition"] == "abandoned_queue"
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("200", "caller")
    assert _epoch(cdr["queued_at"]) - MS <= seen_waiting <= _epoch(cdr["ended_at"]) + MS
    # The wait runs from the queueing to the hang-up.
    waited = _epoch(cdr["ended_at"]) - _epoch(cdr["queued_at"])
    assert cdr["wait_s"] == pytest.approx(waited, abs=MS)
    assert _legs(path, cdrs, cid) == []


def test_abandoned_while_the_offered_agent_rings(
    path: AcdPath, cdrs: ServiceClient, workdir: Path
) -> None:
    """The ACD offers 1001, whose phone rings without answering; the caller hangs up.
    The ring leg is `abandoned`, and 1001 is idle again (the controller's Abandon)."""
    path.log_in("1001")
    phone = agent_phone(path, workdir, "1001", str(SIPP / "ctl_via_edge_agent_noanswer.xml"))
    before = time.time()
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    assert f"cid={cid} " in phone.run.wait_for_log("RANG", timeout=10)[0]
    rang = time.time()
    hang_up(caller)
    caller.run.wait_for_log("HUNG_UP", timeout=10)
    phone.run.wait_for_log("CANCELLED", timeout=10)
    after = _call_over(path, caller.run, phone.run, idle=("1001",))

    cdr = _cdr(path, cdrs, cid)
    _assert_inbound(cdr, cid, number=NUMBER, category=CATEGORY, queue=QUEUE, within=(before, after))
    _assert_unanswered(cdr)
    assert cdr["disposition"] == "abandoned_ringing"
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("200", "caller")
    waited = _epoch(cdr["ended_at"]) - _epoch(cdr["queued_at"])
    assert cdr["wait_s"] == pytest.approx(waited, abs=MS)
    (leg,) = _legs(path, cdrs, cid)
    assert (
        leg["leg_kind"],
        leg["agent"],
        leg["seat"],
        leg["attempt"],
        leg["leg_id"],
        leg["outcome"],
    ) == ("ring", "1001", "1", 1, "L2", "abandoned")
    assert _epoch(cdr["queued_at"]) <= _epoch(leg["started_at"]) <= rang + MS
    assert leg["ended_at"] == cdr["ended_at"]
    assert is_null(leg["answered_at"]) and (leg["talk_s"], leg["hold_s"]) == (0.0, 0.0)
    assert (leg["to_kind"], leg["to_target"], leg["mode"]) == ("", "", "")


def test_ring_no_answer_then_the_next_agent_answers(
    path: AcdPath, cdrs: ServiceClient, workdir: Path
) -> None:
    """1001 (idle the longest) is offered the call and does not pick up: after the
    controller's ring time the ACD offers 1002, who answers; the caller hangs up."""
    path.log_in("1001", "1002")
    silent = agent_phone(path, workdir, "1001", str(SIPP / "ctl_via_edge_agent_noanswer.xml"))
    answering = agent_phone(path, workdir, "1002", "ctl_via_edge_agent")
    before = time.time()
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    assert f"cid={cid} " in silent.run.wait_for_log("RANG", timeout=10)[0]
    silent.run.wait_for_log("CANCELLED", timeout=RING_TIMEOUT_MS / 1000 + 5)
    assert f"cid={cid} " in answering.run.wait_for_log("CALL ", timeout=10)[0]
    _wait_bridged(path, caller, cid, "1002", reinvites=1)
    path.wait_agent("1002", "TALKING")
    hang_up(caller)
    caller.run.wait_for_log("HUNG_UP", timeout=10)
    assert f"BYE cid={cid}" in answering.run.wait_for_log("BYE", timeout=10)[0]
    after = _call_over(path, caller.run, silent.run, answering.run, idle=("1002",))

    (wrap_up,) = _wrap_ups(path, cid, "1002")
    assert _wrap_ups(path, cid, "1001") == []
    cdr = _cdr(
        path, cdrs, cid, until=lambda row: row["wrapup_s"] > 0.0, what="with 1002's wrap-up "
    )
    _assert_inbound(cdr, cid, number=NUMBER, category=CATEGORY, queue=QUEUE, within=(before, after))
    assert (cdr["disposition"], cdr["agent"], cdr["seat"], cdr["transfers"]) == (
        "answered",
        "1002",
        "2",
        0,
    )
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("200", "caller")
    queued, answered, ended = (_epoch(cdr[k]) for k in ("queued_at", "answered_at", "ended_at"))
    # The caller waited through 1001's whole ring: the queue's ring timeout less the
    # controller's 0.5 s margin.
    rang = RING_TIMEOUT_MS / 1000 - 0.5
    assert cdr["wait_s"] == pytest.approx(answered - queued, abs=MS)
    assert rang <= cdr["wait_s"], cdr
    assert cdr["talk_s"] == pytest.approx(ended - answered, abs=MS) and cdr["hold_s"] == 0.0
    assert cdr["wrapup_s"] == pytest.approx(wrap_up, abs=MS) and wrap_up >= WRAP_UP_MS / 1000

    legs = _legs(path, cdrs, cid)
    assert [
        (x["seq"], x["leg_kind"], x["agent"], x["seat"], x["attempt"], x["leg_id"], x["outcome"])
        for x in legs
    ] == [
        (1, "ring", "1001", "1", 1, "L2", "no_answer"),
        (2, "ring", "1002", "2", 2, "L3", "answered"),
    ]
    missed, taken = legs
    assert queued <= _epoch(missed["started_at"])
    assert (
        rang <= _epoch(missed["ended_at"]) - _epoch(missed["started_at"]) < RING_TIMEOUT_MS / 1000
    )
    assert is_null(missed["answered_at"]) and missed["talk_s"] == 0.0
    assert _epoch(missed["ended_at"]) <= _epoch(taken["started_at"]) <= answered
    assert taken["answered_at"] == cdr["answered_at"] and taken["ended_at"] == cdr["ended_at"]
    assert taken["talk_s"] == pytest.approx(cdr["talk_s"], abs=MS)


# ---------------------------------------------------------------- overflow


def test_overflow_at_once_when_nobody_can_take_the_queue(
    path: AcdPath, cdrs: ServiceClient, workdir: Path
) -> None:
    """Nobody logged in has `outage`'s skill: the ACD routes the call to voicemail at
    Enqueue, and the controller (no route targets yet) hangs the caller up."""
    mark = path.log_mark()
    before = time.time()
    caller = carrier_call(path, workdir, OUTAGE_NUMBER)
    caller.run.wait_for_log("BYE", timeout=10)
    cid = _short_call(path, mark)
    after = _call_over(path, caller.run)

    cdr = _cdr(path, cdrs, cid)
    _assert_inbound(
        cdr,
        cid,
        number=OUTAGE_NUMBER,
        category="outage",
        queue=OUTAGE_QUEUE,
        within=(before, after),
    )
    _assert_unanswered(cdr)
    assert cdr["disposition"] == "overflow"
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("overflow:voicemail", "system")
    # It left the queue at the overflow, in the same ACD command that queued it.
    assert 0.0 <= cdr["wait_s"] <= _epoch(cdr["ended_at"]) - _epoch(cdr["queued_at"]) + MS
    assert cdr["wait_s"] < 0.5, cdr
    assert _legs(path, cdrs, cid) == []


def test_overflow_after_the_queues_max_wait(
    path: AcdPath, cdrs: ServiceClient, workdir: Path
) -> None:
    """1001 could take `slow` but is not ready: the call waits MAX_WAIT_MS, then the ACD
    routes it to `callback` and the controller hangs the caller up."""
    path.log_in("1001", busy=("1001",))
    before = time.time()
    caller = carrier_call(path, workdir, SLOW_NUMBER)
    cid = _new_call(path)
    caller.run.wait_for_log("BYE", timeout=MAX_WAIT_MS / 1000 + 10)
    after = _call_over(path, caller.run)

    cdr = _cdr(path, cdrs, cid)
    _assert_inbound(
        cdr, cid, number=SLOW_NUMBER, category="slow", queue=SLOW_QUEUE, within=(before, after)
    )
    _assert_unanswered(cdr)
    assert cdr["disposition"] == "overflow"
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("overflow:callback", "system")
    # The ACD's timer: no earlier than the max wait, and the call ends right after it.
    assert MAX_WAIT_MS / 1000 <= cdr["wait_s"] <= after - before, cdr
    assert cdr["wait_s"] <= _epoch(cdr["ended_at"]) - _epoch(cdr["queued_at"]) + MS
    assert _legs(path, cdrs, cid) == []


# ---------------------------------------------------------------- transfer


@pytest.mark.parametrize("to_kind", ["agent", "queue"])
def test_blind_transfer_to_another_agent_or_back_to_the_queue(
    path: AcdPath, cdrs: ServiceClient, workdir: Path, to_kind: str
) -> None:
    """1001 (idle the longest) answers; a desk asks the ACD to transfer the call to
    1002 (TransferToAgent), or to billing again (TransferToQueue), where 1002 is the
    idle agent: 1001's leg ends, 1002's phone rings and answers; the caller hangs up.
    One CDR owned by 1001, with a leg row per ring and one for the transfer."""
    path.log_in("1001", "1002")
    first = agent_phone(path, workdir, "1001", "ctl_via_edge_agent")
    second = agent_phone(path, workdir, "1002", "ctl_via_edge_agent")
    before = time.time()
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    first.run.wait_for_log("CALL ", timeout=10)
    _wait_bridged(path, caller, cid, "1001", reinvites=1)
    path.wait_agent("1001", "TALKING")
    asked = time.time()
    reply: pb.TransferToAgentResponse | pb.TransferToQueueResponse
    if to_kind == "agent":
        reply = path.acd.transfer_to_agent(pb.TransferToAgentRequest(call_id=cid, employee_id=1002))
    else:
        reply = path.acd.transfer_to_queue(pb.TransferToQueueRequest(call_id=cid, queue=QUEUE))
    assert reply.error.code == OK, reply
    assert f"BYE cid={cid}" in first.run.wait_for_log("BYE", timeout=10)[0]
    released = time.time()
    assert f"cid={cid} " in second.run.wait_for_log("CALL ", timeout=10)[0]
    path.wait_agent("1002", "TALKING")
    _wait_bridged(path, caller, cid, "1002", reinvites=2)
    hang_up(caller)
    caller.run.wait_for_log("HUNG_UP", timeout=10)
    assert f"BYE cid={cid}" in second.run.wait_for_log("BYE", timeout=10)[0]
    after = _call_over(path, caller.run, first.run, second.run, idle=("1001", "1002"))

    wrap_ups = _wrap_ups(path, cid, "1001") + _wrap_ups(path, cid, "1002")
    assert len(wrap_ups) == 2 and all(w >= WRAP_UP_MS / 1000 for w in wrap_ups), wrap_ups
    cdr = _cdr(
        path,
        cdrs,
        cid,
        until=lambda row: row["wrapup_s"] >= sum(wrap_ups) - MS,
        what="with both agents' wrap-up ",
    )
    _assert_inbound(cdr, cid, number=NUMBER, category=CATEGORY, queue=QUEUE, within=(before, after))
    assert (cdr["disposition"], cdr["agent"], cdr["seat"], cdr["transfers"]) == (
        "answered",
        "1001",
        "1",
        1,
    )
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("200", "caller")
    queued, answered, ended = (_epoch(cdr[k]) for k in ("queued_at", "answered_at", "ended_at"))
    assert queued <= answered <= asked + MS
    assert cdr["wait_s"] == pytest.approx(answered - queued, abs=MS)
    assert cdr["hold_s"] == 0.0
    assert cdr["wrapup_s"] == pytest.approx(sum(wrap_ups), abs=MS)

    legs = _legs(path, cdrs, cid)
    assert [
        (
            x["seq"],
            x["leg_kind"],
            x["agent"],
            x["seat"],
            x["attempt"],
            x["leg_id"],
            x["outcome"],
            x["to_kind"],
            x["to_target"],
            x["mode"],
        )
        for x in legs
    ] == [
        (1, "ring", "1001", "1", 1, "L2", "answered", "", "", ""),
        (
            2,
            "transfer",
            "1001",
            "",
            0,
            "",
            "transferred",
            to_kind,
            "1002" if to_kind == "agent" else QUEUE,
            "blind",
        ),
        (3, "ring", "1002", "2", 2, "L3", "answered", "", "", ""),
    ]
    ring1, xfer, ring2 = legs
    assert ring1["answered_at"] == cdr["answered_at"]
    # 1001's part ends at the ACD's transfer, which the desk asked for.
    assert asked - MS <= _epoch(ring1["ended_at"]) <= released + MS
    assert ring1["talk_s"] == pytest.approx(_epoch(ring1["ended_at"]) - answered, abs=MS)
    assert xfer["started_at"] == xfer["ended_at"] == ring1["ended_at"]
    assert is_null(xfer["answered_at"]) and xfer["talk_s"] == 0.0
    assert (
        _epoch(ring1["ended_at"])
        <= _epoch(ring2["started_at"])
        <= _epoch(ring2["answered_at"])
        <= ended
    )
    assert ring2["ended_at"] == cdr["ended_at"]
    assert ring2["talk_s"] == pytest.approx(ended - _epoch(ring2["answered_at"]), abs=MS)
    assert (ring1["hold_s"], ring2["hold_s"]) == (0.0, 0.0)
    # Talk is both agents' talk; the caller's wait for 1002 between them is not.
    assert cdr["talk_s"] == pytest.approx(ring1["talk_s"] + ring2["talk_s"], abs=MS)
    assert (
        cdr["talk_s"]
        < ended - answered - (_epoch(ring2["answered_at"]) - _epoch(ring1["ended_at"])) + MS
    )


def _lines(party: Party, prefix: str) -> list[str]:
    return [line for line in party.run.log_lines() if line.startswith(prefix)]


def _wait_bridged(path: AcdPath, caller: Party, cid: str, agent: str, *, reinvites: int) -> None:
    """The replica has the caller bridged to `agent` with no re-INVITE outstanding, and
    the caller took at least `reinvites` re-INVITEs, each ACKed: only then may it hang
    up without crossing a re-INVITE (the replica is bridged before its re-INVITE)."""

    def settled() -> bool:
        call = path.control.call(cid)
        if (
            call is None
            or call["state"] != "bridged"
            or any(leg["updating"] for leg in call["legs"])
        ):
            return False
        if not any(
            leg["role"] == "agent" and leg["target"] == agent and leg["state"] == "answered"
            for leg in call["legs"]
        ):
            return False
        done = len(_lines(caller, "SETTLED"))
        return done >= reinvites and done == len(_lines(caller, "REINVITE "))

    wait_until(
        settled,
        timeout=10,
        what=f"the caller bridged to {agent}, its re-INVITEs done (now {path.control.call(cid)})",
    )


# ---------------------------------------------------------------- failed


def test_failed_when_the_agents_phone_answers_without_sdp(
    path: AcdPath, cdrs: ServiceClient, workdir: Path
) -> None:
    """The agent's leg fails: its phone answers the offer with no SDP. The controller
    gives the call up (BYE to both), the ACD frees 1001: `failed`, the ring cancelled."""
    path.log_in("1001")
    phone = agent_phone(path, workdir, "1001", str(SIPP / "ctl_via_edge_agent_no_sdp.xml"))
    before = time.time()
    caller = carrier_call(path, workdir, NUMBER)
    cid = _new_call(path)
    assert f"cid={cid} " in phone.run.wait_for_log("CALL ", timeout=10)[0]
    assert f"BYE cid={cid}" in phone.run.wait_for_log("BYE", timeout=10)[0]
    caller.run.wait_for_log("BYE", timeout=10)
    after = _call_over(path, caller.run, phone.run, idle=("1001",))

    cdr = _cdr(path, cdrs, cid)
    _assert_inbound(cdr, cid, number=NUMBER, category=CATEGORY, queue=QUEUE, within=(before, after))
    _assert_unanswered(cdr)
    assert cdr["disposition"] == "failed"
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("agent answered without SDP", "system")
    waited = _epoch(cdr["ended_at"]) - _epoch(cdr["queued_at"])
    assert cdr["wait_s"] == pytest.approx(waited, abs=MS)
    (leg,) = _legs(path, cdrs, cid)
    assert (leg["leg_kind"], leg["agent"], leg["seat"], leg["attempt"], leg["outcome"]) == (
        "ring",
        "1001",
        "1",
        1,
        "cancelled",
    )
    assert leg["ended_at"] == cdr["ended_at"] and is_null(leg["answered_at"])


# ---------------------------------------------------------------- originated


# The customer of an originated call who is not reached: (number, code the edge or the
# gateway answers). 9995551234 matches no outbound prefix of carrier-a: the edge refuses it.
NOT_REACHED = {"busy": (CUSTOMER, "486"), "no-route": ("9995551234", "403")}


@pytest.mark.parametrize("case", sorted(NOT_REACHED))
def test_originated_call_the_customer_is_not_reached(
    path: AcdPath,
    cdrs: ServiceClient,
    workdir: Path,
    running_path: tuple[AcdPath, ServiceClient, str],
    case: str,
) -> None:
    """`originate`: 1001's phone rings and answers, the customer is dialled through the
    edge: carrier-a's gateway answers 486 (busy), or the edge itself refuses a number
    no trunk may call (403). The CDR is the outbound call's (category outbound),
    failed with that code, and the customer's refusal abandons nothing."""
    number, code = NOT_REACHED[case]
    gateway = running_path[2]
    phone = agent_phone(path, workdir, "1001", "ctl_via_edge_agent")
    busy = None
    if case == "busy":
        busy = track(
            start_sipp(
                "gateway",
                "ctl_party_refuses",
                path.stack.sip,
                workdir=workdir,
                port=int(gateway.rpartition(":")[2]),
                keys={"rtp_port": 9},
                timeout_s=30,
            )
        )
    before = time.time()
    call = path.control.cmd(
        "originate", agent="1001", number=number, caller_id=NUMBER, ring_timeout_s=5.0
    )
    cid = str(call["cid"])
    assert f"cid={cid} caller={number} " in phone.run.wait_for_log("CALL ", timeout=10)[0]
    if busy is not None:
        assert f"REFUSED cid={cid} from={NUMBER} to={number}" in busy.wait_for_log("REFUSED")[0]
    assert f"BYE cid={cid}" in phone.run.wait_for_log("BYE", timeout=10)[0]
    after = _call_over(path, phone.run, *([busy] if busy is not None else []))

    cdr = _cdr(path, cdrs, cid)
    assert cdr["correlation_id"] == cid
    assert (cdr["caller"], cdr["dialled"], cdr["category"], cdr["trunk"], cdr["queue"]) == (
        NUMBER,
        number,
        "outbound",
        "",
        "",
    )
    assert (cdr["disposition"], cdr["agent"], cdr["seat"]) == ("failed", "1001", "")
    _assert_no_ivr_nor_recording(cdr)
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == (code, "caller")
    assert before - MS <= _epoch(cdr["arrived_at"]) <= _epoch(cdr["ended_at"]) <= after + MS
    assert is_null(cdr["queued_at"]) and is_null(cdr["answered_at"])
    assert (cdr["wait_s"], cdr["talk_s"], cdr["hold_s"], cdr["wrapup_s"], cdr["transfers"]) == (
        0.0,
        0.0,
        0.0,
        0.0,
        0,
    )
    (leg,) = _legs(path, cdrs, cid)
    assert (leg["leg_kind"], leg["agent"], leg["attempt"], leg["leg_id"], leg["outcome"]) == (
        "ring",
        "1001",
        1,
        "L2",
        "cancelled",
    )
    assert _epoch(cdr["arrived_at"]) <= _epoch(leg["started_at"])
    assert leg["ended_at"] == cdr["ended_at"] and is_null(leg["answered_at"])


def test_originated_call_answered_by_the_customer(
    path: AcdPath,
    cdrs: ServiceClient,
    workdir: Path,
    running_path: tuple[AcdPath, ServiceClient, str],
) -> None:
    """`originate`: 1001's phone answers, the customer behind carrier-a's gateway
    answers, the two talk (RTP both ways), then the replica's `hangup` ends the call.
    The answer and talk time are the conversation's (the customer's answer), not the
    agent's pick-up."""
    gateway = running_path[2]
    phone = agent_phone(path, workdir, "1001", str(SIPP / "ctl_via_edge_agent_reinvite.xml"))
    customer_rtp = RtpEndpoint()
    path.on_close(customer_rtp.close)
    customer = track(
        start_sipp(
            "gateway",
            "ctl_via_edge_gateway",
            path.stack.sip,
            workdir=workdir,
            port=int(gateway.rpartition(":")[2]),
            keys={"rtp_port": customer_rtp.port},
            pause_ms=300,
            timeout_s=30,
        )
    )
    before = time.time()
    cid = str(
        path.control.cmd(
            "originate", agent="1001", number=CUSTOMER, caller_id=NUMBER, ring_timeout_s=5.0
        )["cid"]
    )
    assert f"cid={cid} caller={CUSTOMER} " in phone.run.wait_for_log("CALL ", timeout=10)[0]
    seen = customer.wait_for_log("CALL ", timeout=10)[0]
    assert f"cid={cid} " in seen and f" caller={NUMBER} " in seen
    phone.run.wait_for_log("SETTLED", timeout=10)  # moved from its park to the customer
    bridged = time.time()
    to_customer, to_agent = exchange(
        phone.rtp, media_of(_lines(phone, "REINVITE ")[0]), customer_rtp, media_of(seen)
    )
    assert to_customer >= 48 and to_agent >= 48, (to_customer, to_agent)
    hung = time.time()
    path.control.cmd("hangup", cid=cid)
    assert f"BYE cid={cid}" in phone.run.wait_for_log("BYE", timeout=10)[0]
    assert f"BYE cid={cid}" in customer.wait_for_log("BYE", timeout=10)[0]
    for run in (phone.run, customer):
        assert run.wait(timeout=10) == 0, run.errors()
    path.wait_clean()
    after = time.time()

    cdr = _cdr(path, cdrs, cid)
    assert (cdr["caller"], cdr["dialled"], cdr["category"], cdr["trunk"], cdr["queue"]) == (
        NUMBER,
        CUSTOMER,
        "outbound",
        "",
        "",
    )
    assert (cdr["disposition"], cdr["agent"], cdr["seat"], cdr["transfers"]) == (
        "answered",
        "1001",
        "",
        0,
    )
    _assert_no_ivr_nor_recording(cdr)
    assert (cdr["hangup_cause"], cdr["hangup_side"]) == ("200", "system")
    arrived, answered, ended = (_epoch(cdr[k]) for k in ("arrived_at", "answered_at", "ended_at"))
    # The gateway answers 300 ms after its INVITE, itself sent after the agent answered.
    assert before - MS <= arrived <= answered - 0.3 and answered <= bridged + MS
    assert hung - MS <= ended <= after + MS
    assert is_null(cdr["queued_at"]) and cdr["wait_s"] == 0.0
    assert cdr["talk_s"] == pytest.approx(ended - answered, abs=MS)
    assert (cdr["hold_s"], cdr["wrapup_s"]) == (0.0, 0.0)
    (leg,) = _legs(path, cdrs, cid)
    assert (leg["leg_kind"], leg["agent"], leg["attempt"], leg["leg_id"], leg["outcome"]) == (
        "ring",
        "1001",
        1,
        "L2",
        "answered",
    )
    assert arrived - MS <= _epoch(leg["started_at"]) <= answered
    assert (leg["answered_at"], leg["ended_at"]) == (cdr["answered_at"], cdr["ended_at"])
    assert leg["talk_s"] == pytest.approx(cdr["talk_s"], abs=MS)
