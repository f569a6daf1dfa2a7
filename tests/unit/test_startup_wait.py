"""Waiting for servers at startup (helpstream/retry.py): retried with backoff and a log line,
given up after the wait, other errors not retried."""

from __future__ import annotations

import logging

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from helpstream.database import create_pool
from helpstream.embedded import free_port
from helpstream.retry import open_redis, until_up
from helpstream.settings import Settings


async def test_retries_until_the_server_is_up(caplog: pytest.LogCaptureFixture) -> None:
    attempts = []

    async def connect() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "connected"

    with caplog.at_level(logging.WARNING, logger="helpstream.retry"):
        assert await until_up("PostgreSQL", connect, wait_seconds=10) == "connected"
    assert len(attempts) == 3
    assert [r.message.split(" (")[0] for r in caplog.records] == [
        "PostgreSQL not reachable yet"
    ] * 2


async def test_other_errors_are_not_retried() -> None:
    attempts = []

    async def connect() -> None:
        attempts.append(1)
        raise asyncpg.InvalidPasswordError("password authentication failed")

    with pytest.raises(asyncpg.InvalidPasswordError):
        await until_up("PostgreSQL", connect, wait_seconds=10)
    assert len(attempts) == 1


async def test_pool_and_redis_give_up_after_the_wait() -> None:
    closed = free_port()  # nothing listens there
    settings = Settings(
        database_url=f"postgresql://nobody@127.0.0.1:{closed}/x",
        redis_url=f"redis://127.0.0.1:{closed}/0",
        startup_wait_seconds=0.6,
    )
    with pytest.raises(OSError):
        await create_pool(settings.database_url or "", settings, "test")
    with pytest.raises(RedisConnectionError):
        await open_redis(settings.redis_url or "", settings)
