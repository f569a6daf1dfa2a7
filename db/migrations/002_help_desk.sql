-- Help-desk events (contract §4): customers, agents, tickets, messages, status and ratings.
--
-- Events about a ticket arrive in any order and may repeat, so nothing here has a foreign
-- key: a message may be stored before its ticket.opened, and every table is written with
-- ON CONFLICT so a redelivered event changes nothing. Each ticket's current status, rating
-- and message figures are kept on its `tickets` row, updated in the worker's transaction,
-- so the reports read one row per ticket instead of scanning messages.
-- Times are unix seconds (bigint), like the click tables.

-- Last writer wins by (version_ts, version_key): the event's timestamp (-1 when absent),
-- then its content, so any arrival order ends in the same row. Only upserts write here
-- (from the person's own partition); agents seen only as message senders are found in
-- ticket_agents, so ticket partitions never lock rows of these tables.
CREATE TABLE customers (
    customer_id bigint PRIMARY KEY,
    email       text,
    first_name  text,
    last_name   text,
    phone       text,
    version_ts  bigint,
    version_key text COLLATE "C"
);

CREATE TABLE agents (
    agent_id    bigint PRIMARY KEY,
    email       text,
    first_name  text,
    last_name   text,
    phone       text,
    version_ts  bigint,
    version_key text COLLATE "C"
);

-- One row per ticket ever mentioned by any event; ticket.opened fills in customer,
-- category and opened_at (the earliest ticket.opened wins if it was sent twice).
CREATE TABLE tickets (
    ticket_id              bigint   PRIMARY KEY,
    customer_id            bigint,
    category               text COLLATE "C",
    opened_at              bigint,
    -- current status: the latest status event by (ts, rank opened < resolved < reopened)
    status                 text     NOT NULL DEFAULT 'open'
                                    CHECK (status IN ('open', 'resolved')),
    status_ts              bigint,
    status_rank            smallint,
    -- current rating: the latest rating event by (ts, rating)
    rating                 smallint CHECK (rating BETWEEN 1 AND 5),
    rating_ts              bigint,
    -- message figures, maintained from newly stored messages only (idempotent)
    message_count          integer  NOT NULL DEFAULT 0,
    first_message_at       bigint,
    last_message_at        bigint,
    first_agent_message_at bigint,
    agent_count            integer  NOT NULL DEFAULT 0  -- rows in ticket_agents
);
CREATE INDEX tickets_first_message ON tickets (first_message_at);
CREATE INDEX tickets_resolved_first_message ON tickets (first_message_at)
    WHERE status = 'resolved';
CREATE INDEX tickets_rated_first_message ON tickets (first_message_at)
    WHERE rating IS NOT NULL;
CREATE INDEX tickets_category ON tickets (category, first_message_at);

CREATE TABLE messages (
    message_id  bigint PRIMARY KEY,
    ticket_id   bigint NOT NULL,
    sender_type text   NOT NULL CHECK (sender_type IN ('customer', 'agent')),
    sender_id   bigint NOT NULL,
    ts          bigint NOT NULL,
    text        text   NOT NULL
);
CREATE INDEX messages_ticket_ts ON messages (ticket_id, ts);

-- The distinct agents who sent at least one message on a ticket.
CREATE TABLE ticket_agents (
    ticket_id bigint NOT NULL,
    agent_id  bigint NOT NULL,
    PRIMARY KEY (ticket_id, agent_id)
);
CREATE INDEX ticket_agents_agent ON ticket_agents (agent_id, ticket_id);

-- Every distinct status event: the reopen history stays here after the ticket is resolved.
CREATE TABLE ticket_status_events (
    ticket_id bigint NOT NULL,
    ts        bigint NOT NULL,
    event     text   NOT NULL CHECK (event IN ('opened', 'resolved', 'reopened')),
    agent_id  bigint,
    PRIMARY KEY (ticket_id, ts, event)
);

-- Every distinct rating event; the ticket's current rating is the latest one.
CREATE TABLE ticket_ratings (
    ticket_id bigint   NOT NULL,
    ts        bigint   NOT NULL,
    rating    smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    PRIMARY KEY (ticket_id, ts, rating)
);
