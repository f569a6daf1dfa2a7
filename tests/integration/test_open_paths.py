"""Open paths live in `open_paths`, advanced in place; their owner tracks where they end.

Idle closing asks PostgreSQL only for the customers the owner's `OpenPathEnds` names, so
these tests pin that it always equals the table, after commits and after a transaction
that failed (it must be loaded afresh), and that closing by event time still happens.
"""

from __future__ import annotations

import random
import uuid

import asyncpg
import pytest

from helpstream.events import Click, ClickEvent
from helpstream.settings import Settings
from helpstream.workers.handlers import ClickHandler

pytestmark = pytest.mark.integration

T = 1_600_000_000
PARTITION = 0


class Rollback(Exception):
    """Raised inside a transaction to undo it, as a failed commit would."""


def click(ts: int, customer: int, source: int, target: int, resolved: bool = False) -> ClickEvent:
    return ClickEvent(uuid.uuid4(), Click(ts, customer, source, target, resolved))


async def apply(
    pool: asyncpg.Pool, handler: ClickHandler, events: list[ClickEvent], commit: bool = True
) -> None:
    """One batch in one transaction, reported to the handler as the consumer does."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            await handler.apply(conn, PARTITION, events, None)
            if not commit:
                raise Rollback
    except Rollback:
        return
    handler.committed(PARTITION)


async def table_ends(pool: asyncpg.Pool) -> dict[int, int]:
    rows = await pool.fetch(
        "SELECT customer_id, end_ts FROM open_paths WHERE partition = $1", PARTITION
    )
    return {r["customer_id"]: r["end_ts"] for r in rows}


def known_ends(handler: ClickHandler) -> dict[int, int]:
    ends = handler._cfg(PARTITION).ends
    assert ends is not None
    return ends.as_dict()


async def test_the_owners_ends_equal_the_table_through_random_traffic(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    handler = ClickHandler(settings)
    rng = random.Random(7)
    now = T
    for batch in range(40):
        events = []
        for _ in range(rng.randint(1, 30)):
            now += rng.choice([1, 5, 60, 700])  # sometimes past path_timeout for somebody
            late = rng.random() < 0.1  # out of order: a re-fold
            ts = now - rng.randint(1, 200) if late else now
            customer, source, target = rng.randint(1, 15), rng.randint(1, 5), rng.randint(1, 5)
            events.append(click(ts, customer, source, target, resolved=rng.random() < 0.15))
        await apply(pool, handler, events, commit=batch % 7 != 3)
        if batch % 7 != 3:
            assert known_ends(handler) == await table_ends(pool)


async def test_after_a_failed_transaction_idle_paths_still_close(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    handler = ClickHandler(settings)
    await apply(pool, handler, [click(T, 1, 1, 2)])
    # Undone: it resolved customer 1's path, so an unreloaded map would have forgotten it.
    await apply(pool, handler, [click(T + 5, 1, 2, 3, resolved=True)], commit=False)
    # Customer 2, past path_timeout later: customer 1's open path ended long ago.
    await apply(pool, handler, [click(T + settings.path_timeout + 100, 2, 5, 6)])
    rows = await pool.fetch(
        "SELECT customer_id, pages, status FROM paths ORDER BY customer_id, start_ts"
    )
    assert [(r["customer_id"], list(r["pages"]), r["status"]) for r in rows] == [
        (1, [1, 2], "abandoned"),
        (2, [5, 6], "open"),
    ]


async def test_an_open_path_keeps_its_row_as_it_grows(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    handler = ClickHandler(settings)
    await apply(pool, handler, [click(T, 3, 1, 2)])
    first_id = await pool.fetchval("SELECT path_id FROM open_paths WHERE customer_id = 3")
    for step in range(1, 6):
        await apply(pool, handler, [click(T + step, 3, step + 1, step + 2)])
    row = await pool.fetchrow("SELECT path_id, pages, path_length FROM open_paths")
    assert row["path_id"] == first_id
    assert list(row["pages"]) == [1, 2, 3, 4, 5, 6, 7]
    assert row["path_length"] == 7
    assert await pool.fetchval("SELECT count(*) FROM completed_paths") == 0


async def test_a_path_ending_exactly_at_the_bound_closes_in_the_batch_after_it(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """No sweep runs here: the closing must come from the batch that passes the bound."""
    handler = ClickHandler(settings)
    timeout = settings.path_timeout
    await apply(pool, handler, [click(T, 1, 1, 2)])
    await apply(pool, handler, [click(T + timeout, 2, 3, 4)])  # exactly the timeout: open
    assert known_ends(handler) == await table_ends(pool) == {1: T, 2: T + timeout}
    await apply(pool, handler, [click(T + timeout + 1, 3, 5, 6)])
    statuses = await pool.fetch("SELECT customer_id, status FROM paths ORDER BY customer_id")
    assert [(r["customer_id"], r["status"]) for r in statuses] == [
        (1, "abandoned"),
        (2, "open"),
        (3, "open"),
    ]
