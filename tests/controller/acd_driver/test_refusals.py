"""Calls the ACD does not take: an unmapped number, a queue it refuses, the ACD down."""

from __future__ import annotations

import time

from simulators import free_port
from testbed import controller_feed_subscribed, wait_until
from tests.controller.acd_driver.conftest import (
    ACD_NODE,
    CTL_NODE,
    Rig,
    caller_call_id,
    calls,
    new_cid,
    trigger,
)


def test_a_number_without_a_queue_is_refused_before_answering(rig: Rig) -> None:
    """95599 maps to no queue and there is no --default-queue: 480, cause `no queue`,
    a log line naming the number, and the ACD never hears of the call."""
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid, number="95599", scenario="acd_caller_refused")
        caller.run.wait_for_log("REFUSED code=480", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        wait_until(
            lambda: "dialled number '95599' has no ACD queue" in controller.log_text(),
            timeout=5,
            what="the refusal logged",
        )
    assert [(k, n, d) for k, n, d in calls(rig.ended_events(cid))][1:] == [
        ("call.ended", CTL_NODE, {"cause": "no queue", "side": "system"})
    ]


def test_a_queue_the_acd_refuses_hangs_up_with_the_acds_reason(rig: Rig) -> None:
    """95597 maps to `nosuch`, which the ACD does not have: Enqueue is refused with
    UNKNOWN_QUEUE; the parked caller is hung up with cause `acd refused:UNKNOWN_QUEUE`."""
    cid = new_cid()
    with rig.controller() as controller:
        caller = rig.caller(controller, cid, number="95597")
        caller.run.wait_for_log("ANSWERED", timeout=10)
        caller.run.wait_for_log("BYE", timeout=10)
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        wait_until(
            lambda: (
                "the ACD refused the call for queue nosuch (UNKNOWN_QUEUE" in controller.log_text()
            ),
            timeout=5,
            what="the refusal logged",
        )
    assert [(k, d) for k, _, d in calls(rig.ended_events(cid))] == [
        (
            "call.arrived",
            {
                "trunk": "",
                "caller": "13912345678",
                "dialled": "95597",
                "category": "electricity-billing",
            },
        ),
        ("call.ended", {"cause": "acd refused:UNKNOWN_QUEUE", "side": "system"}),
    ]


def test_the_acd_down_when_the_call_arrives_then_back(rig: Rig) -> None:
    """(d) No ACD answers: the caller is answered (parked) and, after
    --acd-enqueue-timeout from its arrival, hung up with cause `acd unavailable`;
    nothing is left behind. The ACD comes back on the same address: the controller
    reconnects (WatchActions, channel back-off) and the next call reaches an agent."""
    rig.acd.stop()
    cid = new_cid()
    with rig.controller("--acd-enqueue-timeout", "1.5", "--acd-retry", "2") as controller:
        started = time.monotonic()
        caller = rig.caller(controller, cid)
        caller.run.wait_for_log("ANSWERED", timeout=10)
        caller.run.wait_for_log("BYE", timeout=10)
        waited = time.monotonic() - started
        assert 1.4 <= waited < 5, waited
        assert caller.run.wait(timeout=10) == 0, caller.run.errors()
        wait_until(lambda: controller.cmd("status")["calls"] == 0, timeout=5, what="no call left")

        rig.acd.start()
        # The ACD was never up for this controller: its first subscription says so
        # ("subscribed", not "resumed").
        wait_until(
            lambda: controller_feed_subscribed(controller.log_text()),
            timeout=10,
            what="the controller watching actions",
        )
        rig.agents("1001")
        phone = rig.phone("1001", "acd_agent")
        second = new_cid()
        caller2 = rig.caller(controller, second)
        phone.run.wait_for_log("ANSWERED", timeout=10)
        caller2.wait_bridged()
        rig.wait_agent("1001", "TALKING")
        trigger(caller2, caller_call_id(second))
        caller2.run.wait_for_log("HUNG_UP", timeout=10)
        rig.wait_agent("1001", "WRAP_UP")
    assert [(k, n, d) for k, n, d in calls(rig.ended_events(cid))][1:] == [
        ("call.ended", CTL_NODE, {"cause": "acd unavailable", "side": "system"})
    ]
    assert [(k, n) for k, n, _ in calls(rig.ended_events(second))] == [
        ("call.arrived", CTL_NODE),
        ("call.queued", ACD_NODE),
        ("call.ringing", CTL_NODE),
        ("call.answered", CTL_NODE),
        ("call.ended", CTL_NODE),
    ]


def test_an_acd_address_nobody_listens_on_never_leaves_a_caller_parked(rig: Rig) -> None:
    """(d) The ACD is not there at all: several callers arriving together are each hung
    up at their own deadline, not one after the other."""
    nowhere = f"127.0.0.1:{free_port()}"
    cids = [new_cid() for _ in range(3)]
    with rig.controller(
        "--acd-enqueue-timeout", "1", "--acd-retry", "1", acd=nowhere
    ) as controller:
        started = time.monotonic()
        callers = [rig.caller(controller, cid) for cid in cids]
        for caller in callers:
            caller.run.wait_for_log("BYE", timeout=10)
        assert time.monotonic() - started < 4
    for cid in cids:
        assert calls(rig.ended_events(cid))[-1][2] == {"cause": "acd unavailable", "side": "system"}
