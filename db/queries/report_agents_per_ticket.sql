-- Report 2: how many distinct agents sent a message on each resolved ticket (0 included).
-- agent_count is maintained by the worker (rows of ticket_agents for the ticket).
-- $1 from, $2 to (exclusive), $3 category: as in report_resolution_time.sql.
SELECT agent_count AS number_of_agents, count(*) AS number_of_tickets
FROM tickets
WHERE status = 'resolved'
  AND ($1::bigint IS NULL OR first_message_at >= $1)
  AND ($2::bigint IS NULL OR first_message_at < $2)
  AND ($3::text IS NULL OR category = $3)
GROUP BY agent_count
ORDER BY agent_count;
