"""Turning records into column batches: Arrow for chDB, Python columns for the driver.

One place knows each table's columns and their types, so both backends insert
exactly what the migrations create.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ._records import (
    CDR_COLUMNS,
    INTERVAL_COLUMNS,
    LEG_COLUMNS,
    MONITOR_SESSION_COLUMNS,
    AgentInterval,
    Cdr,
    Leg,
    MonitorSession,
)

# Column kinds: "s" string, "t" timestamp, "tn" nullable timestamp, "f" float,
# "u8"/"u16"/"u64" unsigned ints, "as" array of strings.
_KINDS: Final[dict[str, dict[str, str]]] = {
    "cdr": {
        "arrived_at": "t",
        "queued_at": "tn",
        "answered_at": "tn",
        "ended_at": "t",
        "ivr_path": "as",
        "wait_s": "f",
        "talk_s": "f",
        "hold_s": "f",
        "wrapup_s": "f",
        "transfers": "u16",
        "version": "u64",
        "recording_pauses": "u16",
        "message_played": "u8",
    },
    "cdr_leg": {
        "seq": "u16",
        "attempt": "u16",
        "started_at": "t",
        "answered_at": "tn",
        "ended_at": "t",
        "talk_s": "f",
        "hold_s": "f",
        "version": "u64",
    },
    "agent_state_interval": {"start": "t", "end": "t", "version": "u64"},
    "monitor_sessions": {
        "started_at": "t",
        "ended_at": "t",
        "duration_ms": "u64",
        "modes": "as",
        "listen_ms": "u64",
        "whisper_ms": "u64",
        "barge_ms": "u64",
        "switches": "u16",
        "version": "u64",
    },
}

TABLE_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "cdr": CDR_COLUMNS,
    "cdr_leg": LEG_COLUMNS,
    "agent_state_interval": INTERVAL_COLUMNS,
    "monitor_sessions": MONITOR_SESSION_COLUMNS,
}

_ARROW: Final = {
    "s": pa.string(),
    "t": pa.timestamp("ms", tz="UTC"),
    "tn": pa.timestamp("ms", tz="UTC"),
    "f": pa.float64(),
    "u8": pa.uint8(),
    "u16": pa.uint16(),
    "u64": pa.uint64(),
    "as": pa.list_(pa.string()),
}


def column_kind(table: str, column: str) -> str:
    return _KINDS[table].get(column, "s")


def rows_to_columns(
    table: str,
    rows: Sequence[Cdr] | Sequence[Leg] | Sequence[AgentInterval] | Sequence[MonitorSession],
) -> dict[str, list[Any]]:
    """Transpose dataclass rows into {column: values} in table column order."""
    return {name: [getattr(row, name) for row in rows] for name in TABLE_COLUMNS[table]}


def _ms(values: Sequence[float | None]) -> Any:
    """Epoch seconds (None for NULL) as an Arrow int64 array of milliseconds,
    rounded half to even exactly like Python's round(v * 1000.0)."""
    seconds = pa.array(values, pa.float64())
    millis = pc.round(pc.multiply(seconds, 1000.0), 0, round_mode="half_to_even")
    return millis.cast(pa.int64())


def to_arrow(table: str, columns: dict[str, Any]) -> Any:
    """An Arrow table for `table`. Values may be lists or numpy arrays; times are
    epoch seconds (float) or already datetime64/timestamp arrays."""
    arrays = []
    names = []
    for name in TABLE_COLUMNS[table]:
        values = columns[name]
        kind = column_kind(table, name)
        typ = _ARROW[kind]
        if kind in ("t", "tn") and not isinstance(values, pa.Array):
            if hasattr(values, "dtype") and values.dtype.kind == "f":
                # Bulk path (numpy seconds): NaN marks NULL in nullable columns.
                missing = values != values  # noqa: PLR0124  (NaN test without numpy import)
                millis = (values * 1000.0).round()
                millis[missing] = 0
                mask = missing if kind == "tn" and missing.any() else None
                arrays.append(pa.array(millis.astype("int64"), pa.int64(), mask=mask).cast(typ))
            elif hasattr(values, "dtype"):
                arrays.append(pa.array(values).cast(typ))
            else:
                arrays.append(_ms(values).cast(typ))
        elif isinstance(values, pa.Array):
            # Dictionary-encoded strings go through as they are: chDB maps them onto
            # LowCardinality(String) without materialising every value.
            keep = values.type == typ or (kind == "s" and pa.types.is_dictionary(values.type))
            arrays.append(values if keep else values.cast(typ))
        else:
            arrays.append(pa.array(values, typ))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def arrow_stream_bytes(table: Any) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def to_driver_columns(table: str, columns: dict[str, list[Any]]) -> list[list[Any]]:
    """Columns for clickhouse-driver (columnar=True): datetimes instead of floats."""
    out: list[list[Any]] = []
    for name in TABLE_COLUMNS[table]:
        values = columns[name]
        kind = column_kind(table, name)
        if kind in ("t", "tn"):
            values = [None if v is None else datetime.fromtimestamp(float(v), UTC) for v in values]
        elif kind == "as":
            values = [list(v) for v in values]
        out.append(list(values))
    return out
