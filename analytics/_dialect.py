"""SQL dialects: the current ClickHouse engine (chDB, server >= 21) and old servers.

Debian 12 ships clickhouse-server 18.16 (2018). It lacks DateTime64,
LowCardinality, SimpleAggregateFunction, TTL, codecs, window functions, CTEs,
`toStartOfInterval` and `quantileExactInclusive`. A server older than 23.1 gets the
reduced schema and the report SQL below; everything else gets the full one. Both
come from the one set of migrations in `schema/`: `legacy_ddl` rewrites each for
old servers, and `schema/legacy/` holds a whole-file override only where a rewrite
cannot say it (see _migrations.py). The reduced schema stores times as `DateTime`
(whole seconds); the durations (`wait_s`, `talk_s`, ...) are Float64 columns
computed by the builder, so they keep their milliseconds either way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

# The first server version the full schema loads on. DateTime64, LowCardinality and
# toStartOfInterval(..., tz) are there by 21.1; migration 005 also needs CREATE OR
# REPLACE TABLE and the min_age_to_force_merge_* table settings (22.x), so 23.1 is
# the floor. Older servers get the reduced schema, which works on 18.16 and up.
MODERN_MIN_VERSION: Final = (23, 1)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How report SQL spells the few things that differ between engine generations."""

    name: str
    legacy: bool

    def migration_sql(self, sql: str) -> str:
        """A migration of `schema/` as this dialect's server takes it."""
        return legacy_ddl(sql) if self.legacy else sql

    def ts(self, seconds: float) -> str:
        """A UTC timestamp literal of the column type the schema uses."""
        if self.legacy:
            return f"toDateTime({math.floor(seconds)}, 'UTC')"
        return f"toDateTime64({float(seconds)!r}, 3, 'UTC')"

    def bucket(self, column: str, minutes: int) -> str:
        """The start of the `minutes`-long UTC interval holding `column`."""
        if self.legacy:
            step = int(minutes) * 60
            return f"toDateTime(intDiv(toUInt32({column}), {step}) * {step}, 'UTC')"
        return f"toStartOfInterval({column}, INTERVAL {int(minutes)} MINUTE, 'UTC')"

    def quantile_if(self, level: float, column: str, condition: str) -> str:
        """Quantile with linear interpolation between closest ranks (numpy's default).

        Old servers have no quantileExactInclusive; the same value is computed from
        the sorted array of matching values: w[1 + level * (n - 1)], interpolated.
        """
        q = float(level)
        if not self.legacy:
            return f"quantileExactInclusiveIf({q!r})({column}, {condition})"
        w = f"arraySort(groupArrayIf(toFloat64({column}), {condition}))"
        pos = f"(1 + {q!r} * (length({w}) - 1))"
        lo = f"{w}[toUInt64(floor({pos}))]"
        hi = f"{w}[toUInt64(ceil({pos}))]"
        return f"({lo} + ({pos} - floor({pos})) * ({hi} - {lo}))"

    def seconds_between(self, start: str, end: str) -> str:
        """end - start in seconds as Float64 (milliseconds kept where the type has them)."""
        if self.legacy:
            return f"toFloat64(toInt64(toUInt32({end})) - toInt64(toUInt32({start})))"
        return f"toFloat64(dateDiff('millisecond', {start}, {end})) / 1000"

    @property
    def final_settings(self) -> str:
        """The SETTINGS clause for a report that reads with FINAL.

        do_not_merge_across_partitions_select_final lets FINAL skip a partition that
        is a single merged part and merge each other partition on its own. It is
        valid because every partition key (toDate of a time column) is a function of
        a sort-key column, so all versions of a row land in the same partition. The
        reduced schema keeps monthly partitions and gains nothing from it.
        """
        if self.legacy:
            return ""
        return "\nSETTINGS do_not_merge_across_partitions_select_final = 1"


MODERN: Final = Dialect("modern", legacy=False)
LEGACY: Final = Dialect("legacy", legacy=True)

# A type argument: a bare name or one level of parentheses, e.g. Nullable(String).
_TYPE_ARG = r"(?:[^()]|\([^()]*\))+"
_LOW_CARDINALITY = re.compile(rf"LowCardinality\(({_TYPE_ARG})\)")
_DATETIME64 = re.compile(r"DateTime64\(\s*\d+\s*(?:,\s*('[^']*')\s*)?\)")
_SIMPLE_AGGREGATE = re.compile(
    rf"\b(\w+)\s+SimpleAggregateFunction\(\s*(\w+)\s*,\s*({_TYPE_ARG})\)"
)
_ADD_COLUMN_IF_NOT_EXISTS = re.compile(r"\bADD COLUMN IF NOT EXISTS\b")


def legacy_ddl(sql: str) -> str:
    """Rewrite full-schema DDL into the reduced schema's types.

    - `LowCardinality(T)` -> `T` (a storage optimisation; same values);
    - `DateTime64(p, tz)` -> `DateTime(tz)` (whole seconds);
    - a `SimpleAggregateFunction(f, T)` column `c` -> `AggregateFunction(f, T)`, and
      the `f(expr) AS c` that fills it (a materialized view) -> `fState(expr) AS c`;
      readers merge it with `fMerge`;
    - `ADD COLUMN IF NOT EXISTS` -> `ADD COLUMN` (18.16 has no IF NOT EXISTS there; the
      server store counts "column already exists" from it as done, so a re-run is safe
      when each ALTER adds one column).
    Anything else passes unchanged: a construct this cannot express (CREATE OR
    REPLACE, table SETTINGS, TTL, codecs) needs an override in `schema/legacy/`,
    and tests/analytics/test_migration_sources.py fails until it has one.
    """
    states: list[tuple[str, str]] = []

    def simple_to_state(match: re.Match[str]) -> str:
        column, function, type_ = match[1], match[2], match[3]
        states.append((column, function))
        return f"{column} AggregateFunction({function}, {type_})"

    sql = _SIMPLE_AGGREGATE.sub(simple_to_state, sql)
    for column, function in states:
        fill = re.compile(rf"\b{function}\(({_TYPE_ARG})\)(\s+AS\s+{column}\b)")
        sql = fill.sub(rf"{function}State(\1)\2", sql)
    sql = _LOW_CARDINALITY.sub(r"\1", sql)
    sql = _ADD_COLUMN_IF_NOT_EXISTS.sub("ADD COLUMN", sql)
    return _DATETIME64.sub(lambda m: f"DateTime({m[1]})" if m[1] else "DateTime", sql)


def parse_version(text: str) -> tuple[int, int]:
    """'18.16.1' or 'ClickHouse server version 23.8.2.7' -> (major, minor); (0, 0) if none."""
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def dialect_for_version(version: tuple[int, int]) -> Dialect:
    return MODERN if version >= MODERN_MIN_VERSION else LEGACY
