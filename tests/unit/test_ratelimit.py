"""The per-key rate limiter's local decisions, and failing open when Redis is down."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from helpstream.api import ratelimit
from helpstream.api.ratelimit import RateLimiter
from helpstream.embedded import free_port


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


class RecordingRedis:
    """Stands in for Redis in the sync: records the pipelined commands, answers INCRBY."""

    def __init__(self, elsewhere: int = 0, fail: bool = False) -> None:
        self.elsewhere, self.fail = elsewhere, fail
        self.commands: list[tuple[str, str, int]] = []
        self.transactions: list[bool] = []

    def pipeline(self, transaction: bool) -> RecordingRedis:
        self.transactions.append(transaction)
        return self

    async def __aenter__(self) -> RecordingRedis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def incrby(self, key: str, count: int) -> None:
        self.commands.append(("incrby", key, count))

    def expire(self, key: str, seconds: int) -> None:
        self.commands.append(("expire", key, seconds))

    async def execute(self) -> list[int]:
        if self.fail:
            raise ConnectionError("redis is away")
        return [c + self.elsewhere if op == "incrby" else 1 for op, _, c in self.commands]


def test_unknown_class_is_unlimited_and_a_limit_of_one_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time", lambda: 7.5)
    limiter = RateLimiter(RecordingRedis(), {"read": 1})  # type: ignore[arg-type]
    assert all(limiter.hit(1, "admin") is None for _ in range(50))
    assert [limiter.hit(1, "read") for _ in range(3)] == [None, 1, 1]


async def test_hits_wake_the_sync_which_counts_and_expires_in_one_round_trip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time", lambda: 42.5)
    redis = RecordingRedis()
    limiter = RateLimiter(redis, {"ingest": 10}, sync_interval=0.01)  # type: ignore[arg-type]
    limiter.start()
    try:
        limiter.hit(5, "ingest")
        limiter.hit(5, "ingest")
        for _ in range(200):
            if redis.commands:
                break
            await asyncio.sleep(0.01)
    finally:
        await limiter.stop()
    key = ratelimit.counter_key(5, "ingest", 42)
    assert redis.commands == [("incrby", key, 2), ("expire", key, ratelimit.KEY_TTL_SECONDS)]
    assert redis.transactions == [False]  # plain pipelining: counters need no MULTI/EXEC


async def test_failed_syncs_warn_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(time, "time", lambda: 9.5)
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    limiter = RateLimiter(RecordingRedis(fail=True), {"read": 100})  # type: ignore[arg-type]
    warned = []
    with caplog.at_level("WARNING", logger="api.ratelimit"):
        # At most one warning per 10 s (monotonic): at 0 s, not at 1 s or exactly 10 s later,
        # again at 10.5 s.
        for at in (1000.0, 1001.0, 1010.0, 1010.5):
            clock[0] = at
            before = len(caplog.records)
            limiter.hit(1, "read")
            await limiter.sync()
            warned.append(len(caplog.records) > before)
    assert warned == [True, False, False, True]
    assert all("rate limit sync" in r.getMessage() for r in caplog.records)
    window = limiter._windows[(1, "read")]
    assert (window.known, window.pending) == (4, 0)  # counted locally, nothing lost


async def test_sync_of_several_keys_reads_each_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 3.5)
    limiter = RateLimiter(RecordingRedis(elsewhere=5), {"read": 100})  # type: ignore[arg-type]
    for key_id, hits in ((1, 2), (2, 3), (3, 1)):
        for _ in range(hits):
            limiter.hit(key_id, "read")
    await limiter.sync()
    known = {k[0]: (w.known, w.pending) for k, w in limiter._windows.items()}
    assert known == {1: (7, 0), 2: (8, 0), 3: (6, 0)}
