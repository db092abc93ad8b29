-- Closed agent state intervals (login time, occupancy, wrap-up). An interval is
-- identified by agent and start; replays insert the same rows, which collapse.
CREATE TABLE IF NOT EXISTS {db}.agent_state_interval
(
    agent LowCardinality(String),
    seat LowCardinality(String),
    state LowCardinality(String),
    start DateTime64(3, 'UTC'),
    end DateTime64(3, 'UTC'),
    reason LowCardinality(String),
    correlation_id String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(start)
ORDER BY (agent, start, state);
