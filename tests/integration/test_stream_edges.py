"""Streams that are not what the offsets say (issue 15, item 8): outages and lost data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient, stats_key, stream_key
from helpstream.wire import PAYLOAD_FIELD, click_to_wire, encode_events
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

T = 1_600_000_000
PARTITION = 1  # customers 1, 5, 9, ... with the test settings' 4 partitions


def click(ts: int, customer: int, source: int, target: int) -> dict[str, int]:
    return {"timestamp": ts, "customer_id": customer, "source_page_id": source,
            "target_page_id": target}  # fmt: skip


async def run_worker_until_drained(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    worker_pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
    handle = WorkerHandle(settings, worker_pool, redis)
    handle.start()
    try:
        await wait_drained(redis, pool, settings.partitions, within=30)
    finally:
        await handle.shutdown()
        await worker_pool.close()


@pytest.fixture
async def abandonments(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """Log every path stored as abandoned (closing an open one moves it to completed_paths),
    whatever undoes it later."""
    await pool.execute(
        """
        CREATE TABLE abandon_log (customer_id bigint NOT NULL);
        CREATE FUNCTION log_abandon() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN INSERT INTO abandon_log VALUES (NEW.customer_id); RETURN NEW; END $$;
        CREATE TRIGGER log_abandon AFTER INSERT ON completed_paths FOR EACH ROW
            WHEN (NEW.status = 'abandoned')
            EXECUTE FUNCTION log_abandon();
        """
    )
    try:
        yield
    finally:
        await pool.execute(
            "DROP TRIGGER log_abandon ON completed_paths;"
            " DROP FUNCTION log_abandon(); DROP TABLE abandon_log"
        )


async def test_the_first_sweep_after_an_outage_waits_for_the_backlog(
    api: httpx.AsyncClient,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
    abandonments: None,
) -> None:
    assert (await api.post("/v1/clicks", json=click(T, 5, 1, 2))).status_code == 202
    await run_worker_until_drained(settings, pool, redis)
    # The workers were down for longer than path_timeout (on the wall clock) ...
    await pool.execute("UPDATE open_paths SET last_arrival_at = now() - interval '2 hours'")
    # ... while clicks kept coming: other customers' first, then customer 5's next one.
    for customer in range(9, 9 + 4 * 20, 4):
        assert (await api.post("/v1/clicks", json=click(T + 1, customer, 7, 8))).status_code == 202
    assert (await api.post("/v1/clicks", json=click(T + 10, 5, 2, 3))).status_code == 202

    one_by_one = settings.model_copy(update={"worker_batch_entries": 1})
    await run_worker_until_drained(one_by_one, pool, redis)

    assert await pool.fetchval("SELECT count(*) FROM abandon_log WHERE customer_id = 5") == 0
    rows = await pool.fetch("SELECT pages, status FROM paths WHERE customer_id = 5")
    assert [(list(r["pages"]), r["status"]) for r in rows] == [([1, 2, 3], "open")]


async def test_a_stream_behind_its_offset_is_reported_loudly(
    api: httpx.AsyncClient,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (await api.post("/v1/clicks", json=click(T, 5, 1, 2))).status_code == 202
    await run_worker_until_drained(settings, pool, redis)
    offset = await pool.fetchval(
        "SELECT last_id FROM stream_offsets WHERE partition = $1 AND stream = 'clicks'",
        PARTITION,
    )
    # Failover to a replica that lags (and whose clock is behind): the stream now ends
    # below the offset, and what it accepts next gets IDs the worker would never read.
    key = stream_key(PARTITION, "clicks")
    await redis.delete(key)
    lagging = f"{int(offset.split('-')[0]) - 5_000}-0"
    event = click_to_wire(T + 5, 9, 3, 4, False, "9e6f1c8e-3a52-4a8e-9a0b-1d2c3b4a5f60", "default")
    await redis.xadd(key, {PAYLOAD_FIELD: encode_events([event])}, id=lagging)

    caplog.set_level(logging.ERROR, logger="workers.consumer")
    worker_pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
    handle = WorkerHandle(settings, worker_pool, redis)
    handle.start()
    try:
        for _ in range(200):
            if await redis.hget(stats_key(PARTITION), "stream_regressions"):
                break
            await asyncio.sleep(0.05)
    finally:
        await handle.shutdown()
        await worker_pool.close()

    assert await redis.hget(stats_key(PARTITION), "stream_regressions") == b"1"
    assert any(
        key in r.getMessage() and "below the applied offset" in r.getMessage()
        for r in caplog.records
    )
    text = (await api.get("/metrics")).text
    assert f'helpstream_stream_regressions_total{{partition="{PARTITION}"}} 1' in text
