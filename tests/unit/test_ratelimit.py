"""The per-key rate limiter's local decisions, and failing open when Redis is down."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from helpstream.api.ratelimit import RateLimiter
from helpstream.embedded import free_port


async def test_limit_holds_within_a_process_and_keys_are_separate() -> None:
    unreachable = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    limiter = RateLimiter(unreachable, {"read": 3, "ingest": 0})
    try:
        verdicts = [limiter.hit(1, "read") for _ in range(10)]
        allowed = verdicts.count(None)
        # 10 calls can straddle one second boundary: at most two windows of 3.
        assert 3 <= allowed <= 6
        assert all(v is None or v >= 1 for v in verdicts)
        assert limiter.hit(2, "read") is None  # another key has its own budget
        assert all(limiter.hit(1, "ingest") is None for _ in range(100))  # 0 = unlimited
    finally:
        await unreachable.aclose()


async def test_redis_down_fails_open_across_processes_but_keeps_the_local_limit() -> None:
    unreachable = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2
    )
    limiter = RateLimiter(unreachable, {"read": 1000})
    await asyncio.sleep(1.01 - time.time() % 1)  # all of it within one one-second window
    try:
        assert limiter.hit(7, "read") is None
        await limiter.sync()  # fails: logged, not raised
        assert limiter.hit(7, "read") is None
        window = limiter._windows[(7, "read")]
        assert window.known + window.pending == 2  # still counted locally
    finally:
        await unreachable.aclose()
