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
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from helpstream.streams import KINDS, RedisClient, stats_key, stream_key
from helpstream.wire import PAYLOAD_FIELD, encode_events

log = logging.getLogger(__name__)


class BufferUnavailable(Exception):
    """Redis could not take the events (unreachable, or over its backlog limit)."""


@dataclass(frozen=True, slots=True)
class StreamEntry:
    partition: int
    kind: str
    payload: bytes
    events: int


class StreamWriter:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._queue: list[tuple[Sequence[StreamEntry], asyncio.Future[None]]] = []
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

    async def append_events(
        self, kind: str, routed: Iterable[tuple[int, Any]], partitions: int
    ) -> int:
        """Write (routing id, wire event) pairs, one entry per partition; returns the count."""
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for routing_id, event in routed:
            by_partition[routing_id % partitions].append(event)
        await self.append(
            [
                StreamEntry(partition, kind, encode_events(events), len(events))
                for partition, events in by_partition.items()
            ]
        )
        return sum(len(events) for events in by_partition.values())

    async def append(self, entries: Sequence[StreamEntry]) -> None:
        """Write entries; returns once they are in Redis."""
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

    async def _flush(self, batch: list[tuple[Sequence[StreamEntry], asyncio.Future[None]]]) -> None:
        ingested: dict[tuple[int, str], int] = defaultdict(int)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for entries, _ in batch:
                    for entry in entries:
                        pipe.xadd(
                            stream_key(entry.partition, entry.kind), {PAYLOAD_FIELD: entry.payload}
                        )
                        ingested[(entry.partition, entry.kind)] += entry.events
                for (partition, kind), count in ingested.items():  # for /metrics
                    pipe.hincrby(stats_key(partition), f"{kind}_ingested_events", count)
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
