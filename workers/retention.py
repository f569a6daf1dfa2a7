"""Bounded storage: old raw clicks and paths deleted, minute rollups compacted to hours,
hour rollups deleted after a year. Run periodically by the worker that owns partition 0.

Every step is a batch of at most `retention_batch_rows` rows in its own short transaction
with a short `lock_timeout`: a batch that meets a row an ingest transaction holds gives up
(and is retried on the next run) instead of making ingest wait or deadlock.

Compaction moves minute rows older than `retain_minute_rollups_days` into the row of their
hour (`bucket` = the hour's start, a multiple of 3600) with one statement, DELETE ... RETURNING
feeding an upsert, so exactly what is deleted is added: sums, and so every metric over whole
hours, stay exact. Windows inside the minute range read untouched minute rows. Help-desk rows
(tickets, messages, ratings) are kept: reports span any period and they are small.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from helpstream.aio import sleep_or_stop
from helpstream.settings import Settings

log = logging.getLogger(__name__)

DAY = 86_400
HOUR = 3600
LOCK_TIMEOUT = "200ms"
RETRIED_NEXT_RUN = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
"""A lock not granted within LOCK_TIMEOUT, a lost connection, any statement error: the
task logs it and tries again on its next run (it never stops the worker)."""


@dataclass(frozen=True, slots=True)
class Horizons:
    """Unix seconds (event time) below which each kind of row goes; None: kept forever."""

    clicks: int | None
    paths: int | None
    minute_rollups: int | None
    rollups: int | None


def horizons(settings: Settings, now: float) -> Horizons:
    def before(days: int) -> int | None:
        return int(now) - days * DAY if days > 0 else None

    return Horizons(
        clicks=before(settings.retain_clicks_days),
        paths=before(settings.retain_paths_days),
        minute_rollups=before(settings.retain_minute_rollups_days),
        rollups=before(settings.retain_rollups_days),
    )


_DELETE_CLICKS = """
DELETE FROM clicks WHERE (customer_id, event_key) IN (
    SELECT customer_id, event_key FROM clicks WHERE ts < $1 LIMIT $2)
"""
_DELETE_PATHS = """
DELETE FROM completed_paths WHERE path_id IN (
    SELECT path_id FROM completed_paths WHERE end_ts < $1 LIMIT $2)
"""
_DELETE_PATH_ROLLUPS = """
DELETE FROM path_rollups WHERE (variant, bucket, partition) IN (
    SELECT variant, bucket, partition FROM path_rollups WHERE bucket < $1 LIMIT $2)
"""
_DELETE_PAGE_ROLLUPS = """
DELETE FROM page_rollups WHERE (variant, bucket, partition, page_id) IN (
    SELECT variant, bucket, partition, page_id FROM page_rollups WHERE bucket < $1 LIMIT $2)
"""
_HOUR = "bucket - ((bucket % 3600) + 3600) % 3600"
_COMPACT_PATH_ROLLUPS = f"""
WITH gone AS (
    DELETE FROM path_rollups WHERE (variant, bucket, partition) IN (
        SELECT variant, bucket, partition FROM path_rollups
        WHERE bucket % 3600 <> 0 AND bucket < $1 LIMIT $2)
    RETURNING *
)
INSERT INTO path_rollups AS r (variant, bucket, partition, completed, resolved, abandoned,
                               turnaround_paths, resolved_length_sum, resolved_length_sumsq,
                               late_events)
SELECT variant, {_HOUR}, partition, sum(completed), sum(resolved), sum(abandoned),
       sum(turnaround_paths), sum(resolved_length_sum), sum(resolved_length_sumsq),
       sum(late_events)
FROM gone GROUP BY 1, 2, 3
ON CONFLICT (variant, bucket, partition) DO UPDATE SET
    completed = r.completed + EXCLUDED.completed,
    resolved = r.resolved + EXCLUDED.resolved,
    abandoned = r.abandoned + EXCLUDED.abandoned,
    turnaround_paths = r.turnaround_paths + EXCLUDED.turnaround_paths,
    resolved_length_sum = r.resolved_length_sum + EXCLUDED.resolved_length_sum,
    resolved_length_sumsq = r.resolved_length_sumsq + EXCLUDED.resolved_length_sumsq,
    late_events = r.late_events + EXCLUDED.late_events
"""
_COMPACT_PAGE_ROLLUPS = f"""
WITH gone AS (
    DELETE FROM page_rollups WHERE (variant, bucket, partition, page_id) IN (
        SELECT variant, bucket, partition, page_id FROM page_rollups
        WHERE bucket % 3600 <> 0 AND bucket < $1 LIMIT $2)
    RETURNING *
)
INSERT INTO page_rollups AS r (variant, bucket, partition, page_id, visits, departures,
                               turnarounds, resolutions)
SELECT variant, {_HOUR}, partition, page_id, sum(visits), sum(departures), sum(turnarounds),
       sum(resolutions)
FROM gone GROUP BY 1, 2, 3, 4
ON CONFLICT (variant, bucket, partition, page_id) DO UPDATE SET
    visits = r.visits + EXCLUDED.visits,
    departures = r.departures + EXCLUDED.departures,
    turnarounds = r.turnarounds + EXCLUDED.turnarounds,
    resolutions = r.resolutions + EXCLUDED.resolutions
"""


async def _batches(pool: asyncpg.Pool, sql: str, horizon: int | None, batch: int) -> int:
    """Run ``sql`` (one bounded batch per transaction) until a batch touches < ``batch``
    rows; returns the rows deleted."""
    if horizon is None:
        return 0
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            status = await conn.execute(sql, horizon, batch)
        # "DELETE n", or "INSERT 0 n" for a compaction (n hour rows, not minute rows):
        # a compaction batch is done when nothing more was deleted.
        count = int(status.rsplit(" ", 1)[1])
        total += count
        if count == 0 or (status.startswith("DELETE") and count < batch):
            return total
        await asyncio.sleep(0)  # let ingest's transactions in between batches


async def apply_retention(pool: asyncpg.Pool, settings: Settings, now: float) -> dict[str, int]:
    """One pass over every kind of row; returns rows deleted (or hour rows written) per step."""
    h, batch = horizons(settings, now), settings.retention_batch_rows
    return {
        "clicks": await _batches(pool, _DELETE_CLICKS, h.clicks, batch),
        "paths": await _batches(pool, _DELETE_PATHS, h.paths, batch),
        "path_rollups_compacted": await _batches(
            pool, _COMPACT_PATH_ROLLUPS, h.minute_rollups, batch
        ),
        "page_rollups_compacted": await _batches(
            pool, _COMPACT_PAGE_ROLLUPS, h.minute_rollups, batch
        ),
        "path_rollups": await _batches(pool, _DELETE_PATH_ROLLUPS, h.rollups, batch),
        "page_rollups": await _batches(pool, _DELETE_PAGE_ROLLUPS, h.rollups, batch),
    }


async def run_retention(
    settings: Settings,
    pool: asyncpg.Pool,
    is_leader: Callable[[], bool],
    stop: asyncio.Event,
    clock: Callable[[], float] = time.time,
) -> None:
    """Every `retention_interval_seconds`, while ``is_leader()`` (owns partition 0), one pass."""
    while not stop.is_set():
        await sleep_or_stop(stop, settings.retention_interval_seconds)
        if stop.is_set() or not is_leader():
            continue
        try:
            done = await apply_retention(pool, settings, clock())
        except RETRIED_NEXT_RUN as exc:
            log.warning("retention: %r; trying again next run", exc)
            continue
        if any(done.values()):
            log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
