"""Per-key request rate limits, shared through Redis without a Redis call per request.

Fixed one-second windows. Each process decides locally from the newest global count it
knows for (key, class, second) plus its own not-yet-synced requests; a background task
adds the local counts to Redis (`INCRBY hs:{rl}:<key>:<class>:<second>`) for all active
keys in one pipelined round trip every `sync_interval`, and learns the global totals from
the replies. So the limit holds exactly within one process and approximately across many
(they may overshoot by what arrives within one sync interval), and ingest keeps its
single round trip to Redis per request (the XADD).

If Redis is unreachable the limiter fails open across processes but keeps enforcing the
limit per process. Failing closed would turn a Redis outage into an outage of the read
API too, which is served from PostgreSQL; ingest answers 503 by itself without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass

from helpstream.streams import RedisClient

log = logging.getLogger(__name__)

KEY_TTL_SECONDS = 5  # a window's counter outlives its second a little, then expires


def counter_key(key_id: int, klass: str, second: int) -> str:
    """One slot for all counters (hash tag {rl}) keeps a sync to one pipelined round trip."""
    return f"hs:{{rl}}:{key_id}:{klass}:{second}"


@dataclass(slots=True)
class _Window:
    second: int
    known: int = 0  # global count (all processes) as of this process's last sync
    pending: int = 0  # requests this process accepted and has not yet added to Redis


class RateLimiter:
    def __init__(
        self, redis: RedisClient, limits: dict[str, int], sync_interval: float = 0.05
    ) -> None:
        self.redis = redis
        self.limits = limits
        self.sync_interval = sync_interval
        self._windows: dict[tuple[int, str], _Window] = {}
        self._dirty: dict[tuple[int, str], _Window] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_warning = 0.0

    def hit(self, key_id: int, klass: str) -> int | None:
        """Count one request; returns None if allowed, else Retry-After in seconds."""
        limit = self.limits.get(klass, 0)
        if limit <= 0:  # 0 = unlimited
            return None
        now = time.time()
        second = int(now)
        slot = (key_id, klass)
        window = self._windows.get(slot)
        if window is None or window.second != second:
            window = self._windows[slot] = _Window(second)
        if window.known + window.pending >= limit:
            return max(1, math.ceil(second + 1 - now))
        window.pending += 1
        self._dirty[slot] = window
        self._wake.set()
        return None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rate-limit-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.sync_interval)  # gather a batch of requests first
            self._wake.clear()
            await self.sync()

    async def sync(self) -> None:
        """Add local counts to Redis and learn the global totals, in one round trip."""
        dirty, self._dirty = self._dirty, {}
        batch = [(slot, window, window.pending) for slot, window in dirty.items() if window.pending]
        if not batch:
            return
        try:
            async with asyncio.timeout(1.0):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for (key_id, klass), window, count in batch:
                        key = counter_key(key_id, klass, window.second)
                        pipe.incrby(key, count)
                        pipe.expire(key, KEY_TTL_SECONDS)
                    replies = await pipe.execute()
        except Exception as exc:  # fail open across processes; local counts still hold
            now = time.monotonic()
            if now - self._last_warning > 10:
                self._last_warning = now
                log.warning("rate limit sync with Redis failed (limits are per process): %r", exc)
            for _, window, count in batch:
                window.pending -= count
                window.known += count
            return
        for (_, window, count), total in zip(batch, replies[::2], strict=True):
            window.pending -= count
            window.known = max(window.known, int(total))
