"""Event envelope: construction, encode/decode, and the errors for bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import eventlog
from eventlog import ENUM_FIELDS, KIND_FIELDS, Event, EventError, decode, encode

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def sample(kind: str) -> Event:
    values = {
        "to_kind": "queue",
        "mode": "blind",
        "side": "caller",
        "result": "self_served",
    }
    # A field from a closed set gets one of its values (the same name, `reason`, has a
    # set of its own in each recording kind).
    enum = {name: min(allowed) for (k, name), allowed in ENUM_FIELDS.items() if k == kind}
    data = {name: enum.get(name, values.get(name, f"{name}-值")) for name in KIND_FIELDS[kind]}
    return Event(kind=kind, ts=1_700_000_000.123456, correlation_id="c-1", node="edge-1", data=data)


@pytest.mark.parametrize("kind", sorted(KIND_FIELDS))
def test_every_kind_round_trips_through_the_flat_encoding(kind: str) -> None:
    event = sample(kind)
    flat = encode(event)
    assert all(isinstance(v, str) for v in flat.values())
    assert decode(flat) == event
    # Redis hands back bytes unless decode_responses is set; both must work.
    assert decode({k.encode(): v.encode() for k, v in flat.items()}) == event


def test_event_defaults_and_immutability() -> None:
    event = Event.new(
        eventlog.CALL_QUEUED, correlation_id="c", node="n", queue="billing", priority="1"
    )
    assert re.fullmatch(r"[0-9a-f]{32}", event.event_id)
    assert event.schema == eventlog.SCHEMA_VERSION
    assert event["queue"] == "billing"
    with pytest.raises(AttributeError):
        event.kind = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.data["queue"] = "other"  # type: ignore[index]


def test_ts_round_trips_exactly() -> None:
    event = Event.new(eventlog.CALL_HOLD, correlation_id="c", ts=1_712_345_678.000_001_2)
    assert decode(encode(event)).ts == event.ts


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.update(kind="call.teleported"), "unknown event kind 'call.teleported'"),
        (lambda f: f.update(schema="2"), "schema version 2 is not supported"),
        (lambda f: f.pop("queue"), "missing fields ['queue']"),
        (lambda f: f.update(colour="blue"), "unexpected fields ['colour']"),
        (lambda f: f.pop("event_id"), "missing envelope fields ['event_id']"),
        (lambda f: f.update(ts="yesterday"), "bad schema or ts"),
    ],
)
def test_bad_entries_fail_loudly(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    flat = encode(Event.new(eventlog.CALL_QUEUED, correlation_id="c", queue="q", priority="0"))
    mutate(flat)
    with pytest.raises(EventError, match=re.escape(message)):
        decode(flat, entry_id="1-0")


def test_closed_value_sets_are_checked() -> None:
    with pytest.raises(EventError, match="side='nobody'"):
        Event.new(eventlog.CALL_ENDED, correlation_id="c", cause="200", side="nobody")
    with pytest.raises(EventError, match="mode='warm'"):
        Event.new(eventlog.CALL_TRANSFERRED, from_agent="a", to_kind="agent", to="b", mode="warm")


def test_every_kind_and_field_is_documented() -> None:
    text = DOCS.read_text()
    for kind, fields in KIND_FIELDS.items():
        assert f"`{kind}`" in text, kind
        for name in fields:
            assert f"`{name}`" in text, (kind, name)
