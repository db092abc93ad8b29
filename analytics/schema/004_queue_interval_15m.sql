-- 15-minute queue rollup for the wallboard, fed by a materialized view on every
-- insert into cdr. The view sees raw inserts, not the deduplicated table, so its
-- measures must survive a re-inserted batch and a re-emitted call: distinct-count
-- states (uniqExact of correlation_id) and max() do; sums and averages would not,
-- so ASA, AHT and service level for any threshold are computed from cdr FINAL.
-- Distinct counts run on a 64-bit hash of the call id: half the state of a String
-- key, and a collision needs ~4 billion calls in one queue and interval.
CREATE TABLE IF NOT EXISTS {db}.queue_interval_15m
(
    queue LowCardinality(String),
    interval_start DateTime('UTC'),
    offered AggregateFunction(uniqExact, UInt64),
    answered AggregateFunction(uniqExact, UInt64),
    abandoned AggregateFunction(uniqExact, UInt64),
    overflowed AggregateFunction(uniqExact, UInt64),
    max_wait_s SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(interval_start)
ORDER BY (queue, interval_start);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.queue_interval_15m_mv
TO {db}.queue_interval_15m
AS SELECT
    queue,
    toDateTime(toStartOfFifteenMinutes(assumeNotNull(queued_at)), 'UTC') AS interval_start,
    uniqExactState(cityHash64(correlation_id)) AS offered,
    uniqExactStateIf(cityHash64(correlation_id), disposition = 'answered') AS answered,
    uniqExactStateIf(cityHash64(correlation_id), disposition IN ('abandoned_queue', 'abandoned_ringing'))
        AS abandoned,
    uniqExactStateIf(cityHash64(correlation_id), disposition = 'overflow') AS overflowed,
    max(wait_s) AS max_wait_s
FROM {db}.cdr
WHERE queued_at IS NOT NULL
GROUP BY queue, interval_start;
