-- The reduced schema follows schema/005 only in dropping the 15-minute rollup:
-- queue_volume reads cdr FINAL on every backend. 18.16 has neither CREATE OR
-- REPLACE nor the force-merge settings, so its tables keep monthly partitions.
DROP TABLE IF EXISTS {db}.queue_interval_15m_mv;

DROP TABLE IF EXISTS {db}.queue_interval_15m;
