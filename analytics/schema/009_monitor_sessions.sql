-- Supervisor monitoring sessions (docs/monitoring.md): one row per session, folded from
-- monitor.started / monitor.switched / monitor.stopped (analytics/_monitor_fold.py).
-- Like the other tables: ReplacingMergeTree(version), so a re-emitted session (a late
-- event) replaces its row; daily partitions on a sort-key column, merged once quiet
-- (see 005), so reports read FINAL cheaply. Sorted by supervisor first (few values),
-- then time: the per-supervisor report reads a range of it. Modes and reasons are
-- closed sets: LowCardinality.
CREATE TABLE IF NOT EXISTS {db}.monitor_sessions
(
    session String,
    correlation_id String,
    supervisor LowCardinality(String),
    agent LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    ended_at DateTime64(3, 'UTC'),
    duration_ms UInt64,
    modes Array(LowCardinality(String)),
    listen_ms UInt64,
    whisper_ms UInt64,
    barge_ms UInt64,
    switches UInt16,
    reason LowCardinality(String),
    started_by LowCardinality(String),
    requested_by LowCardinality(String),
    mixer LowCardinality(String),
    recording_ref String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toDate(started_at)
ORDER BY (supervisor, started_at, session)
SETTINGS min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1;
