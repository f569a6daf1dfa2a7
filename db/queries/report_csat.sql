-- CSAT: share of rated tickets whose current rating is 4 or 5, each ticket once.
-- $1 from, $2 to (exclusive), $3 category.
SELECT count(*) AS responses,
       count(*) FILTER (WHERE rating >= 4) AS satisfied,
       (count(*) FILTER (WHERE rating >= 4))::float8 / nullif(count(*), 0) AS csat
FROM tickets
WHERE rating IS NOT NULL
  AND ($1::bigint IS NULL OR first_message_at >= $1)
  AND ($2::bigint IS NULL OR first_message_at < $2)
  AND ($3::text IS NULL OR category = $3);
