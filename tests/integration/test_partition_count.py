"""The partition count is recorded at first setup; a process configured otherwise refuses
to start (contract §6), so an API and workers can never disagree about where events go."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import httpx
import pytest

from helpstream.api.app import create_app
from helpstream.db.deployment import RepartitionRefused, change_partitions
from helpstream.settings import Settings
from helpstream.streams import KINDS, RedisClient, stream_key
from helpstream.workers.runner import run_worker
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration


async def start_api(settings: Settings) -> None:
    """Run the app's lifespan (startup and shutdown), as uvicorn does."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass


async def start_worker(settings: Settings) -> None:
    """Run `helpstream worker`'s main with the stop already requested: start, then stop."""
    stop = asyncio.Event()
    stop.set()
    await run_worker(settings, stop)


async def test_matching_counts_start(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    await start_api(settings)
    await start_worker(settings)
    await start_api(settings)


async def test_api_with_another_count_refuses_to_start(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    await start_worker(settings)  # the first process records its count (4)
    other = settings.model_copy(update={"partitions": settings.partitions * 2})
    with pytest.raises(Exception, match="HELPSTREAM_PARTITIONS") as refused:
        await start_api(other)
    message = str(refused.value)
    assert f"={settings.partitions}" in message and str(other.partitions) in message
    assert "drain" in message  # says how to change it safely


async def test_worker_with_another_count_refuses_to_start(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    await start_api(settings)
    other = settings.model_copy(update={"partitions": settings.partitions + 1})
    with pytest.raises(Exception, match="HELPSTREAM_PARTITIONS"):
        await start_worker(other)
    # Nothing was consumed by the refused worker: no offsets of a fifth partition.
    assert await pool.fetchval("SELECT count(*) FROM stream_offsets WHERE partition >= 4") == 0


async def test_concurrent_first_starts_record_one_count(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    counts = [settings.partitions, settings.partitions * 2] * 3
    results = await asyncio.gather(
        *(start_worker(settings.model_copy(update={"partitions": n})) for n in counts),
        return_exceptions=True,
    )
    started = {n for n, result in zip(counts, results, strict=True) if result is None}
    refused = [r for r in results if r is not None]
    assert len(started) == 1  # whichever came first; every other count was refused
    assert len(refused) == 3 and all("HELPSTREAM_PARTITIONS" in str(r) for r in refused)


async def test_cli_worker_refuses_with_the_message(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    await start_api(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPSTREAM_")}
    env.update(
        HELPSTREAM_DATABASE_URL=settings.database_url or "",
        HELPSTREAM_REDIS_URL=settings.redis_url or "",
        HELPSTREAM_PARTITIONS=str(settings.partitions * 4),
    )
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "helpstream.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert f"HELPSTREAM_PARTITIONS={settings.partitions}" in proc.stderr


async def newest_ids(redis: RedisClient, partitions: int) -> dict[tuple[int, str], str]:
    newest = {}
    for p in range(partitions):
        for kind in KINDS:
            last = await redis.xrevrange(stream_key(p, kind), count=1)
            if last:
                newest[(p, kind)] = last[0][0].decode()
    return newest


async def test_changing_the_count_needs_stopped_workers_and_an_empty_backlog(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: RedisClient,
    worker: WorkerHandle,
    ingest_api: httpx.AsyncClient,
) -> None:
    clicks = [
        {"timestamp": 1515764691, "customer_id": c, "source_page_id": 11, "target_page_id": 28}
        for c in range(12)
    ]
    assert (await ingest_api.post("/v1/clicks/batch", json={"events": clicks})).status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    async with pool.acquire() as conn:
        with pytest.raises(RepartitionRefused, match="worker"):  # one is running
            await change_partitions(conn, 8, {}, settings.worker_heartbeat_timeout)
        await worker.shutdown()
        await redis.xadd(stream_key(1, "clicks"), {"b": b"[]"})  # not applied yet
        with pytest.raises(RepartitionRefused, match="partition 1 clicks"):
            await change_partitions(
                conn, 8, await newest_ids(redis, 4), settings.worker_heartbeat_timeout
            )
        await redis.delete(stream_key(1, "clicks"))
        old = await change_partitions(
            conn, 8, await newest_ids(redis, 4), settings.worker_heartbeat_timeout
        )
    assert old == 4
    moved = await pool.fetch("SELECT customer_id, partition FROM paths WHERE status = 'open'")
    assert len(moved) == 12 and all(r["partition"] == r["customer_id"] % 8 for r in moved)
    eight = settings.model_copy(update={"partitions": 8})
    await start_worker(eight)
    with pytest.raises(Exception, match="HELPSTREAM_PARTITIONS=8"):
        await start_worker(settings)


async def test_cli_api_refuses_with_the_message(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    await start_worker(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPSTREAM_")}
    env.update(
        HELPSTREAM_DATABASE_URL=settings.database_url or "",
        HELPSTREAM_REDIS_URL=settings.redis_url or "",
        HELPSTREAM_PARTITIONS="16",
        HELPSTREAM_PORT="1",  # never reached: it refuses before listening
    )
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "helpstream.cli", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        "HELPSTREAM_PARTITIONS=4" in proc.stderr and "helpstream partitions set 16" in proc.stderr
    )
