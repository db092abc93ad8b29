-- How the IVR let go of a call (call.ivr_done): `ivr_result` ("" for a call that
-- never entered an IVR) and `ivr_exit_node`, the node it was in then. Adding a column
-- rewrites no part: rows stored before read the DEFAULT, which is the fold's rule for a
-- call with IVR steps and no call.ivr_done (analytics/_fold.py, `_ivr_outcome`): queued
-- if it queued, voicemail, caller_left if the caller hung up, else error, at the last
-- node of ivr_path. The builder always writes both columns itself.
-- One column per statement: old servers have no ADD COLUMN IF NOT EXISTS, and their
-- store treats "column already exists" as done (analytics/_clickhouse_store.py), so
-- a re-run after a crash skips exactly the column that was added.
ALTER TABLE {db}.cdr ADD COLUMN IF NOT EXISTS ivr_result LowCardinality(String)
    DEFAULT multiIf(empty(ivr_path), '', queued_at IS NOT NULL, 'queued',
        disposition = 'voicemail', 'voicemail', hangup_side = 'caller', 'caller_left', 'error')
    AFTER ivr_path;

ALTER TABLE {db}.cdr ADD COLUMN IF NOT EXISTS ivr_exit_node LowCardinality(String)
    DEFAULT if(empty(ivr_path), '', ivr_path[-1])
    AFTER ivr_result;
