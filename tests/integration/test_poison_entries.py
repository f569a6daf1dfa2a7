"""Nothing one stream entry contains can stall its partition (issue 15, item 1).

Entries are written to the streams directly, as a bug, an older API or an operator could
leave them; the worker must apply the good ones read with them, retry the bad ones, dead-
letter them with their reason, and move on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient, dead_letter_key, stats_key, stream_key
from helpstream.wire import PAYLOAD_FIELD, click_to_wire, encode_events
from helpstream.workers.consumer import PartitionConsumer
from helpstream.workers.handlers import ClickHandler, default_handlers
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

T = 1_600_000_000
PARTITION = 1  # customers 1, 5, 9, ... with the test settings' 4 partitions


def good(customer: int, ts: int, source: int, target: int) -> dict[bytes, bytes]:
    click = click_to_wire(ts, customer, source, target, False, str(uuid.uuid4()), "default")
    return {PAYLOAD_FIELD: encode_events([click])}


async def paths_of(pool: asyncpg.Pool, customer: int) -> list[list[int]]:
    rows = await pool.fetch(
        "SELECT pages FROM paths WHERE customer_id = $1 ORDER BY start_ts", customer
    )
    return [list(r["pages"]) for r in rows]


async def test_a_malformed_entry_is_dead_lettered_and_the_good_ones_read_with_it_applied(
    redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    key = stream_key(PARTITION, "clicks")
    await redis.xadd(key, good(5, T, 1, 2))
    poison_id = await redis.xadd(key, {PAYLOAD_FIELD: b'[[1001,1,28,35,false,12345,"default"]]'})
    await redis.xadd(key, good(9, T, 3, 4))
    # A field named like the dead letter's own must not overwrite the recorded reason.
    disguised_id = await redis.xadd(
        key, {PAYLOAD_FIELD: b'[["not", "a click"]]', b"reason": b"all fine, nothing to see"}
    )
    await redis.xadd(key, good(5, T + 1, 2, 6))

    handle = WorkerHandle(settings, await asyncpg.create_pool(settings.database_url), redis)
    handle.start()  # one XREAD takes all five entries
    try:
        await wait_drained(redis, pool, settings.partitions, within=20)
    finally:
        await handle.shutdown()
        await handle.pool.close()

    assert await paths_of(pool, 5) == [[1, 2, 6]]
    assert await paths_of(pool, 9) == [[3, 4]]
    dead = dict(await redis.xrange(dead_letter_key(PARTITION, "clicks")))
    assert list(dead) == [poison_id, disguised_id]  # under their own IDs, in order
    assert b"event key must be a string" in dead[poison_id][b"reason"]
    assert dead[poison_id][b"entry.b"] == b'[[1001,1,28,35,false,12345,"default"]]'
    assert dead[poison_id][b"deliveries"] == str(settings.max_deliveries).encode()
    assert dead[disguised_id][b"reason"].startswith(b"undecodable: ")
    assert dead[disguised_id][b"entry.reason"] == b"all fine, nothing to see"
    assert await redis.hget(stats_key(PARTITION), "dead_letters") == b"2"


class CancelledOnCustomer13(ClickHandler):
    """Clicks of customer 13 run into statement_timeout: a cancel asyncpg calls transient."""

    attempts = 0

    async def apply(
        self, conn: asyncpg.Connection, partition: int, events: list[Any], stream_time: int | None
    ) -> int | None:
        if any(e.click.customer_id == 13 for e in events):
            type(self).attempts += 1
            await conn.execute("SET LOCAL statement_timeout = '20ms'")
            await conn.execute("SELECT pg_sleep(2)")
        return await super().apply(conn, partition, events, stream_time)


async def test_an_entry_cancelled_by_statement_timeout_is_retried_then_dead_lettered(
    redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    key = stream_key(PARTITION, "clicks")
    await redis.xadd(key, good(5, T, 1, 2))
    stuck_id = await redis.xadd(key, good(13, T, 7, 8))
    await redis.xadd(key, good(9, T, 3, 4))
    handlers = {**default_handlers(settings), "clicks": CancelledOnCustomer13(settings)}
    consumer = PartitionConsumer(
        PARTITION, pool, redis, handlers, batch_entries=10, block_ms=20, sweep_seconds=60
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_drained(redis, pool, settings.partitions, within=15)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    assert CancelledOnCustomer13.attempts == 1 + 5  # the batch, then 5 deliveries alone
    assert await paths_of(pool, 5) == [[1, 2]]
    assert await paths_of(pool, 9) == [[3, 4]]
    assert await paths_of(pool, 13) == []
    dead = dict(await redis.xrange(dead_letter_key(PARTITION, "clicks")))
    assert list(dead) == [stuck_id]
    assert b"QueryCanceledError" in dead[stuck_id][b"reason"]


def _worker_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HELPSTREAM_DATABASE_URL": settings.database_url or "",
        "HELPSTREAM_REDIS_URL": settings.redis_url or "",
        "HELPSTREAM_PARTITIONS": str(settings.partitions),
        "HELPSTREAM_LEASE_REFRESH_SECONDS": "0.2",
        "HELPSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "helpstream.cli", "worker"], env=env)


async def test_a_batch_of_10000_same_second_clicks_of_one_customer_applies_within_a_second(
    api: httpx.AsyncClient,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """Issue 15 item 2: this batch used to block the worker's event loop for about a minute.

    The worker is a real `helpstream worker` process: the in-process worker fixture shares
    the test's event loop and its garbage collector walks the whole test session's heap,
    which is not what a worker pays."""
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "timestamp": T,
            "customer_id": 42,
            "source_page_id": i % 7,
            "target_page_id": (i * 3 + 1) % 7,
        }
        for i in range(10_000)
    ]
    worker = _worker_process(settings)
    try:
        # The worker first takes its partitions: timed is applying the batch, not start-up.
        warm_up = {"timestamp": T, "customer_id": 43, "source_page_id": 1, "target_page_id": 2}
        assert (await api.post("/v1/clicks", json=warm_up)).status_code == 202
        await wait_drained(redis, pool, settings.partitions, within=60)
        response = await api.post("/v1/clicks/batch", json={"events": events})
        assert response.status_code == 202, response.text
        started = time.perf_counter()
        await wait_drained(redis, pool, settings.partitions, within=60)
        elapsed = time.perf_counter() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    assert await pool.fetchval("SELECT count(*) FROM clicks WHERE customer_id = 42") == 10_000
    pages = await pool.fetchval("SELECT sum(path_length) FROM paths WHERE customer_id = 42")
    assert pages >= 10_001
    assert elapsed < 1.0, f"applying the batch took {elapsed:.2f} s"


class RecordingClickHandler(ClickHandler):
    """Records how many events each transaction applied (the real apply runs)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.applied: list[int] = []

    async def apply(
        self, conn: asyncpg.Connection, partition: int, events: list[Any], stream_time: int | None
    ) -> int | None:
        self.applied.append(len(events))
        return await super().apply(conn, partition, events, stream_time)


def two_clicks(customer: int, ts: int) -> dict[bytes, bytes]:
    clicks = [
        click_to_wire(ts, customer, 1, 2, False, str(uuid.uuid4()), "default"),
        click_to_wire(ts + 1, customer, 2, 3, False, str(uuid.uuid4()), "default"),
    ]
    return {PAYLOAD_FIELD: encode_events(clicks)}


async def test_a_read_is_applied_in_transactions_of_at_most_batch_events(
    redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    key = stream_key(PARTITION, "clicks")
    customers = [5, 9, 13, 17, 21, 25, 29]
    for i, customer in enumerate(customers):
        if i == 3:  # a poison entry among them: only its own transaction falls back
            poison_id = await redis.xadd(key, {PAYLOAD_FIELD: b'[["not", "a click"]]'})
        await redis.xadd(key, two_clicks(customer, T + i))
    handler = RecordingClickHandler(settings)
    handlers = {**default_handlers(settings), "clicks": handler}
    consumer = PartitionConsumer(
        PARTITION,
        pool,
        redis,
        handlers,
        batch_entries=100,
        batch_events=4,
        block_ms=20,
        sweep_seconds=60,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_drained(redis, pool, settings.partitions, within=15)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    for customer in customers:
        assert await paths_of(pool, customer) == [[1, 2, 3]]
    # Every good click applied once, never more than 4 events in one transaction, and
    # entries were grouped (2 + 2) wherever the poison was not among them; the poison's
    # own transaction fell back to one entry at a time and it never decoded.
    assert sum(handler.applied) == 14
    assert max(handler.applied) == 4
    dead = dict(await redis.xrange(dead_letter_key(PARTITION, "clicks")))
    assert list(dead) == [poison_id]
    applied_entries = await redis.hget(stats_key(PARTITION), "clicks_applied_entries")
    assert applied_entries == b"8"
