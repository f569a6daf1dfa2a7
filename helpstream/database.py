"""Connecting to PostgreSQL the same way everywhere: pools for services, one-off connections
for the command line. Every entry point migrates first (`helpstream.db.migrate`).

How every helpstream process connects to PostgreSQL: explicit timeouts and keepalives.

Without them a connection whose peer vanished (a host gone, a network blackholing
packets) looks alive for hours: a statement on it waits forever, and a worker's advisory
locks stay held until the kernel's TCP keepalive gives up. So:

* ``command_timeout``: the client cancels any statement after this long; the caller sees
  a timeout (a transient error: the consumer retries, on a fresh connection if need be);
* ``timeout``: connecting gives up after this long;
* the server-side TCP keepalive and ``tcp_user_timeout``: the server drops a session
  whose client stopped answering within about half a minute, which releases its locks
  (ignored on Unix-domain sockets, where a dead peer is noticed at once).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from helpstream.db.deployment import prepare_database
from helpstream.db.migrate import migrate
from helpstream.retry import until_up
from helpstream.settings import Settings


def connect_options(
    settings: Settings, application_name: str, command_timeout: float | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``asyncpg.connect`` / ``asyncpg.create_pool``."""
    return {
        "command_timeout": command_timeout or settings.db_command_timeout,
        "timeout": settings.db_connect_timeout,
        "server_settings": {
            "application_name": application_name[:63],
            "tcp_keepalives_idle": str(settings.db_keepalive_idle),
            "tcp_keepalives_interval": str(settings.db_keepalive_interval),
            "tcp_keepalives_count": str(settings.db_keepalive_count),
            # Unacknowledged data: the same bound (milliseconds).
            "tcp_user_timeout": str(
                1000
                * (
                    settings.db_keepalive_idle
                    + settings.db_keepalive_interval * settings.db_keepalive_count
                )
            ),
        },
    }


async def create_pool(
    database_url: str,
    settings: Settings,
    process: str,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    """The pool a long-running process (API, worker) uses: migrated, and refused unless the
    configured partition count is the deployment's (contract §6).

    A PostgreSQL that does not accept connections yet is waited for (`startup_wait_seconds`).
    ``server_settings``: more session settings for this process's connections.
    """
    options = connect_options(settings, f"helpstream-{process} pid={os.getpid()}")
    options["server_settings"].update(server_settings or {})

    async def open_pool() -> asyncpg.Pool:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, **options
        )
        return pool

    pool = await until_up("PostgreSQL", open_pool, settings.startup_wait_seconds)
    try:
        async with pool.acquire() as conn:
            await prepare_database(conn, settings.partitions)
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
