-- Reduced variant of schema/002_cdr_leg.sql for servers older than 21.
CREATE TABLE IF NOT EXISTS {db}.cdr_leg
(
    correlation_id String,
    seq UInt16,
    leg_kind String,
    leg_id String,
    agent String,
    seat String,
    attempt UInt16,
    started_at DateTime('UTC'),
    answered_at Nullable(DateTime('UTC')),
    ended_at DateTime('UTC'),
    outcome String,
    talk_s Float64,
    hold_s Float64,
    to_kind String,
    to_target String,
    mode String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (agent, started_at, correlation_id, seq);
