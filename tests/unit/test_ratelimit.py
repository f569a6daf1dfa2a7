"""The per-key rate limiter's local decisions, and failing open when Redis is down."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from api import ratelimit
from api.embedded import free_port
from api.ratelimit import RateLimiter


async def test_limit_holds_within_a_process_and_keys_are_separate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unreachable = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    limiter = RateLimiter(unreachable, {"read": 3, "ingest": 0})
    clock = [1_000.25]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    try:
        # Exactly `limit` per second; Retry-After is the rest of the second, rounded up.
        assert [limiter.hit(1, "read") for _ in range(5)] == [None, None, None, 1, 1]
        assert limiter.hit(2, "read") is None  # another key has its own budget
        assert all(limiter.hit(1, "ingest") is None for _ in range(100))  # 0 = unlimited
        clock[0] = 1_000.999
        assert limiter.hit(1, "read") == 1  # still the same window
        clock[0] = 1_001.0  # the next window starts afresh
        assert [limiter.hit(1, "read") for _ in range(4)] == [None, None, None, 1]
    finally:
        await unreachable.aclose()


async def test_sync_learns_other_processes_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The global total from Redis counts against the limit; the local count is not lost."""

    class Pipe:
        def __init__(self) -> None:
            self.calls: list[tuple[str, int]] = []

        async def __aenter__(self) -> Pipe:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        def incrby(self, key: str, count: int) -> None:
            self.calls.append((key, count))

        def expire(self, key: str, seconds: int) -> None:
            assert seconds == ratelimit.KEY_TTL_SECONDS

        async def execute(self) -> list[int]:
            return [c + 2 for _, c in self.calls for _ in (0, 1)]  # 2 from elsewhere

    class FakeRedis:
        def pipeline(self, transaction: bool) -> Pipe:
            return Pipe()

    monkeypatch.setattr(time, "time", lambda: 50.5)
    limiter = RateLimiter(FakeRedis(), {"read": 4})  # type: ignore[arg-type]
    assert limiter.hit(3, "read") is None
    await limiter.sync()
    window = limiter._windows[(3, "read")]
    assert (window.known, window.pending) == (3, 0)
    assert [limiter.hit(3, "read") for _ in range(2)] == [None, 1]  # 3 + 1 = the limit
    assert ratelimit.counter_key(3, "read", 50) == "hs:{rl}:3:read:50"


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
