"""PostgreSQL failing under a running pipeline: every 202'd event is applied exactly once.

* the worker's connections (pool and lock connection) killed with `pg_terminate_backend`
  again and again while it applies a backlog and traffic keeps coming;
* PostgreSQL itself crashed (`pg_ctl stop -m immediate`) and started again mid-stream,
  on an embedded server of the test's own.

The paths in the end are the contract's on the complete event list (`tests.traffic`).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from helpstream.db.migrate import migrate
from helpstream.embedded import EmbeddedPostgres
from helpstream.keys import create_key
from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests import traffic
from tests.conftest import bearer, serve, wait_drained
from tests.integration.test_click_pipeline import approx, settled_paths
from tests.integration.test_worker_crash import start_worker_process

pytestmark = pytest.mark.integration


async def feed(api: httpx.AsyncClient, chunks: list[list[traffic.SentClick]]) -> int:
    """Post every chunk in order, each until it is acknowledged (202); returns the 503s."""
    refused = 0
    for chunk in chunks:
        body = {"events": [c.body() for c in chunk]}
        while True:
            try:
                response = await api.post("/v1/clicks/batch", json=body)
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 202:
                break
            assert response.status_code == 503, response.text
            refused += 1
            await asyncio.sleep(0.2)
    return refused


def workload(seed: int) -> tuple[list[traffic.SentClick], list[list[traffic.SentClick]]]:
    rng = random.Random(seed)
    sent = traffic.generate(rng, customers=48, clicks_per_customer=60)
    arrivals = traffic.arrival_order(rng, sent, 300, duplicate_share=0.1)
    return sent, traffic.batches(rng, arrivals, largest=40)


async def assert_applied_exactly_once(
    api: httpx.AsyncClient,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
    sent: list[traffic.SentClick],
) -> None:
    await wait_drained(redis, pool, settings.partitions, within=120)
    expected = traffic.expected_paths(sent, settings.path_timeout)
    want = [traffic.as_api(p) for p in expected]
    assert await settled_paths(api, want) == want
    assert await pool.fetchval("SELECT count(*) FROM clicks") == len(traffic.distinct(sent))
    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics == approx({**traffic.path_metrics(expected), "late_events": 0})


def stop_worker(worker: subprocess.Popen[bytes]) -> int:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    return worker.returncode


async def test_worker_connections_killed_mid_stream(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    sent, chunks = workload(5)
    worker = start_worker_process(settings)
    try:
        feeder = asyncio.create_task(feed(api, chunks))
        killed, rounds, stored_at_first_kill = 0, 0, None
        while rounds < 8:
            await asyncio.sleep(0.5)
            stored = await pool.fetchval("SELECT count(*) FROM clicks")
            if stored == 0:
                continue  # not started yet
            killed += await pool.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name LIKE 'helpstream-worker%'"
            )
            stored_at_first_kill = stored if stored_at_first_kill is None else stored_at_first_kill
            rounds += 1
        assert killed >= 8, "each round cut off the worker's connections"
        assert stored_at_first_kill is not None
        assert stored_at_first_kill < len(traffic.distinct(sent)), (
            "the kills should land in the middle of the work"
        )
        await feeder
        await assert_applied_exactly_once(api, redis, pool, settings, sent)
        assert worker.poll() is None, "the worker rode it out"
    finally:
        code = stop_worker(worker)
    assert code == 0


@pytest_asyncio.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_postgres_crashed_and_restarted_mid_stream(
    own_postgres: EmbeddedPostgres, redis: RedisClient, settings: Settings
) -> None:
    url = own_postgres.start()  # already running: its URL
    isolated = settings.model_copy(update={"database_url": url})
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn)
    key = (await create_key(pool, "admin", "faults")).key
    sent, chunks = workload(6)
    worker = start_worker_process(isolated)
    try:
        async with (
            serve(isolated) as base,
            httpx.AsyncClient(base_url=base, timeout=30, headers=bearer(key)) as api,
        ):
            feeder = asyncio.create_task(feed(api, chunks))
            for _ in range(600):
                if (
                    await pool.fetchval("SELECT count(*) FROM clicks")
                    > len(traffic.distinct(sent)) // 4
                ):
                    break
                await asyncio.sleep(0.05)
            pool.terminate()
            own_postgres.crash()
            await asyncio.sleep(1.0)
            assert own_postgres.start() == url  # the same socket: clients reconnect
            pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
            assert await pool.fetchval("SELECT count(*) FROM clicks") < len(traffic.distinct(sent))
            await feeder
            await assert_applied_exactly_once(api, redis, pool, isolated, sent)
            assert worker.poll() is None, "the worker rode it out"
    finally:
        code = stop_worker(worker)
        await pool.close()
    assert code == 0
