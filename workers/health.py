"""`helpstream worker --check`: a container health check for a process that serves no HTTP.

Healthy means: PostgreSQL and Redis answer, and a worker on this host (a container's
hostname is its own) has heartbeated within `worker_heartbeat_timeout`. A worker that hangs
stops heartbeating, so the check fails and the orchestrator can restart it.
"""

from __future__ import annotations

import socket

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from helpstream.settings import Settings

TIMEOUT = 5.0


async def check_worker(settings: Settings, host: str | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why)."""
    database_url, redis_url = settings.require_urls()
    host = host or socket.gethostname()
    try:
        conn = await asyncpg.connect(database_url, timeout=TIMEOUT)
        try:
            beat = await conn.fetchval(
                "SELECT extract(epoch FROM now() - max(heartbeat_at)) FROM workers"
                " WHERE starts_with(worker_id, $1)",
                f"{host}:",
            )
        finally:
            await conn.close()
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return False, f"PostgreSQL unreachable: {exc!r}"
    client = aioredis.Redis.from_url(redis_url, socket_timeout=TIMEOUT)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        return False, f"Redis unreachable: {exc!r}"
    finally:
        await client.aclose()
    if beat is None:
        return False, f"no worker on {host} has heartbeated"
    if float(beat) > settings.worker_heartbeat_timeout:
        return False, f"the worker on {host} last heartbeated {float(beat):.0f}s ago"
    return True, f"ok: worker on {host} heartbeated {float(beat):.1f}s ago"
