-- The wrap-up code the agent saved for the call (agent.wrap_up, written by the agent
-- desktop; the last one saved wins): "" for calls without one, and for every CDR stored
-- before this migration. Appended after `version`, where the record (analytics/_records.py,
-- Cdr) has it, since inserts go by position. Adding a column rewrites no part; on 18.16
-- the rewrite drops IF NOT EXISTS and the store counts "already exists" as done (006).
ALTER TABLE {db}.cdr ADD COLUMN IF NOT EXISTS wrap_up_code LowCardinality(String) DEFAULT ''
    AFTER version;
