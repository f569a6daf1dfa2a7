-- A running total of late click events per partition, kept next to the partition's offset
-- and advanced in the same transaction that stores the late events, so that GET /metrics
-- reads one row per partition instead of summing path_rollups (which grows every minute).
ALTER TABLE stream_offsets ADD COLUMN late_events bigint NOT NULL DEFAULT 0;

UPDATE stream_offsets o
SET late_events = t.late_events
FROM (SELECT partition, sum(late_events) AS late_events FROM path_rollups GROUP BY partition) t
WHERE o.partition = t.partition AND o.stream = 'clicks';
