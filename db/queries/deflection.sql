-- Deflection over completed paths ending in [$2, $3] (inclusive), per last page.
-- $1 variant or NULL; $4 window in seconds. A path is escalated when its customer opened a
-- ticket in [end_ts, end_ts + $4]; EXISTS counts the path once however many tickets match.
-- Paths come from the paths_completed_end range scan, each probe uses
-- tickets_customer_opened (migration 007).
WITH completed AS (
    SELECT p.status,
           p.pages[p.path_length] AS last_page,
           EXISTS (
               SELECT 1 FROM tickets t
               WHERE t.customer_id = p.customer_id
                 AND t.opened_at IS NOT NULL
                 AND t.opened_at BETWEEN p.end_ts AND p.end_ts + $4
           ) AS escalated
    FROM paths p
    WHERE p.status <> 'open' AND ($1::text IS NULL OR p.variant = $1)
      AND p.end_ts BETWEEN $2 AND $3
)
SELECT last_page,
       count(*) AS completed,
       count(*) FILTER (WHERE status = 'resolved') AS resolved,
       count(*) FILTER (WHERE escalated) AS escalated,
       count(*) FILTER (WHERE status = 'resolved' AND NOT escalated) AS deflected
FROM completed
GROUP BY last_page;
