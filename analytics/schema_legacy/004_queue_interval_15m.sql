-- Reduced variant of schema/004_queue_interval_15m.sql for servers older than 21:
-- max_wait_s is AggregateFunction(max, Float64) (no SimpleAggregateFunction), read
-- with maxMerge. Same duplicate-proof measures as the full schema.
CREATE TABLE IF NOT EXISTS {db}.queue_interval_15m
(
    queue String,
    interval_start DateTime('UTC'),
    offered AggregateFunction(uniqExact, UInt64),
    answered AggregateFunction(uniqExact, UInt64),
    abandoned AggregateFunction(uniqExact, UInt64),
    overflowed AggregateFunction(uniqExact, UInt64),
    max_wait_s AggregateFunction(max, Float64)
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
    maxState(wait_s) AS max_wait_s
FROM {db}.cdr
WHERE queued_at IS NOT NULL
GROUP BY queue, interval_start;
