"""A PostgreSQL statement that never returns cannot hang a consumer: it is cancelled after
`db_command_timeout` and retried, and the events are applied once it can go through.

The hang is real: another connection holds the partition's offset row, so the worker's
compare-and-set waits on the lock as it would on a connection whose replies never come.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import wait_drained

pytestmark = pytest.mark.integration


def start_worker(settings: Settings, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "helpstream.cli", "worker"],
        env={
            **os.environ,
            "HELPSTREAM_DATABASE_URL": settings.database_url or "",
            "HELPSTREAM_REDIS_URL": settings.redis_url or "",
            "HELPSTREAM_PARTITIONS": str(settings.partitions),
            "HELPSTREAM_LEASE_REFRESH_SECONDS": "0.2",
            "HELPSTREAM_LOG_LEVEL": "ERROR",
            **env,
        },
    )


def click(ts: int, customer: int) -> dict[str, int]:
    return {"timestamp": ts, "customer_id": customer, "source_page_id": 1, "target_page_id": 2}


async def waiting_statements(pool: asyncpg.Pool, holder: int) -> set[tuple[int, float]]:
    """(pid, start) of statements blocked behind ``holder``'s lock."""
    rows = await pool.fetch(
        "SELECT pid, extract(epoch FROM query_start)::float8 AS started FROM pg_stat_activity"
        " WHERE $1 = ANY(pg_blocking_pids(pid))",
        holder,
    )
    return {(r["pid"], r["started"]) for r in rows}


async def test_hanging_statement_is_cancelled_and_retried(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    worker = start_worker(settings, HELPSTREAM_DB_COMMAND_TIMEOUT="1")
    try:
        t = 1_600_000_000
        assert (await api.post("/v1/clicks", json=click(t, 1))).status_code == 202
        await wait_drained(redis, pool, settings.partitions, within=30)

        holder = await asyncpg.connect(settings.database_url)
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute(
                "SELECT * FROM stream_offsets WHERE partition = $1 FOR UPDATE",
                1 % settings.partitions,
            )
            holder_pid = holder.get_server_pid()
            assert (await api.post("/v1/clicks", json=click(t + 5, 1))).status_code == 202
            attempts: set[tuple[int, float]] = set()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                attempts |= await waiting_statements(pool, holder_pid)
                await asyncio.sleep(0.05)
            # Cancelled after 1 s and tried again, more than once, while the lock is held.
            assert len({started for _, started in attempts}) >= 3, attempts
            await tx.rollback()
        finally:
            await holder.close()

        await wait_drained(redis, pool, settings.partitions, within=30)
        rows = await pool.fetch("SELECT ts FROM clicks WHERE customer_id = 1 ORDER BY ts")
        assert [r["ts"] for r in rows] == [t, t + 5]
        items = (await api.get("/v1/paths", params={"customer_id": 1})).json()["items"]
        assert [i["path"] for i in items] == [[1, 2, 1, 2]]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    assert worker.returncode == 0
