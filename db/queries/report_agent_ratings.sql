-- Report 5: every known agent (upserted, or a message sender): ratings over the distinct
-- rated tickets they sent a message on, each ticket once with its current rating; nulls
-- when none. $1 from, $2 to (exclusive), $3 category.
WITH known AS (
    SELECT agent_id FROM agents
    UNION
    SELECT DISTINCT agent_id FROM ticket_agents
)
SELECT k.agent_id,
       CASE WHEN a.first_name IS NOT NULL OR a.last_name IS NOT NULL
            THEN concat_ws(' ', a.first_name, a.last_name) END AS agent,
       count(t.rating) AS rated_tickets,
       min(t.rating)::int AS min_rating,
       avg(t.rating)::float8 AS avg_rating,
       max(t.rating)::int AS max_rating
FROM known k
LEFT JOIN agents a ON a.agent_id = k.agent_id
LEFT JOIN (
    ticket_agents ta
    JOIN tickets t ON t.ticket_id = ta.ticket_id
                  AND t.rating IS NOT NULL
                  AND ($1::bigint IS NULL OR t.first_message_at >= $1)
                  AND ($2::bigint IS NULL OR t.first_message_at < $2)
                  AND ($3::text IS NULL OR t.category = $3)
) ON ta.agent_id = k.agent_id
GROUP BY k.agent_id, a.first_name, a.last_name
ORDER BY k.agent_id;
