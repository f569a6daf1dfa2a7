"""A worker process: shares the partitions with the other live workers and consumes its own.

Ownership is a PostgreSQL session advisory lock per partition, held on one dedicated
connection: when a worker dies its connection closes and its partitions are free at once.
Membership is one more advisory lock on that connection, so "live workers" is the number
of those locks held right now: a killed worker stops counting the moment its connection
closes, not when a heartbeat expires, and the survivors take its partitions at their
next lease refresh. Each worker takes at most its fair share
(ceil(partitions / live workers)), giving partitions back when others join. The offset
compare-and-set in `PartitionConsumer` keeps a stale owner harmless even so. The
`workers` table is a list for operators (heartbeats), not a source of truth.

A host that vanishes without closing its connections is dropped by PostgreSQL's TCP
keepalive (see `db.connections`); its own process notices through the lock connection's
statement timeout and lets go of its partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import uuid

import asyncpg

from helpstream.aio import sleep_or_stop
from helpstream.database import connect_options, create_pool
from helpstream.log_config import partition_context, worker_id_var
from helpstream.retry import open_redis
from helpstream.settings import Settings
from helpstream.streams import RedisClient
from helpstream.workers.consumer import TRANSIENT_ERRORS, PartitionConsumer
from helpstream.workers.handlers import StreamHandler, default_handlers
from helpstream.workers.retention import run_retention

log = logging.getLogger(__name__)

PARTITION_LOCK_CLASS = 0x6873  # advisory lock namespace ("hs"); the partition is the key
MEMBER_LOCK_CLASS = 0x6877  # ("hw"): one lock per live worker, a random key
_LOCKS_HELD = """
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2 AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class Worker:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        redis: RedisClient,
        handlers: dict[str, StreamHandler] | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.handlers = handlers or default_handlers(settings)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.owned: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._lock_conn: asyncpg.Connection | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then finish in-flight batches and let go."""
        worker_id_var.set(self.worker_id)  # on every log record of this worker (log_config)
        try:
            while not stop.is_set():
                try:
                    await self._rebalance()
                except Exception as exc:
                    # A lock connection that failed in any way (cut off, confused by a
                    # terminated backend, timed out) may no longer hold the locks: let go
                    # of every partition and reconnect, never let the worker die of it.
                    log.warning("worker %s: lost the database (%r)", self.worker_id, exc)
                    await self._release_all(graceful=False)
                await sleep_or_stop(stop, self.settings.lease_refresh_seconds)
        finally:
            await self._release_all(graceful=True)
            await self._deregister()

    @property
    def partitions(self) -> list[int]:
        return sorted(self.owned)

    async def _connection(self) -> asyncpg.Connection:
        if self._lock_conn is None or self._lock_conn.is_closed():
            options = connect_options(
                self.settings,
                f"helpstream-worker pid={os.getpid()} {self.worker_id}",
                command_timeout=self.settings.worker_lock_command_timeout,
            )
            conn = await asyncpg.connect(self.settings.database_url, **options)
            try:
                await _join(conn)
            except BaseException:
                conn.terminate()
                raise
            self._lock_conn = conn
        return self._lock_conn

    async def _rebalance(self) -> None:
        conn = await self._connection()
        await conn.execute(
            """
            WITH beat AS (
                INSERT INTO workers (worker_id) VALUES ($1)
                ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now()
            )
            DELETE FROM workers
            WHERE worker_id <> $1 AND heartbeat_at < now() - make_interval(secs => $2)
            """,
            self.worker_id,
            self.settings.worker_heartbeat_timeout,
        )
        live = await conn.fetchval(_LOCKS_HELD, MEMBER_LOCK_CLASS)
        share = math.ceil(self.settings.partitions / max(1, live))
        # Consumers that gave up (lost partition) or crashed.
        ended = [partition for partition, (task, _) in self.owned.items() if task.done()]
        if ended:
            await self._release_many(ended, graceful=False)
        if len(self.owned) > share:  # hand the highest partitions over to newcomers
            await self._release_many(sorted(self.owned)[share:], graceful=True)
        start = hash(self.worker_id) % self.settings.partitions
        for i in range(self.settings.partitions):
            if len(self.owned) >= share:
                break
            partition = (start + i) % self.settings.partitions
            if partition in self.owned:
                continue
            if await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", PARTITION_LOCK_CLASS, partition
            ):
                self._start(partition)

    def _start(self, partition: int) -> None:
        consumer = PartitionConsumer(
            partition,
            self.pool,
            self.redis,
            self.handlers,
            batch_entries=self.settings.worker_batch_entries,
            batch_events=self.settings.worker_batch_events,
            block_ms=self.settings.worker_block_ms,
            linger_ms=self.settings.worker_linger_ms,
            # Often enough that a short path_timeout is honoured on the wall clock too.
            sweep_seconds=min(self.settings.worker_sweep_seconds, self.settings.path_timeout / 4),
            max_deliveries=self.settings.max_deliveries,
            max_dead_letters=self.settings.max_dead_letters,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            consumer.run(stop), name=f"partition-{partition}", context=partition_context(partition)
        )
        task.add_done_callback(_log_crash)
        self.owned[partition] = (task, stop)
        log.info("worker %s: took partition %d", self.worker_id, partition)

    async def _release_many(self, partitions: list[int], graceful: bool) -> None:
        """Stop the partitions' consumers together, then give up their locks.

        Together: a graceful stop lets each consumer finish its current read (up to
        `worker_block_ms`) and batch, so one partition after another made a worker with
        64 partitions take ~19 s to stop."""
        released = [(partition, *self.owned.pop(partition)) for partition in partitions]
        for _, task, stop in released:
            stop.set()
            if not graceful:
                task.cancel()
        for _, task, _ in released:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for partition, _, _ in released:  # one statement at a time on the lock connection
            if self._lock_conn is not None and not self._lock_conn.is_closed():
                with contextlib.suppress(*TRANSIENT_ERRORS):
                    await self._lock_conn.execute(
                        "SELECT pg_advisory_unlock($1, $2)", PARTITION_LOCK_CLASS, partition
                    )
            log.info("worker %s: released partition %d", self.worker_id, partition)

    async def _release_all(self, graceful: bool) -> None:
        await self._release_many(list(self.owned), graceful)
        if not graceful and self._lock_conn is not None:
            self._lock_conn.terminate()
            self._lock_conn = None

    async def _deregister(self) -> None:
        if self._lock_conn is None or self._lock_conn.is_closed():
            return
        with contextlib.suppress(*TRANSIENT_ERRORS):
            await self._lock_conn.execute(
                "DELETE FROM workers WHERE worker_id = $1", self.worker_id
            )
            await self._lock_conn.close()
        self._lock_conn = None


async def _join(conn: asyncpg.Connection) -> None:
    """Count this connection as a live worker: hold a member lock with a free random key."""
    while not await conn.fetchval(
        "SELECT pg_try_advisory_lock($1, $2)", MEMBER_LOCK_CLASS, random.randrange(2**31)
    ):
        pass  # another worker drew the same key: draw again


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s crashed", task.get_name(), exc_info=task.exception())


# The worker looks rows up by key in batches of thousands (open paths by customer). At
# PostgreSQL's default random_page_cost (4, priced for spinning disks) the planner prefers
# to scan the whole of open_paths for a 3,000-row batch: 43 ms against 14 ms for index
# lookups (measured, 100k open paths), and worse as the table grows. Its pages are in
# memory; 1.1 is the usual setting for SSDs and cached data.
WORKER_SESSION_SETTINGS = {"random_page_cost": "1.1"}


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Everything `helpstream worker` does: connect, migrate and check the partition
    count, consume until stopped."""
    database_url, redis_url = settings.require_urls()
    pool = await create_pool(database_url, settings, "worker", WORKER_SESSION_SETTINGS)
    redis = await open_redis(redis_url, settings)
    worker = Worker(settings, pool, redis)
    retention = asyncio.create_task(
        run_retention(settings, pool, lambda: 0 in worker.owned, stop), name="retention"
    )
    try:
        await worker.run(stop)
    finally:
        retention.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retention
        await redis.aclose()
        await pool.close()
