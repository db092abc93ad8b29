"""One agent's call history (`Statistics.agent_calls`, `GET /v1/calls`) on chDB: the calls
it answered (also by transfer) or placed, newest first, with its own answer time and
talk, the call's wrap-up code and IVR result; bad queries get a 400 that says why."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pytest

import eventlog as ev
from analytics import ChdbStore, Statistics, build_records
from analytics._http_api import calls_query, serve_api
from eventlog import wrap_up_event
from tests.analytics.analytics_scenarios import T0, Script


def history_events() -> list[ev.Event]:
    answered = (
        Script("c1", T0)(0, ev.CALL_ARRIVED)(1, ev.CALL_IVR_STEP, ivr_node="main")(
            2, ev.CALL_IVR_DONE, ivr_node="main", result="queued"
        )(3, ev.CALL_QUEUED)(4, ev.CALL_RINGING)(6, ev.CALL_ANSWERED)(
            66, ev.CALL_ENDED, cause="200", side="caller"
        )
    ).events
    # a2 answers, then blind-transfers to a1, who talks 30 s.
    transferred = (
        Script("c2", T0 + 100)(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(
            2, ev.CALL_RINGING, agent="a2", leg_id="L1"
        )(3, ev.CALL_ANSWERED, agent="a2", leg_id="L1")(
            13, ev.CALL_TRANSFERRED, from_agent="a2", to_kind="agent", to="a1", mode="blind"
        )(14, ev.CALL_RINGING, agent="a1", leg_id="L2", attempt="2")(
            16, ev.CALL_ANSWERED, agent="a1", leg_id="L2"
        )(46, ev.CALL_ENDED, cause="200", side="agent")
    ).events
    # Rang a1 without an answer, then a2 took it: not a1's call.
    rang_only = (
        Script("c3", T0 + 200)(0, ev.CALL_ARRIVED)(1, ev.CALL_QUEUED)(2, ev.CALL_RINGING)(
            17, ev.CALL_NO_ANSWER
        )(18, ev.CALL_RINGING, agent="a2", leg_id="L2", attempt="2")(
            20, ev.CALL_ANSWERED, agent="a2", leg_id="L2"
        )(50, ev.CALL_ENDED)
    ).events
    # a1 calls a customer who does not answer.
    placed = (
        Script("c4", T0 + 300)(0, ev.CALL_ORIGINATED, agent="a1", number="139", caller_id="")(
            1, ev.CALL_RINGING
        )(20, ev.CALL_ENDED, cause="480", side="caller")
    ).events
    wrap_ups = [
        wrap_up_event("c1", agent="a1", code="complaint", node="d", ts=T0 + 70),
        wrap_up_event("c1", agent="a1", code="resolved", node="d", ts=T0 + 75),
        wrap_up_event("c2", agent="a1", code="follow_up", node="d", ts=T0 + 150),
    ]
    return [*answered, *transferred, *rang_only, *placed, *wrap_ups]


class Backend:
    def __init__(self, store: ChdbStore) -> None:
        self.stats = Statistics(store)

    def health(self) -> dict[str, Any]:
        return {"ok": True}

    def report(self, method: str, params: dict[str, Any]) -> pd.DataFrame:
        return self.stats.run(method, **params)


@pytest.fixture
def url(store: ChdbStore) -> Iterator[str]:
    store.insert_records(build_records(history_events()))
    server = serve_api("127.0.0.1:0", Backend(store))
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/v1/calls"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_agents_calls_newest_first_with_its_own_part(url: str) -> None:
    status, body = get(f"{url}?agent=a1&since={T0 - 1}")
    assert status == 200, body
    assert body["agent"] == "a1" and body["since"] == T0 - 1
    calls = body["calls"]
    assert [c["call_id"] for c in calls] == ["c4", "c2", "c1"], "c3 only rang a1"
    placed, transferred, answered = calls
    assert answered == {
        "call_id": "c1",
        "start": T0,
        "answered_at": T0 + 6,
        "end": T0 + 66,
        "caller": "13800138000",
        "dialled": "95598",
        "queue": "billing",
        "category": "billing",
        "disposition": "answered",
        "talk_s": 60.0,
        "wrap_up_code": "resolved",  # the last saved
        "ivr_result": "queued",
        "recording_ref": "",
    }
    # Its own answer and talk, not a2's.
    assert (transferred["answered_at"], transferred["talk_s"]) == (T0 + 116, 30.0)
    assert transferred["wrap_up_code"] == "follow_up" and transferred["ivr_result"] == ""
    assert (placed["answered_at"], placed["talk_s"], placed["disposition"]) == (
        None,
        0.0,
        "failed",
    )


def test_limit_and_since_narrow_it(url: str) -> None:
    _, body = get(f"{url}?agent=a1&limit=1&since={T0 - 1}")
    assert [c["call_id"] for c in body["calls"]] == ["c4"]
    _, body = get(f"{url}?agent=a1&since={T0 + 50}")
    assert [c["call_id"] for c in body["calls"]] == ["c4", "c2"]
    _, body = get(f"{url}?agent=nobody&since=0")
    assert body["calls"] == []
    _, body = get(f"{url}?agent=a1")  # the last 30 days: the 2023 fixture is older
    assert body["calls"] == []


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("", "agent is required"),
        ("agent=a1&limit=0", "limit must be an integer 1..500"),
        ("agent=a1&limit=lots", "limit must be an integer"),
        ("agent=a1&since=yesterday", "since must be epoch seconds"),
        ("agent=a1&agent=a2", "agent given 2 times"),
        ("agent=a1&queue=billing", "unknown parameter(s) ['queue']"),
    ],
)
def test_a_bad_query_is_a_400_that_says_why(url: str, query: str, says: str) -> None:
    status, body = get(f"{url}?{query}")
    assert status == 400 and says in body["error"], body


def test_the_query_defaults() -> None:
    assert calls_query("agent=a1", now=1_000_000.0) == {
        "agent": "a1",
        "limit": 50,
        "since": 1_000_000.0 - 30 * 86_400,
    }
