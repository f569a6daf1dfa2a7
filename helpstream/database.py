"""Connecting to PostgreSQL the same way everywhere: pools for services, one-off connections
for the command line. Every entry point migrates first (`helpstream.db.migrate`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from helpstream.db.migrate import migrate
from helpstream.retry import until_up
from helpstream.settings import Settings


async def create_pool(database_url: str, settings: Settings) -> asyncpg.Pool:
    """The pool a long-running process (API, worker) uses, migrated before first use.

    A PostgreSQL that does not accept connections yet is waited for (`startup_wait_seconds`).
    """

    async def open_pool() -> asyncpg.Pool:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        return pool

    pool = await until_up("PostgreSQL", open_pool, settings.startup_wait_seconds)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
    except BaseException:
        await pool.close()
        raise
    return pool


@asynccontextmanager
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """One migrated connection, for commands that do a few statements and exit."""
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn)
        yield conn
    finally:
        await conn.close()
