-- Report 4: resolution time by the calendar month (UTC) of the ticket's first message.
-- 'YYYY-MM' keeps years apart. $1 from, $2 to (exclusive), $3 category.
SELECT to_char(to_timestamp(first_message_at) AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       count(*) AS tickets,
       (min(last_message_at - first_message_at) / 3600.0)::float8 AS min_hours,
       (avg(last_message_at - first_message_at) / 3600)::float8 AS avg_hours,
       (max(last_message_at - first_message_at) / 3600.0)::float8 AS max_hours
FROM tickets
WHERE status = 'resolved' AND message_count > 0
  AND ($1::bigint IS NULL OR first_message_at >= $1)
  AND ($2::bigint IS NULL OR first_message_at < $2)
  AND ($3::text IS NULL OR category = $3)
GROUP BY month
ORDER BY month;
