-- One row per ring attempt (answered, no answer, abandoned, cancelled) and per
-- transfer. Per-agent talk and answered counts come from here, so a transferred
-- call credits each agent with their own part.
CREATE TABLE IF NOT EXISTS {db}.cdr_leg
(
    correlation_id String,
    seq UInt16,
    leg_kind LowCardinality(String),
    leg_id String,
    agent LowCardinality(String),
    seat LowCardinality(String),
    attempt UInt16,
    started_at DateTime64(3, 'UTC'),
    answered_at Nullable(DateTime64(3, 'UTC')),
    ended_at DateTime64(3, 'UTC'),
    outcome LowCardinality(String),
    talk_s Float64,
    hold_s Float64,
    to_kind LowCardinality(String),
    to_target String,
    mode LowCardinality(String),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (agent, started_at, correlation_id, seq);
