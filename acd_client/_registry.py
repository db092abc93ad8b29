"""A call controller replica's registry record: its live calls, in Redis with a TTL.

Each replica rewrites its record every heartbeat (controller/_registry.py); the ACD's
leader reads them to end the calls of a replica that is gone (acdsvc's reconciler,
docs/acd-service.md "Reconcile"). The record's format and key are shared here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["RECORD_VERSION", "ControllerRecord", "make_source", "registry_key", "split_source"]

RECORD_VERSION = 1


def registry_key(prefix: str, source: str) -> str:
    """The Redis key of the registry record of `source` ("<node>#<instance>", what the
    process's Enqueues carry); `prefix` is `acd.redis_prefix`."""
    return f"{prefix}controllers:{source}"


def make_source(node: str, instance: str) -> str:
    return f"{node}#{instance}"


def split_source(source: str) -> tuple[str, str]:
    """`node#instance` -> (node, instance); ("source", "") without a `#`."""
    node, sep, instance = source.rpartition("#")
    return (node, instance) if sep else (source, "")


@dataclass(frozen=True, slots=True)
class ControllerRecord:
    """One controller replica's registry record (JSON in Redis, with a TTL)."""

    node: str
    instance: str  # random per process start: a restarted replica writes a new record
    calls: frozenset[str]
    started: float = 0.0  # wall clock of the process start (for people reading Redis)
    ts: float = 0.0  # wall clock of this write
    stopped: bool = False  # written at a clean shutdown: its calls were ended and logged

    def encode(self) -> str:
        return json.dumps(
            {
                "v": RECORD_VERSION,
                "node": self.node,
                "instance": self.instance,
                "started": self.started,
                "ts": self.ts,
                "stopped": self.stopped,
                "calls": sorted(self.calls),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> ControllerRecord:
        """Raises ValueError for anything but a record this version can read."""
        try:
            data: Any = json.loads(raw)
            if not isinstance(data, dict) or data.get("v") != RECORD_VERSION:
                raise ValueError(
                    f"unknown record version {data.get('v')!r}"
                    if isinstance(data, dict)
                    else "not a JSON object"
                )
            calls = data["calls"]
            if not isinstance(calls, list) or not all(isinstance(c, str) for c in calls):
                raise ValueError("calls must be a list of call IDs")
            return cls(
                node=str(data["node"]),
                instance=str(data["instance"]),
                calls=frozenset(calls),
                started=float(data.get("started", 0.0)),
                ts=float(data.get("ts", 0.0)),
                stopped=bool(data.get("stopped", False)),
            )
        except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"bad controller record: {exc}") from None
