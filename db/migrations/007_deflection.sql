-- Deflection (contract §7): a completed path is escalated when its customer opens a ticket
-- within window_hours after the path's end. GET /v1/metrics/deflection answers with one
-- probe per completed path in the window: "a ticket of this customer opened in
-- [end_ts, end_ts + window]". This index makes each probe an index range scan (tickets
-- whose ticket.opened has not arrived yet have a NULL opened_at and are left out).
CREATE INDEX tickets_customer_opened ON tickets (customer_id, opened_at)
    WHERE opened_at IS NOT NULL;
