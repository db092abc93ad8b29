-- Reduced variant of schema/003_agent_state_interval.sql for servers older than 21.
-- Known limit of whole-second times: two intervals of one agent in the same state
-- starting within the same second share a key and collapse.
CREATE TABLE IF NOT EXISTS {db}.agent_state_interval
(
    agent String,
    seat String,
    state String,
    start DateTime('UTC'),
    end DateTime('UTC'),
    reason String,
    correlation_id String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(start)
ORDER BY (agent, start, state);
