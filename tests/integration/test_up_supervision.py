"""`helpstream up` keeps its children running: a worker killed with SIGKILL comes back
(after a short backoff) and events are still applied; the API and `up` stay up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import asyncpg
import httpx
import pytest

from helpstream.embedded import free_port
from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import bearer, wait_drained

pytestmark = pytest.mark.integration


async def worker_pids(pool: asyncpg.Pool) -> set[int]:
    """Client pids of the workers' lock connections (named after the worker process)."""
    rows = await pool.fetch(
        "SELECT application_name FROM pg_stat_activity"
        " WHERE application_name LIKE 'helpstream-worker pid=% %'"
    )
    return {int(r["application_name"].split()[1].removeprefix("pid=")) for r in rows}


async def wait_for(check, within: float = 30.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await check()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


def start_up(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HELPSTREAM_DATABASE_URL": settings.database_url or "",
        "HELPSTREAM_REDIS_URL": settings.redis_url or "",
        "HELPSTREAM_PARTITIONS": str(settings.partitions),
        "HELPSTREAM_LEASE_REFRESH_SECONDS": "0.2",
        "HELPSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "helpstream.cli", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def test_up_restarts_a_killed_worker(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient, api_keys: dict[str, str]
) -> None:
    port = free_port()
    up = start_up(settings, port)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=bearer(api_keys["ingest"]), timeout=10
        ) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            assert await wait_for(healthy)
            first = await wait_for(lambda: worker_pids(pool))
            assert len(first) == 1, first
            victim = first.pop()
            os.kill(victim, signal.SIGKILL)

            async def replaced() -> set[int]:
                pids = await worker_pids(pool)
                return pids if pids and victim not in pids else set()

            second = await wait_for(replaced)
            assert len(second) == 1, "up started the worker again"
            assert up.poll() is None, "up itself is still running"

            t = 1_600_000_000
            event = {"timestamp": t, "customer_id": 3, "source_page_id": 1, "target_page_id": 2}
            assert (await client.post("/v1/clicks", json=event)).status_code == 202
            await wait_drained(redis, pool, settings.partitions, within=30)
            assert await pool.fetchval("SELECT count(*) FROM clicks") == 1
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    assert up.returncode == 0
