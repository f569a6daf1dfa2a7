"""A worker told to stop lets go of all its partitions together, not one after another."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from helpstream.workers.runner import PARTITION_LOCK_CLASS, Worker

pytestmark = pytest.mark.integration

PARTITIONS = 64  # the defaults: 64 partitions, reads blocking up to 200 ms


async def partition_locks(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1"
            " AND objsubid = 2 AND granted",
            PARTITION_LOCK_CLASS,
        )
    )


async def test_a_graceful_stop_releases_every_partition_at_once(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    """Each consumer finishes its current read (up to `worker_block_ms`) before it lets
    go: one partition after another, a worker with the default 64 took ~19 s to stop
    (longer than many a container's grace period); together it takes about one read."""
    many = settings.model_copy(update={"partitions": PARTITIONS, "worker_block_ms": 200})
    worker_pool = await asyncpg.create_pool(many.database_url, min_size=1, max_size=8)
    worker = Worker(many, worker_pool, redis)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(400):
            if len(worker.owned) == PARTITIONS:
                break
            await asyncio.sleep(0.05)
        assert len(worker.owned) == PARTITIONS
        assert await partition_locks(pool) == PARTITIONS
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        stopped_in = time.monotonic() - started
    finally:
        stop.set()
        await worker_pool.close()
    assert worker.owned == {}
    assert await partition_locks(pool) == 0
    one_by_one = PARTITIONS * many.worker_block_ms / 1000  # 12.8 s at the least
    assert stopped_in < one_by_one / 4, f"stopped in {stopped_in:.1f} s"
