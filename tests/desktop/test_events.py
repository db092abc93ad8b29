"""The events WebSocket: the Origin check, an offer pushed with the customer's record
already in it, the state changes (wrap-up with its end), a blind transfer's release,
and the wrap-up saved for a call the agent took."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

import bizdata
import eventlog
from acd_api.v1 import acd_pb2 as pb
from testbed import wait_until
from tests.desktop.conftest import WRAP_UP_MS, Browser, DeskStack, enqueue


def open_events(stack: DeskStack, page: Browser, origin: str | None = None) -> ClientConnection:
    return connect(
        f"wss://{stack.address}/api/events",
        ssl=stack.context,
        origin=origin or stack.origin,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"cc_session={page.cookie}"},
        open_timeout=5,
    )


def next_event(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} event within {timeout} s"
        event = json.loads(ws.recv(timeout=left))
        if event["type"] == kind:
            return dict(event)


def wait_state(ws: ClientConnection, state: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next `state` event naming `state` (the snapshot stream and the action feed
    are two streams: a state may come just before or after the action that caused it)."""
    deadline = time.monotonic() + timeout
    while True:
        event = next_event(ws, "state", timeout=max(0.01, deadline - time.monotonic()))
        if event["state"] == state:
            return event


def test_the_socket_refuses_another_origin_and_no_session(desktop_server: DeskStack) -> None:
    page = desktop_server.logged_in("a1006", 1006, 6)
    with pytest.raises(InvalidStatus) as refused:
        open_events(desktop_server, page, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    stranger = desktop_server.browser()
    stranger.cookie = "forged"
    with pytest.raises(InvalidStatus):
        open_events(desktop_server, stranger)
    page.post("/api/logout")


def test_offer_with_the_record_then_states_release_and_wrap_up(desktop_server: DeskStack) -> None:
    customer = bizdata.create_customer(
        bizdata.open_engine(desktop_server.store_url),
        {"name": "韩梅梅", "phone": "13700001111"},
        by="test",
    )
    page = desktop_server.logged_in("a1003", 1003, 3)
    with open_events(desktop_server, page) as ws:
        wait_state(ws, "idle")
        enqueue(desktop_server.acd, "call-ev-1", "13700001111", ivr_path="root>menu", account="")
        offer = next_event(ws, "offer")
        assert offer["call_id"] == "call-ev-1" and offer["caller"] == "13700001111"
        assert offer["queue"] == "billing" and offer["category"] == "billing"
        assert offer["customer"]["id"] == customer["id"]
        assert offer["screen_pop_url"] is None
        assert offer["offered_at"] <= offer["sent_at"] < offer["offered_at"] + 1.0
        answered = desktop_server.acd.answered(
            pb.AnsweredRequest(call_id="call-ev-1", employee_id=1003)
        )
        assert answered.error.code == 0
        wait_state(ws, "talking")
        # A blind transfer back to the queue: the agent's leg is released.
        moved = page.post("/api/transfer", {"call_id": "call-ev-1", "to_queue": "repair"})
        assert moved.status == 200, moved.body
        release = next_event(ws, "release")
        assert release["call_id"] == "call-ev-1"
        wrap = wait_state(ws, "wrap_up")
        assert abs(wrap["wrap_up_ends_at"] - (time.time() + WRAP_UP_MS / 1000)) < 5
    saved = page.post("/api/wrapup", {"call_id": "call-ev-1", "code": "resolved", "note": "ok"})
    assert saved.status == 200, saved.body
    stored = bizdata.get_wrap_up(bizdata.open_engine(desktop_server.store_url), "call-ev-1", 1003)
    assert stored is not None and stored["code"] == "resolved"
    if "agent.wrap_up" in eventlog.KIND_FIELDS:
        entries = desktop_server.redis.xrange("cc:events")
        assert any(b"agent.wrap_up" in b"".join(fields.values()) for _, fields in entries)
    # Another agent may not wrap up a call it never took (busy: the call, back in a
    # queue, is not offered to it).
    other = desktop_server.logged_in("a1004", 1004, 4, start_busy=True)
    refused = other.post("/api/wrapup", {"call_id": "call-ev-1", "code": "resolved"})
    assert (refused.status, refused.code) == (403, "forbidden")
    desktop_server.acd.hangup(pb.HangupRequest(call_id="call-ev-1"))
    other.post("/api/logout")
    page.post("/api/logout")


def test_the_socket_closes_when_the_session_ends(desktop_server: DeskStack) -> None:
    page = desktop_server.logged_in("a1007", 1007, 7)
    with open_events(desktop_server, page) as ws:
        next_event(ws, "state")
        page.post("/api/logout")
        wait_state(ws, "logged_out")


def test_the_ivr_account_wins_over_the_calling_number(desktop_server: DeskStack) -> None:
    bizdata.seed_demo(desktop_server.store_url)
    known = bizdata.WELL_KNOWN[0]
    page = desktop_server.logged_in("a1002", 1002, 2)
    with open_events(desktop_server, page) as ws:
        next_event(ws, "state")
        # Called from an unknown number; the caller keyed the account into the IVR.
        enqueue(
            desktop_server.acd,
            "call-ev-2",
            "13000000000",
            ivr_path="language>main>balance",
            account=known.account_number,
        )
        offer = next_event(ws, "offer")
    assert offer["ivr_path"] == ["language", "main", "balance"]
    assert offer["account"] == known.account_number
    assert offer["customer"]["name"] == known.customer_name
    assert offer["customer"]["matched_by"] == "account"
    desktop_server.acd.hangup(pb.HangupRequest(call_id="call-ev-2"))
    page.post("/api/logout")


def test_a_screen_pop_url_goes_instead_of_the_record(desktop_server: DeskStack) -> None:
    hub = desktop_server.app_desk.hub
    hub._screen_pop_url = "https://crm.example/pop?caller={caller}&account={account}&id={call_id}"
    page = desktop_server.logged_in("a1008", 1008, 8)
    try:
        with open_events(desktop_server, page) as ws:
            next_event(ws, "state")
            enqueue(desktop_server.acd, "call ev/3", "+8613912345678", account="12345674")
            offer = next_event(ws, "offer")
    finally:
        hub._screen_pop_url = None
    assert offer["customer"] is None
    assert offer["screen_pop_url"] == (
        "https://crm.example/pop?caller=%2B8613912345678&account=12345674&id=call%20ev%2F3"
    )
    # Rung but never answered: not this agent's call to wrap up.
    refused = page.post("/api/wrapup", {"call_id": "call ev/3", "code": "resolved"})
    assert (refused.status, refused.code) == (403, "forbidden")
    desktop_server.acd.hangup(pb.HangupRequest(call_id="call ev/3"))
    page.post("/api/logout")


def test_a_logout_while_talking_waits_for_the_call(desktop_server: DeskStack) -> None:
    page = desktop_server.logged_in("a1009", 1009, 9)
    with open_events(desktop_server, page) as ws:
        next_event(ws, "state")
        enqueue(desktop_server.acd, "call-ev-4", "13100000000")
        next_event(ws, "offer")
        desktop_server.acd.answered(pb.AnsweredRequest(call_id="call-ev-4", employee_id=1009))
        wait_state(ws, "talking")
        out = page.post("/api/logout")
        assert out.body == {"deferred": True}
        # The page keeps its session (and softphone) until the call ends.
        assert page.post("/api/heartbeat").status == 200
        desktop_server.acd.hangup(pb.HangupRequest(call_id="call-ev-4"))
        wait_state(ws, "logged_out")
    wait_until(lambda: page.post("/api/heartbeat").status == 401, timeout=5, what="desk out")
    assert page.get("/api/session").code == "no_session"
