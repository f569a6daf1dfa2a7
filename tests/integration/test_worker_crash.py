"""A worker killed with SIGKILL in the middle of its batches loses and double-counts nothing."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from helpstream.workers.consumer import PartitionConsumer
from helpstream.workers.handlers import default_handlers
from tests import traffic
from tests.conftest import wait_drained
from tests.integration.test_click_pipeline import all_paths, approx, post_all, settled_paths

pytestmark = pytest.mark.integration


def start_worker_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HELPSTREAM_DATABASE_URL": settings.database_url or "",
        "HELPSTREAM_REDIS_URL": settings.redis_url or "",
        "HELPSTREAM_PARTITIONS": str(settings.partitions),
        "HELPSTREAM_WORKER_BATCH_ENTRIES": "3",  # many small transactions to kill in between
        "HELPSTREAM_LEASE_REFRESH_SECONDS": "0.2",
        "HELPSTREAM_WORKER_SWEEP_SECONDS": "0.2",
        "HELPSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "helpstream.cli", "worker"], env=env)


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM])
async def test_worker_stopped_mid_batch_then_restarted(
    stop_signal: signal.Signals,
    api: httpx.AsyncClient,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    rng = random.Random(42 + stop_signal)
    sent = traffic.generate(rng, customers=48, clicks_per_customer=60)
    arrivals = traffic.arrival_order(rng, sent, settings.allowed_lateness, duplicate_share=0.1)
    await post_all(api, traffic.batches(rng, arrivals, largest=40))

    first = start_worker_process(settings)
    try:
        clicks_before = 0
        for _ in range(600):  # wait until the worker is well into the backlog
            clicks_before = await pool.fetchval("SELECT count(*) FROM clicks")
            if clicks_before > len(sent) // 4:
                break
            await asyncio.sleep(0.01)
        first.send_signal(stop_signal)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    stored_at_stop = await pool.fetchval("SELECT count(*) FROM clicks")
    distinct = len(traffic.distinct(sent))  # equal content without event_id counts once
    assert 0 < stored_at_stop < distinct, "the stop should land in the middle of the work"

    second = start_worker_process(settings)
    try:
        await wait_drained(redis, pool, settings.partitions, within=120)
        # Still running: its wall-clock sweep closes paths idle on the whole stream.
        expected = traffic.expected_paths(sent, settings.path_timeout)
        want = [traffic.as_api(p) for p in expected]
        assert await settled_paths(api, want) == want
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    assert second.returncode == 0

    assert await pool.fetchval("SELECT count(*) FROM clicks") == distinct
    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics == approx({**traffic.path_metrics(expected), "late_events": 0})
    pages = (await api.get("/v1/metrics/pages", params={"limit": 1000})).json()
    assert traffic.without_names(pages) == traffic.expected_page_metrics(expected)


async def test_two_owners_of_one_partition_lose_and_double_nothing(
    api: httpx.AsyncClient,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """A stale owner (lost its lock, still running) and a new one race on one partition."""
    rng = random.Random(99)
    sent = traffic.generate(rng, customers=40, clicks_per_customer=20)
    await post_all(api, traffic.batches(rng, sent, largest=5))
    handlers = default_handlers(settings)

    def consumer() -> PartitionConsumer:
        return PartitionConsumer(
            0, pool, redis, handlers, batch_entries=2, block_ms=20, sweep_seconds=60
        )

    stop = asyncio.Event()
    racers = [asyncio.create_task(consumer().run(stop)) for _ in range(2)]
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*racers)
    # Whoever is left (or a new owner) finishes the partition.
    finisher_stop = asyncio.Event()
    finisher = asyncio.create_task(consumer().run(finisher_stop))
    in_partition = [s for s in sent if s.click.customer_id % settings.partitions == 0]
    distinct = len(traffic.distinct(in_partition))
    for _ in range(300):
        stored = await pool.fetchval(
            "SELECT count(*) FROM clicks WHERE customer_id % $1 = 0", settings.partitions
        )
        if stored == distinct:
            break
        await asyncio.sleep(0.05)
    finisher_stop.set()
    await finisher
    assert stored == distinct
    expected = traffic.expected_paths(in_partition, settings.path_timeout)
    got = [p for p in await all_paths(api) if p["customer_id"] % settings.partitions == 0]
    # Paths of partition 0 only; open/abandoned may depend on the other partitions' time.
    assert [(p["customer_id"], p["path"]) for p in got] == [
        (p.customer_id, p.pages) for p in expected
    ]
