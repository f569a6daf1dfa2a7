"""Apply a batch of help-desk events to PostgreSQL (contract §4).

Runs inside the worker's fenced transaction for one partition. Every statement is
set-based (arrays unnested, ON CONFLICT) and every effect is idempotent and independent of
arrival order, so redelivery, duplicates and shuffled events converge to one state:

* history rows (messages, status events, ratings) are keyed by their content and inserted
  with DO NOTHING;
* a ticket's current status and rating move only forward in (timestamp, tie-break) order,
  a maximum that does not depend on the order it is computed in;
* message figures (count, first/last time) are updated only from messages that were new.

Ticket events are partitioned by ticket and upserts by the person's id, so every row here
is written by one partition only: partition workers never wait for each other's locks (an
agent row written by every ticket partition deadlocked them). The reports therefore find
agents seen only as message senders in `ticket_agents`, not in `agents`.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from helpstream.events import (
    AGENT,
    CUSTOMER,
    RESOLVED,
    Message,
    Opened,
    PersonUpsert,
    StatusChange,
    SupportEvent,
)

# --- SQL ---------------------------------------------------------------------------------

_UPSERT_PERSON = """
INSERT INTO {table} AS p ({key}, email, first_name, last_name, phone, version_ts, version_key)
SELECT DISTINCT ON (id) id, email, first_name, last_name, phone, ts, vkey
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
            $7::text[]) AS n(id, email, first_name, last_name, phone, ts, vkey)
ORDER BY id, coalesce(ts, -1) DESC, vkey COLLATE "C" DESC
ON CONFLICT ({key}) DO UPDATE
SET email = excluded.email, first_name = excluded.first_name, last_name = excluded.last_name,
    phone = excluded.phone, version_ts = excluded.version_ts, version_key = excluded.version_key
WHERE (coalesce(excluded.version_ts, -1), excluded.version_key)
    > (coalesce(p.version_ts, -1), coalesce(p.version_key, ''))
"""

# Of several ticket.opened for one ticket, the earliest (then smallest content) wins.
_UPSERT_OPENED = """
INSERT INTO tickets AS t (ticket_id, customer_id, category, opened_at)
SELECT DISTINCT ON (id) id, customer_id, category, ts
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[])
     AS n(id, customer_id, category, ts)
ORDER BY id, ts, category COLLATE "C", customer_id
ON CONFLICT (ticket_id) DO UPDATE
SET customer_id = excluded.customer_id, category = excluded.category,
    opened_at = excluded.opened_at
WHERE t.opened_at IS NULL
   OR (excluded.opened_at, excluded.category, excluded.customer_id)
      < (t.opened_at, t.category, t.customer_id)
"""

_TICKET_PLACEHOLDERS = """
INSERT INTO tickets (ticket_id)
SELECT id FROM unnest($1::bigint[]) AS n(id) ORDER BY id
ON CONFLICT (ticket_id) DO NOTHING
"""

# Status rank breaks ties at one timestamp: a reopen must follow a resolution, and both
# follow the opening.
_STATUS = """
WITH n AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[])
        AS n(ticket_id, ts, event, agent_id)
), history AS (
    INSERT INTO ticket_status_events (ticket_id, ts, event, agent_id)
    SELECT ticket_id, ts, event, agent_id FROM n
    ON CONFLICT (ticket_id, ts, event) DO NOTHING
), latest AS (
    SELECT DISTINCT ON (ticket_id) ticket_id, ts, event,
           CASE event WHEN 'opened' THEN 0 WHEN 'resolved' THEN 1 ELSE 2 END AS rank
    FROM n
    ORDER BY ticket_id, ts DESC, rank DESC
)
UPDATE tickets t
SET status = CASE l.event WHEN 'resolved' THEN 'resolved' ELSE 'open' END,
    status_ts = l.ts, status_rank = l.rank
FROM latest l
WHERE t.ticket_id = l.ticket_id
  AND (l.ts, l.rank) > (coalesce(t.status_ts, -1), coalesce(t.status_rank, -1))
"""

# Two ratings at the same second: the higher one wins (an arbitrary but fixed choice).
_RATINGS = """
WITH n AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[]) AS n(ticket_id, ts, rating)
), history AS (
    INSERT INTO ticket_ratings (ticket_id, ts, rating)
    SELECT ticket_id, ts, rating FROM n
    ON CONFLICT (ticket_id, ts, rating) DO NOTHING
), latest AS (
    SELECT DISTINCT ON (ticket_id) ticket_id, ts, rating FROM n
    ORDER BY ticket_id, ts DESC, rating DESC
)
UPDATE tickets t SET rating = l.rating, rating_ts = l.ts
FROM latest l
WHERE t.ticket_id = l.ticket_id
  AND (l.ts, l.rating) > (coalesce(t.rating_ts, -1), coalesce(t.rating, 0))
"""

# Only messages stored now (RETURNING skips known message_ids) change the ticket's figures,
# and only agents new to the ticket its agent_count: both stay exact under redelivery.
_MESSAGES = """
WITH new AS (
    INSERT INTO messages (message_id, ticket_id, sender_type, sender_id, ts, text)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                         $6::text[])
    ON CONFLICT (message_id) DO NOTHING
    RETURNING ticket_id, sender_type, sender_id, ts
), involved AS (
    INSERT INTO ticket_agents (ticket_id, agent_id)
    SELECT DISTINCT ticket_id, sender_id FROM new WHERE sender_type = 'agent'
    ON CONFLICT DO NOTHING
    RETURNING ticket_id
), new_agents AS (
    SELECT ticket_id, count(*) AS n FROM involved GROUP BY ticket_id
), figures AS (
    SELECT ticket_id, count(*) AS n, min(ts) AS first_at, max(ts) AS last_at,
           min(ts) FILTER (WHERE sender_type = 'agent') AS first_agent_at
    FROM new GROUP BY ticket_id
)
UPDATE tickets t
SET message_count = t.message_count + f.n,
    first_message_at = least(t.first_message_at, f.first_at),
    last_message_at = greatest(t.last_message_at, f.last_at),
    first_agent_message_at = least(t.first_agent_message_at, f.first_agent_at),
    agent_count = t.agent_count + coalesce(a.n, 0)
FROM figures f LEFT JOIN new_agents a USING (ticket_id)
WHERE t.ticket_id = f.ticket_id
"""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to the per-column lists that unnest() takes."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def apply_support(
    conn: asyncpg.Connection, events: list[SupportEvent], stream_time: int | None
) -> int | None:
    """Apply one batch; returns the partition's newest event time (for the offset row)."""
    people: dict[str, list[tuple[Any, ...]]] = {CUSTOMER: [], AGENT: []}
    opened: list[tuple[Any, ...]] = []
    status: list[tuple[Any, ...]] = []
    ratings: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    ticket_ids: set[int] = set()
    for e in events:
        if isinstance(e, PersonUpsert):
            people[e.code].append(
                (e.person_id, e.email, e.first_name, e.last_name, e.phone, e.ts, e.version_key)
            )
            continue
        ticket_ids.add(e.ticket_id)
        if isinstance(e, Opened):
            opened.append((e.ticket_id, e.customer_id, e.category, e.ts))
            status.append((e.ticket_id, e.ts, "opened", None))
        elif isinstance(e, Message):
            messages.append((e.message_id, e.ticket_id, e.sender_type, e.sender_id, e.ts, e.text))
        elif isinstance(e, StatusChange):
            event = "resolved" if e.code == RESOLVED else "reopened"
            status.append((e.ticket_id, e.ts, event, e.agent_id))
        else:
            ratings.append((e.ticket_id, e.ts, e.rating))

    if people[CUSTOMER]:
        await conn.execute(
            _UPSERT_PERSON.format(table="customers", key="customer_id"),
            *_columns(people[CUSTOMER], 7),
        )
    if people[AGENT]:
        await conn.execute(
            _UPSERT_PERSON.format(table="agents", key="agent_id"), *_columns(people[AGENT], 7)
        )
    if opened:
        await conn.execute(_UPSERT_OPENED, *_columns(opened, 4))
    if ticket_ids:
        await conn.execute(_TICKET_PLACEHOLDERS, sorted(ticket_ids))
    if status:
        await conn.execute(_STATUS, *_columns(status, 4))
    if ratings:
        await conn.execute(_RATINGS, *_columns(ratings, 3))
    if messages:
        await conn.execute(_MESSAGES, *_columns(messages, 6))

    times = [t for e in events if (t := e.ts) is not None]
    if stream_time is not None:
        times.append(stream_time)
    return max(times, default=None)
