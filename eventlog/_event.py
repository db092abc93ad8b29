"""The event envelope and its flat string encoding for Redis stream entries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from ._kinds import ENUM_FIELDS, KIND_FIELDS, SCHEMA_VERSION

ENVELOPE_FIELDS: Final = ("event_id", "schema", "kind", "ts", "correlation_id", "node")


class EventError(ValueError):
    """An event that breaks the schema: unknown kind, wrong version, bad fields."""


def _check(kind: str, schema: int, data: Mapping[str, str], *, where: str = "") -> None:
    if schema != SCHEMA_VERSION:
        raise EventError(
            f"{where}schema version {schema} is not supported (this build reads {SCHEMA_VERSION})"
        )
    expected = KIND_FIELDS.get(kind)
    if expected is None:
        raise EventError(f"{where}unknown event kind {kind!r}")
    got = set(data)
    if got != set(expected):
        missing = sorted(set(expected) - got)
        extra = sorted(got - set(expected))
        raise EventError(f"{where}{kind}: missing fields {missing}, unexpected fields {extra}")
    for name, value in data.items():
        if not isinstance(value, str):
            raise EventError(f"{where}{kind}.{name} must be a string, got {type(value).__name__}")
        allowed = ENUM_FIELDS.get((kind, name))
        if allowed is not None and value not in allowed:
            raise EventError(f"{where}{kind}.{name}={value!r} is not one of {sorted(allowed)}")


@dataclass(frozen=True, slots=True)
class Event:
    """One fact about a call or an agent, as written to the event log.

    `event_id` is the idempotency key downstream: a consumer that sees the same id
    twice (re-delivery after a crash, a replay) must produce the same result.
    `correlation_id` is the call's identity from the SIP edge; it is empty for agent
    events that belong to no call.
    """

    kind: str
    ts: float
    correlation_id: str
    node: str
    data: Mapping[str, str] = field(hash=False)
    event_id: str = ""
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _check(self.kind, self.schema, self.data)
        # Callers may pass a dict they keep mutating; freeze a private copy.
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))
        if not self.event_id:
            object.__setattr__(self, "event_id", uuid.uuid4().hex)

    @classmethod
    def new(
        cls,
        kind: str,
        *,
        correlation_id: str = "",
        node: str = "",
        ts: float | None = None,
        event_id: str = "",
        **data: str,
    ) -> Event:
        """Build an event now (or at `ts`), with the kind's fields as keywords."""
        return cls(
            kind=kind,
            ts=time.time() if ts is None else ts,
            correlation_id=correlation_id,
            node=node,
            data=data,
            event_id=event_id,
        )

    def __getitem__(self, name: str) -> str:
        return self.data[name]


def encode(event: Event) -> dict[str, str]:
    """The flat field map stored in a stream entry. Every value is a string."""
    out = {
        "event_id": event.event_id,
        "schema": str(event.schema),
        "kind": event.kind,
        # repr() gives the shortest string that round-trips the float exactly.
        "ts": repr(event.ts),
        "correlation_id": event.correlation_id,
        "node": event.node,
    }
    out.update(event.data)
    return out


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode(fields: Mapping[str, str] | Mapping[bytes, bytes], *, entry_id: str = "") -> Event:
    """Parse a stream entry back into an Event; raise EventError, never guess."""
    where = f"stream entry {entry_id}: " if entry_id else ""
    flat = {_text(k): _text(v) for k, v in fields.items()}
    missing = [name for name in ENVELOPE_FIELDS if name not in flat]
    if missing:
        raise EventError(f"{where}missing envelope fields {missing}")
    try:
        schema = int(flat.pop("schema"))
        ts = float(flat.pop("ts"))
    except ValueError as exc:
        raise EventError(f"{where}bad schema or ts: {exc}") from exc
    event_id = flat.pop("event_id")
    kind = flat.pop("kind")
    correlation_id = flat.pop("correlation_id")
    node = flat.pop("node")
    if not event_id:
        raise EventError(f"{where}empty event_id")
    # Check here as well as in __post_init__ so the message names the entry.
    _check(kind, schema, flat, where=where)
    return Event(
        kind=kind,
        ts=ts,
        correlation_id=correlation_id,
        node=node,
        data=flat,
        event_id=event_id,
        schema=schema,
    )
