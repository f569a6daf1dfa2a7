"""Waiting for a server at startup: containers start in any order (compose, Kubernetes).

An API or worker started before PostgreSQL or Redis accepts connections retries with
exponential backoff, logging each failure, until `startup_wait_seconds` have passed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from helpstream.settings import Settings
from helpstream.streams import RedisClient, connect_redis, detect_cluster, redis_options

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_YET_UP: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, DNS not yet there
    asyncio.TimeoutError,
    asyncpg.CannotConnectNowError,  # "the database system is starting up"
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
)


async def until_up(what: str, connect: Callable[[], Awaitable[T]], wait_seconds: float) -> T:
    """``connect()``, retried with backoff (0.5 s doubling to 5 s) for ``wait_seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.5
    while True:
        try:
            return await connect()
        except NOT_YET_UP as exc:
            left = deadline - loop.time()
            if left <= 0:
                raise
            delay = min(delay, left)
            log.warning("%s not reachable yet (%r); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def open_redis(url: str, settings: Settings) -> RedisClient:
    """A Redis client in the mode the server runs in: cluster when the flag says so or the
    server reports it (contract §6), waiting for a server that is not up yet."""
    cluster = settings.redis_cluster or await until_up(
        "Redis", lambda: detect_cluster(url), settings.startup_wait_seconds
    )
    if cluster and not settings.redis_cluster:
        log.info("Redis at %s reports cluster mode: using the cluster client", _redacted(url))
    return connect_redis(url, cluster, **redis_options(settings))


def _redacted(url: str) -> str:
    """The URL without a password, for the log."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"
