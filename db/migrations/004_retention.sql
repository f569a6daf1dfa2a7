-- Indexes the retention task (workers/retention.py) needs so that each of its batches finds
-- old rows without scanning a table. BRIN on clicks.ts: clicks arrive roughly in time order,
-- and a BRIN index costs almost nothing on ingest. The partial indexes hold only minute
-- rollup rows (not yet compacted into their hour), so they stay as small as the minute range.
CREATE INDEX clicks_ts_brin ON clicks USING brin (ts);
CREATE INDEX path_rollups_bucket ON path_rollups (bucket);
CREATE INDEX path_rollups_minutes ON path_rollups (bucket) WHERE bucket % 3600 <> 0;
CREATE INDEX page_rollups_minutes ON page_rollups (bucket) WHERE bucket % 3600 <> 0;
