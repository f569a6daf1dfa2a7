-- First response time: ticket opened (its ticket.opened time, else its first message) to
-- the first agent message, over tickets with an agent message; a reply stamped before the
-- opening counts as 0. $1 from, $2 to (exclusive), $3 category.
WITH t AS (
    SELECT first_agent_message_at,
           coalesce(opened_at, first_message_at) AS opened
    FROM tickets
    WHERE (opened_at IS NOT NULL OR message_count > 0)
      AND ($1::bigint IS NULL OR first_message_at >= $1)
      AND ($2::bigint IS NULL OR first_message_at < $2)
      AND ($3::text IS NULL OR category = $3)
), answered AS (
    SELECT greatest(first_agent_message_at - opened, 0) AS seconds
    FROM t WHERE first_agent_message_at IS NOT NULL
)
SELECT (SELECT count(*) FROM t WHERE first_agent_message_at IS NULL) AS unanswered_tickets,
       count(*) AS tickets,
       (min(seconds) / 3600.0)::float8 AS min_hours,
       (avg(seconds) / 3600)::float8 AS avg_hours,
       (max(seconds) / 3600.0)::float8 AS max_hours,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) / 3600 AS p50_hours,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds) / 3600 AS p90_hours
FROM answered;
