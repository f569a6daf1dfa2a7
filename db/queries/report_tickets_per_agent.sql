-- Report 3: every known agent (upserted, or a message sender) with the number of distinct
-- resolved tickets they sent a message on (0 included). $1 from, $2 to (exclusive),
-- $3 category.
WITH known AS (
    SELECT agent_id FROM agents
    UNION
    SELECT DISTINCT agent_id FROM ticket_agents
)
SELECT k.agent_id,
       CASE WHEN a.first_name IS NOT NULL OR a.last_name IS NOT NULL
            THEN concat_ws(' ', a.first_name, a.last_name) END AS agent,
       count(t.ticket_id) AS number_of_tickets
FROM known k
LEFT JOIN agents a ON a.agent_id = k.agent_id
LEFT JOIN (
    ticket_agents ta
    JOIN tickets t ON t.ticket_id = ta.ticket_id
                  AND t.status = 'resolved'
                  AND ($1::bigint IS NULL OR t.first_message_at >= $1)
                  AND ($2::bigint IS NULL OR t.first_message_at < $2)
                  AND ($3::text IS NULL OR t.category = $3)
) ON ta.agent_id = k.agent_id
GROUP BY k.agent_id, a.first_name, a.last_name
ORDER BY k.agent_id;
