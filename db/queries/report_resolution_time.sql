-- Report 1: resolution time = last message − first message, over resolved tickets with at
-- least one message. $1 from (unix s, inclusive) or NULL; $2 to (exclusive) or NULL;
-- $3 category or NULL — all on the ticket's first message time.
SELECT count(*) AS tickets,
       (min(seconds) / 3600.0)::float8 AS min_hours,
       (avg(seconds) / 3600)::float8 AS avg_hours,
       (max(seconds) / 3600.0)::float8 AS max_hours,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) / 3600 AS p50_hours,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) / 3600 AS p90_hours
FROM (
    SELECT last_message_at - first_message_at AS seconds
    FROM tickets
    WHERE status = 'resolved' AND message_count > 0
      AND ($1::bigint IS NULL OR first_message_at >= $1)
      AND ($2::bigint IS NULL OR first_message_at < $2)
      AND ($3::text IS NULL OR category = $3)
) AS resolved;
