"""Storing a batch's clicks when some of its keys are in `clicks` already.

The worker COPYs a batch's clicks optimistically and looks keys up only when the COPY
meets a stored one (`workers.clicks._store_new_clicks`); these tests pin that the fallback
stores exactly the new clicks and judges lateness without the repeated ones.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from helpstream.events import Click, ClickEvent
from helpstream.workers.clicks import ClickSettings, apply_clicks

pytestmark = pytest.mark.integration

T = 1_600_000_000


def click(key: uuid.UUID, ts: int, customer: int, source: int, target: int) -> ClickEvent:
    return ClickEvent(event_key=key, click=Click(ts, customer, source, target))


def partition_settings() -> ClickSettings:
    return ClickSettings(partition=0, path_timeout=1800, allowed_lateness=300)


async def apply(
    pool: asyncpg.Pool, events: list[ClickEvent], cfg: ClickSettings | None = None
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await apply_clicks(conn, events, cfg or partition_settings(), None)


async def stored(pool: asyncpg.Pool) -> list[tuple[int, int, bool]]:
    rows = await pool.fetch("SELECT customer_id, ts, late FROM clicks ORDER BY customer_id, ts")
    return [(r["customer_id"], r["ts"], r["late"]) for r in rows]


async def pages(pool: asyncpg.Pool, customer: int) -> list[list[int]]:
    rows = await pool.fetch(
        "SELECT pages FROM paths WHERE customer_id = $1 ORDER BY start_ts", customer
    )
    return [list(r["pages"]) for r in rows]


async def test_a_reused_key_among_new_ones_is_skipped_and_does_not_make_them_late(
    pool: asyncpg.Pool,
) -> None:
    reused = uuid.uuid4()
    await apply(pool, [click(uuid.uuid4(), T, 1, 1, 2), click(reused, T + 10, 1, 2, 3)])
    # The reused key comes back with other content; counted, it would make the customer's
    # newest click T + 1000 and the click at T + 600 late (400 s > 300 s allowed).
    await apply(
        pool,
        [
            click(reused, T + 1000, 1, 7, 8),
            click(uuid.uuid4(), T + 600, 1, 3, 4),
            click(uuid.uuid4(), T + 5, 2, 5, 6),
        ],
    )
    assert await stored(pool) == [
        (1, T, False),
        (1, T + 10, False),
        (1, T + 600, False),
        (2, T + 5, False),
    ]
    assert await pages(pool, 1) == [[1, 2, 3, 4]]
    assert await pages(pool, 2) == [[5, 6]]


async def test_a_batch_of_stored_keys_only_changes_nothing(pool: asyncpg.Pool) -> None:
    batch = [click(uuid.uuid4(), T, 3, 1, 2), click(uuid.uuid4(), T + 1, 3, 2, 3)]
    await apply(pool, batch)
    before = (await stored(pool), await pages(pool, 3))
    await apply(pool, list(reversed(batch)))
    assert (
        (await stored(pool), await pages(pool, 3))
        == before
        == (
            [(3, T, False), (3, T + 1, False)],
            [[1, 2, 3]],
        )
    )


async def test_after_a_batch_with_repeats_keys_are_looked_up_first_until_none_repeat(
    pool: asyncpg.Pool,
) -> None:
    cfg = partition_settings()
    first = click(uuid.uuid4(), T, 4, 1, 2)
    await apply(pool, [first], cfg)
    assert not cfg.repeats.seen
    await apply(pool, [first, click(uuid.uuid4(), T + 1, 4, 2, 3)], cfg)  # COPY meets `first`
    assert cfg.repeats.seen
    await apply(pool, [first, click(uuid.uuid4(), T + 2, 4, 3, 4)], cfg)  # looked up first
    assert cfg.repeats.seen
    await apply(pool, [click(uuid.uuid4(), T + 3, 4, 4, 5)], cfg)  # none repeats
    assert not cfg.repeats.seen
    await apply(pool, [click(uuid.uuid4(), T + 4, 4, 5, 6)], cfg)  # optimistic again
    assert [r[1] for r in await stored(pool)] == [T, T + 1, T + 2, T + 3, T + 4]
    assert await pages(pool, 4) == [[1, 2, 3, 4, 5, 6]]
