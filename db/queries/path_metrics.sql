-- Path metrics over a window: whole rollup buckets + completed paths in the edge seconds.
-- $1 variant or NULL; $2,$3 whole buckets [from, to); $4..$7 two inclusive edge ranges.
WITH rolled AS (
    SELECT sum(completed) AS completed,
           sum(resolved) AS resolved,
           sum(abandoned) AS abandoned,
           sum(turnaround_paths) AS turnaround_paths,
           sum(resolved_length_sum)::numeric AS length_sum,
           sum(resolved_length_sumsq)::numeric AS length_sumsq,
           sum(late_events) AS late_events
    FROM path_rollups
    WHERE ($1::text IS NULL OR variant = $1) AND bucket >= $2 AND bucket < $3
),
edge AS (
    SELECT count(*) AS completed,
           count(*) FILTER (WHERE status = 'resolved') AS resolved,
           count(*) FILTER (WHERE status = 'abandoned') AS abandoned,
           count(*) FILTER (WHERE has_turnaround) AS turnaround_paths,
           coalesce(sum(path_length) FILTER (WHERE status = 'resolved'), 0)::numeric
               AS length_sum,
           coalesce(sum(path_length::numeric * path_length)
                    FILTER (WHERE status = 'resolved'), 0) AS length_sumsq
    FROM paths
    WHERE status <> 'open' AND ($1::text IS NULL OR variant = $1)
      AND (end_ts BETWEEN $4 AND $5 OR end_ts BETWEEN $6 AND $7)
),
edge_late AS (
    SELECT count(*) AS late_events
    FROM clicks
    WHERE late AND ($1::text IS NULL OR variant = $1)
      AND (ts BETWEEN $4 AND $5 OR ts BETWEEN $6 AND $7)
)
SELECT coalesce(r.completed, 0) + e.completed AS completed,
       coalesce(r.resolved, 0) + e.resolved AS resolved,
       coalesce(r.abandoned, 0) + e.abandoned AS abandoned,
       coalesce(r.turnaround_paths, 0) + e.turnaround_paths AS turnaround_paths,
       coalesce(r.length_sum, 0) + e.length_sum AS length_sum,
       coalesce(r.length_sumsq, 0) + e.length_sumsq AS length_sumsq,
       coalesce(r.late_events, 0) + l.late_events AS late_events
FROM rolled r, edge e, edge_late l;
