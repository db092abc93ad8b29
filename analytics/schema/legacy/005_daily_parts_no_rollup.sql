-- legacy override of: e4d8a40662f65625
-- Replaces schema/005_daily_parts_no_rollup.sql on servers older than 23.1 (Debian
-- 12's 18.16): the reduced schema follows it only in dropping the 15-minute rollup:
-- queue_volume reads cdr FINAL on every backend. 18.16 has neither CREATE OR
-- REPLACE nor the force-merge settings, so its tables keep monthly partitions.
-- The digest above is _migrations.statements_digest of the schema/ file this was
-- written for; tests fail when that file's statements change and this one does not.
DROP TABLE IF EXISTS {db}.queue_interval_15m_mv;

DROP TABLE IF EXISTS {db}.queue_interval_15m;
