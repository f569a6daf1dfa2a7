"""`worker_linger_ms`: a caught-up partition gathers a trickle into fewer transactions,
and a partition with a backlog never waits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient, stream_key
from helpstream.workers.consumer import PartitionConsumer
from helpstream.workers.handlers import default_handlers
from tests.conftest import wait_drained
from tests.integration.test_poison_entries import (
    PARTITION,
    RecordingClickHandler,
    good,
    paths_of,
)

pytestmark = pytest.mark.integration

T = 1_600_000_000


async def add(redis: RedisClient, customer: int, ts: int, source: int) -> None:
    entry: dict[Any, Any] = good(customer, ts, source, source + 1)
    await redis.xadd(stream_key(PARTITION, "clicks"), entry)


async def consume(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: RedisClient,
    handler: RecordingClickHandler,
    *,
    linger_ms: int,
    batch_entries: int,
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    consumer = PartitionConsumer(
        PARTITION,
        pool,
        redis,
        {**default_handlers(settings), "clicks": handler},
        batch_entries=batch_entries,
        block_ms=20,
        linger_ms=linger_ms,
        sweep_seconds=60,
    )
    stop = asyncio.Event()
    return stop, asyncio.create_task(consumer.run(stop))


async def test_a_trickle_is_applied_in_few_transactions(
    redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    handler = RecordingClickHandler(settings)
    stop, task = await consume(settings, pool, redis, handler, linger_ms=600, batch_entries=100)
    try:
        for i in range(5):  # 5 entries over ~120 ms, well within one linger
            await add(redis, 5, T + i, i)
            await asyncio.sleep(0.03)
        await wait_drained(redis, pool, settings.partitions, within=15)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert await paths_of(pool, 5) == [[0, 1, 2, 3, 4, 5]]
    assert sum(handler.applied) == 5
    assert len(handler.applied) <= 2, handler.applied


async def test_a_backlog_is_read_without_lingering(
    redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    for i in range(30):
        await add(redis, 9, T + i, i)
    handler = RecordingClickHandler(settings)
    started = time.monotonic()
    # One entry per read: lingering after each read would take 30 x 2 s.
    stop, task = await consume(settings, pool, redis, handler, linger_ms=2000, batch_entries=1)
    try:
        await wait_drained(redis, pool, settings.partitions, within=20)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert time.monotonic() - started < 20
    assert len(handler.applied) == 30
    assert await paths_of(pool, 9) == [list(range(31))]
