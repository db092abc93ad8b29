"""A call's data for its agent (`enqueue(call_data=...)`: the IVR path, the account
entered): kept with the call, on every Offer of it, refused when too big, and stored
so that records and offers written before the field still load."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from acd import (
    MAX_CALL_DATA_KEYS,
    MAX_CALL_DATA_VALUE,
    Acd,
    ErrorCode,
    ManualClock,
    QueueConfig,
    call_data_problem,
)
from acd._actions import Offer
from acd._records import CallRecord
from acdsvc._convert import action_from_dict, action_to_proto
from tests.acd.acd_testkit import login, sound

DATA = {"ivr_path": "welcome>menu>account>to_agent", "account": "6222021234567890"}


def _offered(result: object) -> list[tuple[str, int, dict[str, str]]]:
    return [(o.call_id, o.agent, dict(o.call_data)) for o in result.offers()]  # type: ignore[attr-defined]


def test_every_offer_of_the_call_carries_its_data(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    """First offer, the re-offer after no answer, the offer after a transfer to an agent
    and the one after a transfer to a queue: all carry what the call was enqueued with."""
    acd = make_acd(
        QueueConfig("billing", skills={"billing": 1}, ring_timeout=15.0),
        QueueConfig("sales", skills={"billing": 1}),
    )
    login(acd, 1001)
    clock.advance(1)
    login(acd, 1002)
    clock.advance(1)
    login(acd, 1003)
    assert _offered(acd.enqueue("c1", "billing", call_data=DATA)) == [("c1", 1001, DATA)]
    assert _offered(acd.no_answer("c1", 1001)) == [("c1", 1002, DATA)]
    assert acd.answered("c1", 1002).ok
    assert _offered(acd.transfer("c1", to_agent=1003)) == [("c1", 1003, DATA)]
    assert acd.answered("c1", 1003).ok
    assert _offered(acd.transfer("c1", to_queue="sales")) == [("c1", 1001, DATA)]
    assert acd.call("c1")["call_data"] == DATA  # type: ignore[index]
    sound(acd)


def test_a_call_without_data_offers_none(make_acd: Callable[..., Acd]) -> None:
    acd = make_acd()
    login(acd, 1001)
    (offer,) = acd.enqueue("c1", "billing").offers()
    assert offer.call_data == {}
    assert "call_data" not in offer.to_dict(), "stored as an older core stored it"
    assert "call_data" not in acd.to_dict()["calls"][0]
    assert dict(action_to_proto(offer, "1-0").offer.call_data) == {}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({f"k{i}": "v" for i in range(MAX_CALL_DATA_KEYS + 1)}, "at most 16 keys"),
        ({"": "v"}, "key ''"),
        ({"1abc": "v"}, "starting with a letter"),
        ({"ivr path": "v"}, "key 'ivr path'"),
        ({"k" * 65: "v"}, "1..64 characters"),
        ({"account": "9" * (MAX_CALL_DATA_VALUE + 1)}, "at most 256"),
        ({"account": 42}, "is a string"),
    ],
)
def test_bad_call_data_is_refused_with_what_is_wrong(
    make_acd: Callable[..., Acd], data: dict[str, object], says: str
) -> None:
    acd = make_acd()
    result = acd.enqueue("c1", "billing", call_data=data)  # type: ignore[arg-type]
    assert result.error is not None and result.error.code is ErrorCode.INVALID_ARGUMENT
    assert says in result.error.message, result.error.message
    assert acd.call("c1") is None, "nothing was enqueued"


def test_the_limits_themselves_are_allowed() -> None:
    data = {f"k{i}": "v" * MAX_CALL_DATA_VALUE for i in range(MAX_CALL_DATA_KEYS - 1)}
    data["K" + "x" * 63] = ""
    assert call_data_problem(data) is None


def test_data_survives_the_json_round_trip_and_old_records_load(
    make_acd: Callable[..., Acd], clock: ManualClock
) -> None:
    acd = make_acd()
    acd.enqueue("c1", "billing", call_data=DATA)
    acd.enqueue("c2", "billing")
    state = json.loads(json.dumps(acd.to_dict()))
    restored = Acd.from_dict(state, acd.config, clock)
    assert [dict(o.call_data) for o in login(restored, 1001).offers()] == [DATA]
    assert restored.call("c1")["call_data"] == DATA  # type: ignore[index]
    assert "call_data" not in restored.call("c2")  # type: ignore[operator]

    # A call record and an offer as an ACD before call_data wrote them.
    old_call = {k: v for k, v in acd.to_dict()["calls"][1].items()}
    assert "call_data" not in old_call
    assert CallRecord.from_dict(old_call).call_data == {}
    old_offer = {
        "kind": "offer", "call_id": "c9", "agent": 1001, "seat": 1, "caller": "", "category": "",
        "queue": "billing", "ring_timeout": 15.0, "username": "user1001",
    }  # fmt: skip
    loaded = action_from_dict(old_offer)
    assert isinstance(loaded, Offer) and loaded.call_data == {}
    # And an offer with data makes the trip through the commit stream's JSON.
    offer = Offer("c1", 1001, 1, "", "", "billing", 15.0, "user1001", dict(DATA))
    again = action_from_dict(json.loads(json.dumps(offer.to_dict())))
    assert again == offer
    assert dict(action_to_proto(again, "1-0").offer.call_data) == DATA
