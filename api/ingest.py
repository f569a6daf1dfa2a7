"""Getting events into Redis Streams fast, and saying no when we cannot.

`StreamWriter` coalesces the XADDs of concurrent requests into one pipelined round trip:
while one pipeline is in flight, new requests queue up and go together in the next one.
A request is answered 202 only when its own entries were written.

`BacklogMonitor` polls the partition streams' lengths so ingest can answer 503 when
workers fall too far behind, without an extra Redis call per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from workers.streams import KINDS, PAYLOAD_FIELD, RedisClient, stream_key

log = logging.getLogger(__name__)


class BufferUnavailable(Exception):
    """Redis could not take the events (unreachable, or over its backlog limit)."""


class StreamWriter:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._queue: list[tuple[Sequence[tuple[str, bytes]], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._queue:
            if not future.done():
                future.set_exception(BufferUnavailable("shutting down"))

    async def append(self, entries: Sequence[tuple[str, bytes]]) -> None:
        """Write (stream key, payload) entries; returns once they are in Redis."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((entries, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if batch:
                await self._flush(batch)

    async def _flush(
        self, batch: list[tuple[Sequence[tuple[str, bytes]], asyncio.Future[None]]]
    ) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for entries, _ in batch:
                    for key, payload in entries:
                        pipe.xadd(key, {PAYLOAD_FIELD: payload})
                await pipe.execute()
        except Exception as exc:  # any failure: none of these requests may answer 202
            log.warning("writing %d requests to Redis failed: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(BufferUnavailable(str(exc)))
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)


class BacklogMonitor:
    """Keeps the newest known length of every partition stream."""

    def __init__(self, redis: RedisClient, partitions: int, limit: int, interval: float = 0.5):
        self.redis = redis
        self.partitions = partitions
        self.limit = limit
        self.interval = interval
        self.lengths: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def over_limit(self) -> bool:
        return any(length > self.limit for length in self.lengths.values())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="backlog-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        keys = [stream_key(p, kind) for p in range(self.partitions) for kind in KINDS]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.xlen(key)
            lengths = await pipe.execute()
        self.lengths = dict(zip(keys, (int(n) for n in lengths), strict=True))

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # Redis down: the writer reports it per request
                log.debug("backlog refresh failed: %r", exc)
            await asyncio.sleep(self.interval)
