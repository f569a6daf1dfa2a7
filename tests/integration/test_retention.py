"""Retention (workers/retention.py): old clicks, paths and rollups go on schedule, minute
rollups become hour rollups, and metrics of windows inside the kept ranges do not change."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from helpstream.workers.retention import run_retention
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

DAY = 86_400
NOW = 1_760_000_000  # the retention clock (event time), fixed
GROUPS = {"ancient": NOW - 400 * DAY, "old": NOW - 40 * DAY, "mid": NOW - 10 * DAY,
          "recent": NOW - 2 * DAY}  # fmt: skip
PER_GROUP = 30


def _path_clicks(customer: int, start: int) -> list[dict[str, Any]]:
    """11 → page → back to 11 (a turnaround) → 42 resolved, ending a few minutes later."""
    page, variant = 20 + customer % 5, "AB"[customer % 2]
    end = start + 70 + customer % 50
    return [
        {"timestamp": start, "customer_id": customer, "source_page_id": 11,
         "target_page_id": page, "variant": variant},
        {"timestamp": start + 30, "customer_id": customer, "source_page_id": page,
         "target_page_id": 11, "variant": variant},
        {"timestamp": end, "customer_id": customer, "source_page_id": 11,
         "target_page_id": 42, "is_resolved": True, "variant": variant},
    ]  # fmt: skip


def _hour(ts: int) -> int:
    return ts - ts % 3600


WINDOWS = {  # inside the minute range, edges off the minute; and whole hours of compacted data
    "recent-edges": {"since": GROUPS["recent"] + 1017, "until": GROUPS["recent"] + 2003},
    "recent-open-end": {"since": GROUPS["recent"] + 599},
    "mid-hours": {"since": _hour(GROUPS["mid"]), "until": _hour(GROUPS["mid"]) + 3 * 3600 - 1},
}


async def _metrics(client: httpx.AsyncClient) -> dict[str, Any]:
    found = {}
    for name, window in WINDOWS.items():
        for variant in (None, "A"):
            params: dict[str, Any] = {**window, **({"variant": variant} if variant else {})}
            for what in ("paths", "pages"):
                response = await client.get(f"/v1/metrics/{what}", params=params)
                assert response.status_code == 200, response.text
                found[f"{name}/{variant}/{what}"] = response.json()
    return found


async def _counts(pool: asyncpg.Pool, horizon_clicks: int, horizon_minutes: int) -> dict[str, int]:
    return dict(
        await pool.fetchrow(
            """
            SELECT (SELECT count(*) FROM clicks WHERE ts < $1) AS old_clicks,
                   (SELECT count(*) FROM clicks WHERE ts >= $1) AS kept_clicks,
                   (SELECT count(*) FROM paths WHERE end_ts < $1) AS old_paths,
                   (SELECT count(*) FROM paths WHERE end_ts >= $1) AS kept_paths,
                   (SELECT count(*) FROM path_rollups WHERE bucket < $2 AND bucket % 3600 <> 0)
                       + (SELECT count(*) FROM page_rollups
                          WHERE bucket < $2 AND bucket % 3600 <> 0) AS old_minute_rows,
                   (SELECT count(*) FROM path_rollups WHERE bucket < $3)
                       + (SELECT count(*) FROM page_rollups WHERE bucket < $3) AS expired_rows
            """,
            horizon_clicks,
            horizon_minutes,
            NOW - 365 * DAY,
        )
    )


async def _minute_rows(pool: asyncpg.Pool, horizon_minutes: int) -> list[Any]:
    return [
        tuple(r)
        for r in await pool.fetch(
            "SELECT * FROM page_rollups WHERE bucket >= $1 ORDER BY 1, 2, 3, 4", horizon_minutes
        )
    ]


async def test_retention_removes_old_rows_on_schedule_and_keeps_window_metrics(
    settings: Settings,
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    pool: asyncpg.Pool,
    redis: RedisClient,
) -> None:
    customer = 0
    for start in GROUPS.values():
        events = []
        for n in range(PER_GROUP):
            events += _path_clicks(customer, start + n * 61)
            customer += 1
        assert (await api.post("/v1/clicks/batch", json={"events": events})).status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    assert await pool.fetchval("SELECT count(*) FROM paths") == 4 * PER_GROUP

    clicks_horizon, minutes_horizon = NOW - 30 * DAY, NOW - 7 * DAY
    before = await _counts(pool, clicks_horizon, minutes_horizon)
    assert before["old_clicks"] and before["old_paths"] and before["old_minute_rows"]
    assert before["expired_rows"]
    metrics_before = await _metrics(api)
    assert all(m["completed_paths"] > 0 for k, m in metrics_before.items() if k.endswith("paths"))
    minute_rows_before = await _minute_rows(pool, minutes_horizon)

    retention_settings = settings.model_copy(  # the README's production values
        update={
            "retain_clicks_days": 30,
            "retain_paths_days": 30,
            "retain_minute_rollups_days": 7,
            "retain_rollups_days": 365,
            "retention_interval_seconds": 0.1,
            "retention_batch_rows": 7,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_retention(retention_settings, pool, lambda: True, stop, lambda: NOW)
    )
    try:
        expected = {**before, "old_clicks": 0, "old_paths": 0, "old_minute_rows": 0,
                    "expired_rows": 0}  # fmt: skip
        for _ in range(300):  # at most 30 s
            if await _counts(pool, clicks_horizon, minutes_horizon) == expected:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    assert await _counts(pool, clicks_horizon, minutes_horizon) == expected
    assert await _metrics(api) == metrics_before
    assert await _minute_rows(pool, minutes_horizon) == minute_rows_before
    hour_rows = await pool.fetchval(
        "SELECT count(*) FROM path_rollups WHERE bucket < $1 AND bucket % 3600 = 0", minutes_horizon
    )
    assert hour_rows > 0  # the "old" and "mid" groups, compacted
