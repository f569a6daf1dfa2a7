-- Per-page figures over a window: whole rollup buckets + completed paths in the edge seconds.
-- $1 variant or NULL; $2,$3 whole buckets [from, to); $4..$7 two inclusive edge ranges.
WITH edge_paths AS (
    SELECT pages, path_length, status
    FROM paths
    WHERE status <> 'open' AND ($1::text IS NULL OR variant = $1)
      AND (end_ts BETWEEN $4 AND $5 OR end_ts BETWEEN $6 AND $7)
),
contributions AS (
    SELECT page_id, visits, departures, turnarounds, resolutions
    FROM page_rollups
    WHERE ($1::text IS NULL OR variant = $1) AND bucket >= $2 AND bucket < $3
    UNION ALL
    SELECT v.page_id, 1, (v.position < p.path_length)::int, 0, 0
    FROM edge_paths p, unnest(p.pages) WITH ORDINALITY AS v(page_id, position)
    UNION ALL
    SELECT p.pages[i], 0, 0, 1, 0
    FROM edge_paths p, generate_series(2, p.path_length - 1) AS i
    WHERE p.pages[i + 1] = p.pages[i - 1]
    UNION ALL
    SELECT p.pages[p.path_length], 0, 0, 0, 1
    FROM edge_paths p
    WHERE p.status = 'resolved'
)
SELECT page_id,
       sum(visits)::bigint AS visits,
       sum(departures)::bigint AS departures,
       sum(turnarounds)::bigint AS turnarounds,
       sum(resolutions)::bigint AS resolutions
FROM contributions
GROUP BY page_id
HAVING sum(visits) > 0;
