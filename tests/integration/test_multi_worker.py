"""Several workers against one PostgreSQL and Redis (contract §6: scale-out).

Two in-process `Worker`s share the partitions fairly; a third (a real `helpstream worker`
process) joins and gets its share handed over; it is then killed with SIGKILL and the
others take its partitions over; one of them stops and the last takes everything. Traffic
keeps arriving through all of it, and the final paths and metrics equal the oracle's.

No timing is asserted beyond generous waits (a hand-over may take a few heartbeats).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from helpstream.workers.runner import PARTITION_LOCK_CLASS, Worker
from tests import traffic
from tests.conftest import bearer, serve, wait_drained
from tests.integration.test_click_pipeline import post_all, settled_paths

pytestmark = pytest.mark.integration

PARTITIONS = 6  # 2 workers: 3 each; 3 workers: 2 each
PATIENCE = 60.0


class InProcessWorker:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis: RedisClient) -> None:
        self.worker = Worker(settings, pool, redis)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.worker.run(self.stop))

    @property
    def partitions(self) -> set[int]:
        return set(self.worker.partitions)

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=30)


def worker_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HELPSTREAM_DATABASE_URL": settings.database_url or "",
        "HELPSTREAM_REDIS_URL": settings.redis_url or "",
        "HELPSTREAM_PARTITIONS": str(settings.partitions),
        "HELPSTREAM_LEASE_REFRESH_SECONDS": str(settings.lease_refresh_seconds),
        "HELPSTREAM_WORKER_HEARTBEAT_TIMEOUT": str(settings.worker_heartbeat_timeout),
        "HELPSTREAM_WORKER_SWEEP_SECONDS": "0.5",
        "HELPSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "helpstream.cli", "worker"], env=env)


async def locked_partitions(pool: asyncpg.Pool) -> list[int]:
    """Partitions whose advisory lock is held by some session (any worker, any process)."""
    rows = await pool.fetch(
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND granted",
        PARTITION_LOCK_CLASS,
    )
    return sorted(int(r["objid"]) for r in rows)


async def eventually(check: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {PATIENCE:.0f} s: {what}")
        await asyncio.sleep(0.1)


async def test_workers_share_hand_over_and_take_over(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient, api_keys: dict[str, str]
) -> None:
    cfg = settings.model_copy(update={"partitions": PARTITIONS})
    rng = random.Random(314)
    sent = traffic.generate(rng, customers=36, clicks_per_customer=30)
    arrivals = traffic.arrival_order(rng, sent, cfg.allowed_lateness, duplicate_share=0.1)
    chunks = traffic.batches(rng, arrivals, largest=30)
    quarter = len(chunks) // 4  # one quarter of the traffic per phase, in arrival order
    phases = [chunks[i * quarter : (i + 1) * quarter] for i in range(3)] + [chunks[3 * quarter :]]

    pools = [await asyncpg.create_pool(cfg.database_url, min_size=1, max_size=6) for _ in range(2)]
    process: subprocess.Popen[bytes] | None = None
    async with (
        serve(cfg) as url,
        httpx.AsyncClient(base_url=url, timeout=30, headers=bearer(api_keys["admin"])) as api,
    ):
        one, two = (InProcessWorker(cfg, p, redis) for p in pools)
        try:
            await post_all(api, phases[0])

            def split_evenly() -> bool:
                a, b = one.partitions, two.partitions
                return len(a) == len(b) == 3 and not a & b

            await eventually(split_evenly, "two workers own 3 partitions each")

            process = worker_process(cfg)
            await post_all(api, phases[1])

            async def three_way() -> bool:
                a, b = one.partitions, two.partitions
                locked = await locked_partitions(pool)
                return len(a) == len(b) == 2 and not a & b and locked == list(range(PARTITIONS))

            await eventually(three_way, "a joining worker gets its share handed over")

            process.send_signal(signal.SIGKILL)
            process.wait(30)
            await post_all(api, phases[2])
            await eventually(split_evenly, "the survivors take over the killed worker's share")

            await one.shutdown()
            await post_all(api, phases[3])
            await eventually(lambda: two.partitions == set(range(PARTITIONS)), "the last owns all")

            await wait_drained(redis, pool, PARTITIONS, within=120)
            expected = traffic.expected_paths(sent, cfg.path_timeout)
            want = [traffic.as_api(p) for p in expected]
            assert await settled_paths(api, want, within=30) == want
            assert await pool.fetchval("SELECT count(*) FROM clicks") == len(traffic.distinct(sent))
            metrics = (await api.get("/v1/metrics/paths")).json()
            assert metrics == traffic.expected_path_metrics(expected)
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(30)
            for handle in (one, two):
                if not handle.task.done():
                    await handle.shutdown()
            for p in pools:
                await p.close()
