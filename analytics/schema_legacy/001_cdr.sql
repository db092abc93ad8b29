-- Reduced schema for ClickHouse servers older than 21 (Debian 12's 18.16); see
-- analytics/_dialect.py. Same tables, keys and columns as schema/001_cdr.sql, with
-- DateTime (whole seconds) instead of DateTime64 and String instead of
-- LowCardinality(String). Durations stay Float64 from the builder.
CREATE TABLE IF NOT EXISTS {db}.cdr
(
    correlation_id String,
    trunk String,
    caller String,
    dialled String,
    category String,
    arrived_at DateTime('UTC'),
    queued_at Nullable(DateTime('UTC')),
    answered_at Nullable(DateTime('UTC')),
    ended_at DateTime('UTC'),
    queue String,
    agent String,
    seat String,
    ivr_path Array(String),
    wait_s Float64,
    talk_s Float64,
    hold_s Float64,
    wrapup_s Float64,
    disposition String,
    hangup_cause String,
    hangup_side String,
    recording_ref String,
    transfers UInt16,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(arrived_at)
ORDER BY (queue, arrived_at, correlation_id);
