"""A worker killed with SIGKILL: the survivors apply its partitions again within 5 s.

Two worker processes share the partitions; one is killed mid-stream. Its lock
connection closes with it, so the survivor counts one live worker at its next lease
refresh and takes the freed partitions, with the default timings. Every acknowledged
event is applied exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from helpstream.workers.runner import PARTITION_LOCK_CLASS
from tests import traffic
from tests.conftest import wait_drained
from tests.integration.test_click_pipeline import post_all, settled_paths

pytestmark = pytest.mark.integration

TAKEOVER_SECONDS = 5.0


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """A worker with the default lease and heartbeat timings, in small batches."""
    env = {
        **os.environ,
        "HELPSTREAM_DATABASE_URL": settings.database_url or "",
        "HELPSTREAM_REDIS_URL": settings.redis_url or "",
        "HELPSTREAM_PARTITIONS": str(settings.partitions),
        "HELPSTREAM_WORKER_BATCH_ENTRIES": "3",
        "HELPSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "helpstream.cli", "worker"], env=env)


async def feed_slowly(api: httpx.AsyncClient, chunks: list[list[traffic.SentClick]]) -> None:
    for chunk in chunks:
        await post_all(api, [chunk])
        await asyncio.sleep(0.005)


async def lock_holders(pool: asyncpg.Pool) -> dict[int, int]:
    """Partition -> backend pid of the connection holding its advisory lock."""
    rows = await pool.fetch(
        "SELECT objid::int AS partition, pid FROM pg_locks WHERE locktype = 'advisory'"
        " AND classid = $1 AND objsubid = 2 AND granted",
        PARTITION_LOCK_CLASS,
    )
    return {r["partition"]: r["pid"] for r in rows}


async def offsets(pool: asyncpg.Pool) -> dict[int, str]:
    rows = await pool.fetch("SELECT partition, last_id FROM stream_offsets WHERE stream = 'clicks'")
    return {r["partition"]: r["last_id"] for r in rows}


async def test_killed_workers_partitions_are_applied_again_within_5_s(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    rng = random.Random(7)
    sent = traffic.generate(rng, customers=48, clicks_per_customer=60)
    arrivals = traffic.arrival_order(rng, sent, settings.allowed_lateness, duplicate_share=0.1)
    chunks = traffic.batches(rng, arrivals, largest=4)
    split = len(chunks) * 2 // 5
    await post_all(api, chunks[:split])  # a backlog, and the rest keeps coming meanwhile

    workers = [start_worker(settings), start_worker(settings)]
    feeder = asyncio.create_task(feed_slowly(api, chunks[split:]))
    try:
        holders: dict[int, int] = {}
        for _ in range(300):  # both workers hold partitions
            holders = await lock_holders(pool)
            if len(holders) == settings.partitions and len(set(holders.values())) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(set(holders.values())) == 2, holders
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = time.monotonic()
        # The killed process's server backends end when PostgreSQL reads its closed socket:
        # soon, but not always before the next query here.
        orphaned: set[int] = set()
        while not orphaned and time.monotonic() - killed_at < TAKEOVER_SECONDS:
            alive = {r["pid"] for r in await pool.fetch("SELECT pid FROM pg_stat_activity")}
            orphaned = {p for p, pid in holders.items() if pid not in alive}
            await asyncio.sleep(0 if orphaned else 0.01)
        assert orphaned, "the killed worker held partitions, and its connections ended"
        at_kill = await offsets(pool)
        assert not feeder.done(), "the kill should land mid-stream"

        moved: set[int] = set()
        while moved != orphaned and time.monotonic() - killed_at < 30:
            now = await offsets(pool)
            moved = {p for p in orphaned if now[p] != at_kill[p]}
            await asyncio.sleep(0.02)
        took = time.monotonic() - killed_at
        print(f"orphaned partitions {sorted(orphaned)} applied again after {took:.2f} s")
        assert moved == orphaned
        assert took <= TAKEOVER_SECONDS, f"orphaned partitions applied again after {took:.1f} s"

        await feeder
        await wait_drained(redis, pool, settings.partitions, within=240)
        expected = [traffic.as_api(p) for p in traffic.expected_paths(sent, settings.path_timeout)]
        assert await settled_paths(api, expected, within=15) == expected
        assert await pool.fetchval("SELECT count(*) FROM clicks") == len(traffic.distinct(sent))
    finally:
        feeder.cancel()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)
