-- One row per call. ReplacingMergeTree(version): the builder re-emits a call with a
-- higher version when wrap-up or a late event arrives, and a re-inserted batch has
-- the same version, so reads with FINAL (or argMax by version) never double.
-- Sort key, low to high cardinality: queue, then time, then the call id that makes
-- the key unique per call. The builder keeps queue and arrived_at fixed after the
-- first emission, so every version of a call has the same key.
CREATE TABLE IF NOT EXISTS {db}.cdr
(
    correlation_id String,
    trunk LowCardinality(String),
    caller String,
    dialled LowCardinality(String),
    category LowCardinality(String),
    arrived_at DateTime64(3, 'UTC'),
    queued_at Nullable(DateTime64(3, 'UTC')),
    answered_at Nullable(DateTime64(3, 'UTC')),
    ended_at DateTime64(3, 'UTC'),
    queue LowCardinality(String),
    agent LowCardinality(String),
    seat LowCardinality(String),
    ivr_path Array(LowCardinality(String)),
    wait_s Float64,
    talk_s Float64,
    hold_s Float64,
    wrapup_s Float64,
    disposition LowCardinality(String),
    hangup_cause LowCardinality(String),
    hangup_side LowCardinality(String),
    recording_ref String,
    transfers UInt16,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(arrived_at)
ORDER BY (queue, arrived_at, correlation_id);
