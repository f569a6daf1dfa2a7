-- Every batch rewrites the open paths it touches (delete + insert), so `paths` gathers dead
-- tuples at about the click rate. With PostgreSQL's defaults (vacuum at 20 % of the table,
-- cost-limited) they reached 345k in a 10-minute run at 5,000 clicks/s and reads of open
-- paths slowed down (issue 16). Vacuum this table at 2 % and without cost delays instead.
ALTER TABLE paths SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0.05
);
