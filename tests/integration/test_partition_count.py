"""The partition count is recorded at first setup; a process configured otherwise refuses
to start (contract §6), so an API and workers can never disagree about where events go."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from api.app import create_app
from api.settings import Settings
from workers.runner import run_worker
from workers.streams import RedisClient

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
        [sys.executable, "-m", "api.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert f"HELPSTREAM_PARTITIONS={settings.partitions}" in proc.stderr
