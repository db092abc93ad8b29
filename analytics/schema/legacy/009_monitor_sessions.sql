-- legacy override of: 4be4334435bb728a
-- Replaces schema/009_monitor_sessions.sql on servers older than 23.1 (Debian 12's
-- 18.16): the same table and columns in the reduced schema's types (String for
-- LowCardinality, DateTime for DateTime64), with monthly partitions and without the
-- force-merge settings 18.16 lacks, as its other tables have (legacy/005).
CREATE TABLE IF NOT EXISTS {db}.monitor_sessions
(
    session String,
    correlation_id String,
    supervisor String,
    agent String,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    duration_ms UInt64,
    modes Array(String),
    listen_ms UInt64,
    whisper_ms UInt64,
    barge_ms UInt64,
    switches UInt16,
    reason String,
    started_by String,
    requested_by String,
    mixer String,
    recording_ref String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (supervisor, started_at, session);
