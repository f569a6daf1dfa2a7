"""The loop that owns one partition: read, apply, commit, ack, trim — and sweep.

Exactly-once effect: a batch is applied and the partition's offset advanced in one
PostgreSQL transaction whose first statement is a compare-and-set on the offset. A former
owner that still runs (paused, partitioned from the database) fails that check and rolls
back. Entries at or below the stored offset are acknowledged without being applied again.
Only after the commit are entries acknowledged and the stream trimmed below the offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
import orjson
from redis.exceptions import RedisError

from workers.handlers import StreamHandler
from workers.streams import (
    GROUP,
    RedisClient,
    consumer_name,
    dead_letter_key,
    decode_events,
    parse_id,
    stats_key,
    stream_key,
)

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    RedisError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
POISON_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)


class LostPartition(Exception):
    """The offset moved under us: another worker owns this partition now."""


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
        sweep_seconds: float,
    ) -> None:
        self.partition = partition
        self.pool = pool
        self.redis = redis
        self.handlers = handlers
        self.batch_entries = batch_entries
        self.block_ms = block_ms
        self.sweep_seconds = sweep_seconds
        self.consumer = consumer_name(partition)
        self.keys = {stream_key(partition, kind): kind for kind in handlers}
        self.offsets: dict[str, tuple[str, int | None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; a batch in flight is finished first."""
        await self._load_offsets()
        read_pending = True  # after (re)start: own unacknowledged entries first
        next_sweep = time.monotonic()
        backoff = 0.1
        while not stop.is_set():
            try:
                got_any = await self._read_and_apply(read_pending)
                if read_pending and not got_any:
                    read_pending = False
                if time.monotonic() >= next_sweep:
                    await self._sweep()
                    next_sweep = time.monotonic() + self.sweep_seconds
                backoff = 0.1
            except LostPartition:
                log.warning("partition %d: offset moved, giving it up", self.partition)
                return
            except TRANSIENT_ERRORS as exc:
                log.warning("partition %d: %r, retrying in %.1fs", self.partition, exc, backoff)
                read_pending = True
                await _sleep_or_stop(stop, backoff)
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

    async def _read_and_apply(self, read_pending: bool) -> bool:
        start_id = "0" if read_pending else ">"
        response = await self.redis.xreadgroup(
            GROUP,
            self.consumer,
            dict.fromkeys(self.keys, start_id),
            count=self.batch_entries,
            block=None if read_pending else self.block_ms,
        )
        got_any = False
        for key, entries in _as_pairs(response):
            if entries:
                got_any = True
                kind = self.keys[key.decode() if isinstance(key, bytes) else key]
                await self._apply_entries(kind, entries)
        return got_any

    async def _apply_entries(self, kind: str, entries: list[Entry]) -> None:
        last_id, stream_time = self.offsets[kind]
        applied_upto = parse_id(last_id)
        fresh = [e for e in entries if parse_id(e[0]) > applied_upto and e[1] is not None]
        if fresh:
            handler = self.handlers[kind]
            events, dead = self._decode(handler, fresh)
            new_last = fresh[-1][0].decode()
            try:
                stream_time = await self._commit(kind, handler, events, last_id, new_last)
            except POISON_ERRORS as exc:
                log.error(
                    "partition %d: batch failed (%r); applying entry by entry", self.partition, exc
                )
                dead += await self._apply_one_by_one(kind, handler, fresh)
                stream_time = self.offsets[kind][1]
            else:
                self.offsets[kind] = (new_last, stream_time)
            if dead:
                await self._dead_letter(kind, dead)
        await self._acknowledge(kind, entries, len(fresh))

    def _decode(
        self, handler: StreamHandler, entries: list[Entry]
    ) -> tuple[list[Any], list[tuple[Entry, str]]]:
        events: list[Any] = []
        dead: list[tuple[Entry, str]] = []
        for entry in entries:
            try:
                assert entry[1] is not None
                events.extend(handler.decode(raw) for raw in decode_events(entry[1]))
            except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:
                dead.append((entry, f"undecodable: {exc!r}"))
        return events, dead

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
        return stream_time

    async def _apply_one_by_one(
        self, kind: str, handler: StreamHandler, entries: list[Entry]
    ) -> list[tuple[Entry, str]]:
        """Isolate poison entries: apply each alone; those that still fail are dead letters."""
        dead: list[tuple[Entry, str]] = []
        for entry in entries:
            last_id, _ = self.offsets[kind]
            entry_id = entry[0].decode()
            events, undecodable = self._decode(handler, [entry])
            try:
                stream_time = await self._commit(kind, handler, events, last_id, entry_id)
            except POISON_ERRORS as exc:
                dead.append((entry, f"apply failed: {exc!r}"))
                stream_time = await self._commit(kind, handler, [], last_id, entry_id)
            dead.extend(undecodable)
            self.offsets[kind] = (entry_id, stream_time)
        return dead

    async def _dead_letter(self, kind: str, dead: list[tuple[Entry, str]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for (entry_id, fields), reason in dead:
                record = {b"stream": kind.encode(), b"entry_id": entry_id, b"reason": reason}
                record.update(fields or {})
                pipe.xadd(dead_letter_key(self.partition), record)  # type: ignore[arg-type]
            pipe.hincrby(stats_key(self.partition), "dead_letters", len(dead))
            await pipe.execute()
        log.error("partition %d: %d entries dead-lettered", self.partition, len(dead))

    async def _acknowledge(self, kind: str, entries: list[Entry], applied: int) -> None:
        """Ack after commit; trim what every reader has applied (the stored offset)."""
        key = stream_key(self.partition, kind)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(key, GROUP, *[e[0] for e in entries])
            pipe.xtrim(key, minid=self.offsets[kind][0], approximate=False)
            pipe.hincrby(stats_key(self.partition), f"{kind}_applied_entries", applied)
            redelivered = len(entries) - applied
            if redelivered:
                pipe.hincrby(stats_key(self.partition), "redeliveries", redelivered)
            await pipe.execute()

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


def _as_pairs(response: Any) -> list[tuple[Any, list[Entry]]]:
    """XREADGROUP answers a list of [key, entries] (RESP2) or a dict (RESP3)."""
    if not response:
        return []
    if isinstance(response, dict):
        return [(k, v[0] if v and isinstance(v[0], list) else v) for k, v in response.items()]
    return [(k, v) for k, v in response]


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
