-- Recording and voicemail (docs/recording.md): how many times the call's recording was
-- paused (recording.paused), the voicemail box the caller left a message in (the
-- voicemail recording's name, or voicemail.left's box), and 1 when the agent had a
-- message played to the caller before the hang-up (call.message_played). 0 / "" for
-- every CDR stored before this migration. Appended after `wrap_up_code`, where the
-- record (analytics/_records.py, Cdr) has them, since inserts go by position. One
-- column per ALTER: on 18.16 the rewrite drops IF NOT EXISTS and the store counts
-- "already exists" as done, which is safe only when each ALTER adds one column (007).
ALTER TABLE {db}.cdr ADD COLUMN IF NOT EXISTS recording_pauses UInt16 DEFAULT 0
    AFTER wrap_up_code;

ALTER TABLE {db}.cdr ADD COLUMN IF NOT EXISTS voicemail_box LowCardinality(String) DEFAULT ''
    AFTER recording_pauses;

ALTER TABLE {db}.cdr ADD COLUMN IF NOT EXISTS message_played UInt8 DEFAULT 0
    AFTER voicemail_box;
