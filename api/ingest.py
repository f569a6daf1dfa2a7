"""Getting events into Redis Streams fast, and saying no when we cannot.

`StreamWriter` coalesces the XADDs of concurrent requests into one round trip (one script
call on a single server, a pipeline on a cluster): while one is in flight, new requests
queue up and go together in the next one.
A request is answered 202 only when its own entries were written.

`BacklogMonitor` polls the memory the partition streams take (per stream kind) so ingest
can answer 503 when workers fall too far behind, without an extra Redis call per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from msgspec import msgpack
from redis.asyncio.cluster import RedisCluster

from helpstream.streams import KINDS, RedisClient, stats_key, stream_key
from helpstream.wire import PAYLOAD_FIELD, encode_events

log = logging.getLogger(__name__)


FLUSH_BYTES = 64 * 1024 * 1024  # payload bytes per flush, far under Redis's 512 MB a string


class BufferUnavailable(Exception):
    """Redis could not take the events (unreachable, or over its backlog limit)."""


class StreamEntry(NamedTuple):
    """One stream entry to write: a tuple, as it is built on every request (a frozen
    dataclass's `__init__` costs several times as much)."""

    partition: int
    kind: str
    payload: bytes
    events: int


class StreamWriter:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        # One command per flush on a single server: redis-py spends ~19 µs of CPU on each
        # pipelined command (packing, a timeout and a parse per reply), as much as the
        # rest of a click request; in a script that is paid once per flush (measured: 1.8
        # µs per XADD written raw). A cluster spreads the streams over slots a script
        # cannot span, so there the pipeline stays.
        self._append_script = (
            None if isinstance(redis, RedisCluster) else redis.register_script(APPEND_SCRIPT)
        )
        self._queue: list[tuple[Sequence[StreamEntry], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Payload bytes this process has written, per kind, ever: `BacklogMonitor` adds what
        # was written since its last measurement, so one poll interval cannot overshoot.
        self.written_bytes: dict[str, int] = defaultdict(int)

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

    async def append(self, entries: Sequence[StreamEntry]) -> None:
        """Write entries; returns once they are in Redis."""
        await self.enqueue(entries)

    def enqueue(self, entries: Sequence[StreamEntry]) -> asyncio.Future[None]:
        """Queue entries for the next flush; the future is done once they are in Redis.

        Not a coroutine, so that a request awaits this one future rather than a chain of
        coroutines, each resumed in turn when the flush is done."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((entries, future))
        self._wake.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._next_batch()
            if self._queue:  # more than one flush may carry: go on without waiting
                self._wake.set()
            if batch:
                await self._flush(batch)

    def _next_batch(self) -> list[tuple[Sequence[StreamEntry], asyncio.Future[None]]]:
        """The queued requests, up to `FLUSH_BYTES` of payload (at least one request): a
        flush's payloads travel as one string, and Redis refuses one over 512 MB."""
        size, taken = 0, 0
        for entries, _ in self._queue:
            size += sum(len(entry.payload) for entry in entries)
            if taken and size > FLUSH_BYTES:
                break
            taken += 1
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _flush(self, batch: list[tuple[Sequence[StreamEntry], asyncio.Future[None]]]) -> None:
        entries = [entry for request_entries, _ in batch for entry in request_entries]
        ingested: dict[tuple[int, str], int] = defaultdict(int)
        written: dict[str, int] = defaultdict(int)
        for entry in entries:
            ingested[(entry.partition, entry.kind)] += entry.events
            written[entry.kind] += len(entry.payload)
        try:
            if self._append_script is not None:
                await self._append_script(*_script_arguments(entries, ingested))
            else:
                await self._pipelined(entries, ingested)
        except Exception as exc:  # any failure: none of these requests may answer 202
            log.warning("writing %d requests to Redis failed: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(BufferUnavailable(str(exc)))
            for kind, size in written.items():  # some XADDs may have gone through
                self.written_bytes[kind] += size
            return
        for kind, size in written.items():
            self.written_bytes[kind] += size
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _pipelined(
        self, entries: list[StreamEntry], ingested: dict[tuple[int, str], int]
    ) -> None:
        """The same writes as `APPEND_SCRIPT`, as a pipeline (Redis Cluster: many slots)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.xadd(stream_key(entry.partition, entry.kind), {PAYLOAD_FIELD: entry.payload})
            for (partition, kind), count in ingested.items():  # for /metrics
                pipe.hincrby(stats_key(partition), f"{kind}_ingested_events", count)
            await pipe.execute()


def entries_of(
    kind: str, routed: Iterable[tuple[int, Any]], partitions: int
) -> tuple[list[StreamEntry], int]:
    """(routing id, wire event) pairs as one entry per partition, and the event count."""
    pairs = routed if isinstance(routed, list) else list(routed)
    if len(pairs) == 1:  # one click: most requests
        routing_id, event = pairs[0]
        return [StreamEntry(routing_id % partitions, kind, encode_events([event]), 1)], 1
    by_partition: dict[int, list[Any]] = defaultdict(list)
    for routing_id, event in pairs:
        by_partition[routing_id % partitions].append(event)
    entries = [
        StreamEntry(partition, kind, encode_events(events), len(events))
        for partition, events in by_partition.items()
    ]
    return entries, len(pairs)


APPEND_SCRIPT = """
-- One flush of StreamWriter: XADD each payload to its stream, then count the events.
-- KEYS: the n distinct stream keys, then the stats keys. ARGV[1]: the payload field;
-- ARGV[2]: msgpack array (key index, payload length) per entry; ARGV[3]: the payloads,
-- concatenated; then (counter field, count) per stats key.
local layout = cmsgpack.unpack(ARGV[2])
local payloads = ARGV[3]
local at = 1
for i = 1, #layout, 2 do
    local stop = at + layout[i + 1]
    redis.call('XADD', KEYS[layout[i]], '*', ARGV[1], string.sub(payloads, at, stop - 1))
    at = stop
end
local n = #KEYS - (#ARGV - 3) / 2
for j = n + 1, #KEYS do
    local counter = 2 * (j - n) + 2
    redis.call('HINCRBY', KEYS[j], ARGV[counter], ARGV[counter + 1])
end
return #layout / 2
"""


def _script_arguments(
    entries: list[StreamEntry], ingested: dict[tuple[int, str], int]
) -> tuple[list[str], list[bytes | str | int]]:
    """KEYS and ARGV of `APPEND_SCRIPT` for one flush.

    The payloads travel as one argument and their layout as another: redis-py packs each
    argument in Python (~1 µs each), which was a tenth of a click request's time when
    every entry was an argument of its own."""
    index: dict[tuple[int, str], int] = {}
    layout: list[int] = []
    for e in entries:
        at = index.setdefault((e.partition, e.kind), len(index) + 1)
        layout += (at, len(e.payload))
    keys = [stream_key(partition, kind) for partition, kind in index]
    args: list[bytes | str | int] = [
        PAYLOAD_FIELD,
        msgpack.encode(layout),
        b"".join([e.payload for e in entries]),
    ]
    for (partition, kind), count in ingested.items():
        keys.append(stats_key(partition))
        args.extend((f"{kind}_ingested_events", count))
    return keys, args


class BacklogMonitor:
    """Keeps the newest known size of every stream kind's backlog, to refuse ingest past it.

    The bound is in bytes per kind (`max_backlog_click_bytes`, `max_backlog_support_bytes`):
    one entry holds anything from one event to a 10,000-event batch, so entries say little
    about memory, and a help-desk backlog must not stop click ingest (nor the other way
    round). The size is measured, not counted: workers trim what they applied, so the
    streams hold exactly the backlog and `MEMORY USAGE` of each is what it costs Redis; a
    crash between a worker's commit and its trim cannot make a counter drift. Between
    two measurements the bytes this process wrote are added, so one process overshoots
    by at most the requests in flight (other API processes: what they write per interval).
    """

    def __init__(
        self,
        redis: RedisClient,
        partitions: int,
        max_bytes: dict[str, int],
        max_entries: int,
        writer: StreamWriter | None = None,
        interval: float = 0.5,
    ) -> None:
        self.redis = redis
        self.partitions = partitions
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.writer = writer
        self.interval = interval
        self.lengths: dict[str, int] = {}
        # Kinds with a partition stream over `max_entries`, decided at each measurement
        # rather than per request (every ingest request asks).
        self.over_entries: set[str] = set()
        self.measured_bytes: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._written_at_measure: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._task: asyncio.Task[None] | None = None

    def backlog_bytes(self, kind: str) -> int:
        """Bytes the streams of ``kind`` hold: last measured, plus what was written since."""
        since = 0
        if self.writer is not None:
            since = self.writer.written_bytes[kind] - self._written_at_measure[kind]
        return self.measured_bytes.get(kind, 0) + max(0, since)

    def over_limit(self, kind: str) -> bool:
        """Whether ingest of ``kind`` should answer 503 now."""
        if self.backlog_bytes(kind) > self.max_bytes.get(kind, 2**63):
            return True
        return kind in self.over_entries  # the deprecated bound in entries per stream

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="backlog-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        written = dict(self.writer.written_bytes) if self.writer is not None else {}
        keys = [(stream_key(p, kind), kind) for p in range(self.partitions) for kind in KINDS]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, _ in keys:
                pipe.xlen(key)
                pipe.memory_usage(key, samples=0)  # exact: every node (O(nodes), cheap)
            replies = await pipe.execute()
        measured = dict.fromkeys(KINDS, 0)
        for (_, kind), size in zip(keys, replies[1::2], strict=True):
            measured[kind] += int(size or 0)  # None: no such stream (yet)
        self.lengths = {key: int(n) for (key, _), n in zip(keys, replies[::2], strict=True)}
        self.over_entries = {
            kind
            for (key, kind), n in zip(keys, replies[::2], strict=True)
            if int(n) > self.max_entries
        }
        self.measured_bytes = measured
        self._written_at_measure = {kind: written.get(kind, 0) for kind in KINDS}

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # Redis down: the writer reports it per request
                log.debug("backlog refresh failed: %r", exc)
            await asyncio.sleep(self.interval)
