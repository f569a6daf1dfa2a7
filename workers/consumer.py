"""The loop that owns one partition: read, apply, commit, trim — and sweep.

Exactly-once effect: the consumer reads strictly after the partition's offset stored in
PostgreSQL (XREAD from that ID, not a consumer group's ">"), applies the entries and
advances the offset in one transaction whose first statement is a compare-and-set on the
offset. Reading from the offset makes every batch contiguous: two processes that both
believe they own a partition (a lock connection lost, a paused process) read the same
entries, one commit wins, the other's compare-and-set fails and it gives the partition up.
A consumer group's ">" would hand them different entries and the winner's offset could
skip the loser's. After the commit the stream is trimmed below the offset (XTRIM MINID),
which is what acknowledging means here; nothing below the offset is ever read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
from redis.exceptions import RedisError, ResponseError

from helpstream.aio import sleep_or_stop
from helpstream.streams import RedisClient, parse_id, stats_key, stream_key
from helpstream.wire import decode_events
from helpstream.workers import dead_letters
from helpstream.workers.handlers import StreamHandler

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    RedisError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection cut off mid-operation (pg_terminate_backend)
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


class LostPartition(Exception):
    """The offset moved under us: another worker owns this partition now."""


NOT_THE_ENTRYS_FAULT: tuple[type[BaseException], ...] = (LostPartition, *TRANSIENT_ERRORS)
"""Failures that say nothing about the entries being applied: never counted against one.

Any other exception from decoding or applying (a malformed payload, a statement_timeout
cancel, MemoryError, a bug) is the entries' fault: each is then tried alone, up to
``max_deliveries`` times, and dead-lettered if it still fails; the partition moves on.
"""


Entry = tuple[bytes, dict[bytes, bytes] | None]


class PartitionConsumer:
    """Consumes every stream kind of one partition while this process owns it."""

    def __init__(
        self,
        partition: int,
        pool: asyncpg.Pool,
        redis: RedisClient,
        handlers: dict[str, StreamHandler],
        *,
        batch_entries: int,
        block_ms: int,
        batch_events: int = 20_000,
        linger_ms: int = 0,
        sweep_seconds: float,
        max_deliveries: int = 5,
        max_dead_letters: int = 10_000,
    ) -> None:
        self.partition = partition
        self.pool = pool
        self.redis = redis
        self.handlers = handlers
        self.batch_entries = batch_entries
        self.batch_events = batch_events
        # Events per entry, as last read: one request's share of a partition, 1 for single
        # clicks, up to a whole 10,000-event batch. It sizes the next read so that one read
        # holds about one transaction's worth of events (memory stays bounded by events,
        # not by entries). Before the first read, guess the shape of 100-event requests.
        self._events_per_entry = 100.0
        self.block_ms = block_ms
        self.linger = linger_ms / 1000
        self.sweep_seconds = sweep_seconds
        self.max_deliveries = max_deliveries
        self.max_dead_letters = max_dead_letters
        self.keys = {stream_key(partition, kind): kind for kind in handlers}
        self.offsets: dict[str, tuple[str, int | None]] = {}
        self._attempted: dict[str, tuple[int, int]] = {}  # newest entry tried, per kind
        self.caught_up = False  # the last read took everything there was
        self._regressed: set[str] = set()  # kinds whose stream is behind the offset

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; a batch in flight is finished first."""
        for handler in self.handlers.values():  # another owner may have written meanwhile
            handler.forget(self.partition)
        await self._load_offsets()
        next_sweep = time.monotonic()
        backoff = 0.1
        while not stop.is_set():
            try:
                read_at = time.monotonic()
                await self._read_and_apply()
                # Only once the backlog is read: after an outage, wall-clock idleness says
                # nothing about paths whose next clicks are still waiting in the stream.
                if self.caught_up and time.monotonic() >= next_sweep:
                    await self._check_streams()
                    await self._sweep()
                    next_sweep = time.monotonic() + self.sweep_seconds
                lingering = read_at + self.linger - time.monotonic()
                if self.caught_up and lingering > 0:  # let a trickle gather into one batch
                    await sleep_or_stop(stop, lingering)
                backoff = 0.1
            except LostPartition:
                log.warning("partition %d: offset moved, giving it up", self.partition)
                return
            except TRANSIENT_ERRORS as exc:
                log.warning("partition %d: %r, retrying in %.1fs", self.partition, exc, backoff)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                await self._reload_offsets_quietly()

    async def _load_offsets(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO stream_offsets (partition, stream) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                [(self.partition, kind) for kind in self.handlers],
            )
            rows = await conn.fetch(
                "SELECT stream, last_id, stream_time FROM stream_offsets WHERE partition = $1",
                self.partition,
            )
        self.offsets = {r["stream"]: (r["last_id"], r["stream_time"]) for r in rows}

    async def _reload_offsets_quietly(self) -> None:
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await self._load_offsets()

    async def _read_and_apply(self) -> None:
        """Read every kind's stream strictly after its applied offset, apply what came."""
        count = self._read_count()
        response = await self.redis.xread(
            {key: self.offsets[kind][0] for key, kind in self.keys.items()},
            count=count,
            block=self.block_ms,
        )
        pairs = _as_pairs(response)
        self.caught_up = all(len(entries) < count for _, entries in pairs)
        for key, entries in pairs:
            if entries:
                kind = self.keys[key.decode() if isinstance(key, bytes) else key]
                await self._apply_entries(kind, entries)

    def _read_count(self) -> int:
        """Entries to read next: about ``batch_events`` events, within [1, batch_entries]."""
        wanted = round(self.batch_events / max(self._events_per_entry, 1.0))
        return max(1, min(self.batch_entries, wanted))

    async def _apply_entries(self, kind: str, entries: list[Entry]) -> None:
        """Apply the entries read, in transactions of at most ``batch_events`` events each.

        A transaction that fails for its entries' fault (one undecodable, a statement that
        cannot succeed) is retried entry by entry; the other transactions are unaffected.
        """
        last_id, _ = self.offsets[kind]
        fresh = [e for e in entries if parse_id(e[0]) > parse_id(last_id)]
        if not fresh:
            return
        attempted = self._attempted.get(kind)
        handler = self.handlers[kind]
        self._attempted[kind] = parse_id(fresh[-1][0])
        decoded = [_decode_or_none(handler, entry) for entry in fresh]
        sizes = [1 if events is None else len(events) for events in decoded]
        self._events_per_entry = sum(sizes) / len(sizes)
        start = 0
        for end in _chunk_ends(sizes, self.batch_events):
            chunk, chunk_events = fresh[start:end], decoded[start:end]
            try:
                if any(events is None for events in chunk_events):
                    raise ValueError("an entry of the batch is undecodable")
                events = [event for entry_events in chunk_events for event in entry_events or ()]
                new_last = chunk[-1][0].decode()
                stream_time = await self._commit(
                    kind, handler, events, self.offsets[kind][0], new_last
                )
                self.offsets[kind] = (new_last, stream_time)
            except Exception as exc:
                if not _is_entrys_fault(exc):
                    raise
                log.error(
                    "partition %d: batch failed (%r); applying one by one", self.partition, exc
                )
                await self._apply_one_by_one(kind, handler, chunk)
            await self._trim(kind, chunk, attempted)
            start = end

    async def _commit(
        self, kind: str, handler: StreamHandler, events: list[Any], expected: str, new_last: str
    ) -> int | None:
        """Apply events and advance the offset atomically; returns the new stream time."""
        async with self.pool.acquire() as conn, conn.transaction():
            owned = await conn.fetchval(
                "UPDATE stream_offsets SET last_id = $4, updated_at = now()"
                " WHERE partition = $1 AND stream = $2 AND last_id = $3 RETURNING true",
                self.partition,
                kind,
                expected,
                new_last,
            )
            if not owned:
                raise LostPartition
            stream_time = self.offsets[kind][1]
            if events:
                stream_time = await handler.apply(conn, self.partition, events, stream_time)
                await conn.execute(
                    "UPDATE stream_offsets SET stream_time = $3 WHERE partition = $1"
                    " AND stream = $2",
                    self.partition,
                    kind,
                    stream_time,
                )
        if events:
            handler.committed(self.partition)
        return stream_time

    async def _apply_one_by_one(
        self, kind: str, handler: StreamHandler, entries: list[Entry]
    ) -> None:
        """Isolate the failing entries of a batch: the others are applied, each alone."""
        for entry in entries:
            await self._apply_alone(kind, handler, entry)

    async def _apply_alone(self, kind: str, handler: StreamHandler, entry: Entry) -> None:
        """Apply one entry, retried up to ``max_deliveries`` times, else dead-letter it."""
        entry_id = entry[0].decode()
        for delivery in range(1, self.max_deliveries + 1):
            last_id, _ = self.offsets[kind]
            try:
                events = _decode_entry(handler, entry)
            except Exception as exc:
                reason = f"undecodable: {exc!r}"
            else:
                try:
                    stream_time = await self._commit(kind, handler, events, last_id, entry_id)
                    self.offsets[kind] = (entry_id, stream_time)
                    return
                except Exception as exc:
                    if not _is_entrys_fault(exc):
                        raise
                    reason = f"apply failed: {exc!r}"
            log.warning(
                "partition %d: %s entry %s failed (delivery %d of %d): %s",
                self.partition,
                kind,
                entry_id,
                delivery,
                self.max_deliveries,
                reason,
            )
            if delivery < self.max_deliveries:
                await asyncio.sleep(min(0.02 * 2 ** (delivery - 1), 0.5))
        # Before the offset passes it: a dead letter may be written twice (a no-op), never lost.
        await self._dead_letter(kind, entry, reason)
        stream_time = await self._commit(kind, handler, [], last_id, entry_id)
        self.offsets[kind] = (entry_id, stream_time)

    async def _dead_letter(self, kind: str, entry: Entry, reason: str) -> None:
        added = await dead_letters.write(
            self.redis,
            self.partition,
            kind,
            entry,
            reason,
            self.max_deliveries,
            self.max_dead_letters,
        )
        log.error(
            "partition %d: %s entry %s dead-lettered%s: %s",
            self.partition,
            kind,
            entry[0].decode(),
            "" if added else " (already was)",
            reason,
        )

    async def _trim(
        self, kind: str, applied: list[Entry], attempted: tuple[int, int] | None
    ) -> None:
        """After the commit: drop what is applied (below the stored offset), count it.

        Entries at or below ``attempted`` (the newest tried before this read) were read
        again after a failed try: they count as redeliveries.
        """
        redelivered = 0
        if attempted is not None and parse_id(applied[0][0]) <= attempted:
            redelivered = sum(parse_id(e[0]) <= attempted for e in applied)
        key = stream_key(self.partition, kind)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xtrim(key, minid=self.offsets[kind][0], approximate=False)
            pipe.hincrby(stats_key(self.partition), f"{kind}_applied_entries", len(applied))
            if redelivered:
                pipe.hincrby(stats_key(self.partition), "redeliveries", redelivered)
            await pipe.execute()

    async def _check_streams(self) -> None:
        """Report, loudly, a stream whose newest ID is below the offset applied from it.

        That is a Redis that lost acknowledged entries (failover to a lagging replica, a
        restart without its data): what it accepts next may get IDs at or below the offset,
        which reading after the offset would skip without a trace. The worker cannot tell
        lost entries from applied ones, so it does not guess: it logs an error at every
        check and counts each episode (`stream_regressions`, in /metrics) for an operator.
        """
        for key, kind in self.keys.items():
            offset = self.offsets[kind][0]
            newest = await _newest_id(self.redis, key)
            if parse_id(newest) >= parse_id(offset):
                self._regressed.discard(kind)
                continue
            log.error(
                "partition %d: stream %s ends at %s, below the applied offset %s: Redis lost "
                "entries (failover to a lagging replica or data loss?); entries with IDs up to "
                "the offset are not read. Check the stream and the offset in stream_offsets.",
                self.partition,
                key,
                newest,
                offset,
            )
            if kind not in self._regressed:
                self._regressed.add(kind)
                await self.redis.hincrby(stats_key(self.partition), "stream_regressions", 1)

    async def _sweep(self) -> None:
        """Wall-clock housekeeping of every kind, fenced like a batch."""
        for kind, handler in self.handlers.items():
            last_id, stream_time = self.offsets[kind]
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchval(
                    "SELECT last_id FROM stream_offsets WHERE partition = $1 AND stream = $2"
                    " FOR UPDATE",
                    self.partition,
                    kind,
                )
                if row != last_id:
                    raise LostPartition
                await handler.sweep(conn, self.partition, stream_time)
            handler.committed(self.partition)


def _chunk_ends(sizes: list[int], most: int) -> list[int]:
    """Where to cut a run of entries (by their event counts) into transactions.

    Each chunk holds at most ``most`` events, except an entry bigger than that alone;
    returns each chunk's end index.
    """
    ends: list[int] = []
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > most:
            ends.append(i)
            start, total = i, 0
        total += size
    ends.append(len(sizes))
    return ends


def _decode_or_none(handler: StreamHandler, entry: Entry) -> list[Any] | None:
    """The entry's events, or None when it cannot be decoded (it is the entry's fault)."""
    try:
        return _decode_entry(handler, entry)
    except Exception as exc:
        if not _is_entrys_fault(exc):
            raise
        return None


def _decode_entry(handler: StreamHandler, entry: Entry) -> list[Any]:
    if entry[1] is None:
        raise ValueError("entry has no fields")
    return list(map(handler.decode, decode_events(entry[1])))


def _is_entrys_fault(exc: BaseException) -> bool:
    """A statement_timeout cancel is a query's fault, though asyncpg files it as transient."""
    return isinstance(exc, asyncpg.QueryCanceledError) or not isinstance(exc, NOT_THE_ENTRYS_FAULT)


async def _newest_id(redis: RedisClient, key: str) -> str:
    """The stream's last generated ID (kept when entries are trimmed); 0-0 when missing."""
    try:
        info = await redis.xinfo_stream(key)
    except ResponseError:  # no such key
        return "0-0"
    newest = info["last-generated-id"]
    return newest.decode() if isinstance(newest, bytes) else str(newest)


def _as_pairs(response: Any) -> list[tuple[Any, list[Entry]]]:
    """XREAD answers a list of [key, entries] (RESP2) or a dict (RESP3)."""
    if not response:
        return []
    if isinstance(response, dict):
        return [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in response.items()]
    return [(k, v) for k, v in response]
