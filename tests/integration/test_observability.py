"""Prometheus metrics and dead letters: what an operator sees of the pipeline."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient, dead_letter_key, stream_key
from helpstream.wire import PAYLOAD_FIELD
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration


def sample(text: str, name: str, labels: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)  # labels may hold "}"
        if match and labels in (match[1] or ""):
            total += float(match[2])
    return total


def click(ts: int, customer: int, source: int, target: int) -> dict[str, int]:
    return {
        "timestamp": ts,
        "customer_id": customer,
        "source_page_id": source,
        "target_page_id": target,
    }


async def test_poison_entry_is_dead_lettered_and_the_partition_moves_on(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    partition = 1 % settings.partitions
    await redis.xadd(stream_key(partition, "clicks"), {PAYLOAD_FIELD: b"{not json"})
    await redis.xadd(stream_key(partition, "clicks"), {PAYLOAD_FIELD: b'[["wrong", "shape"]]'})
    await redis.xadd(stream_key(partition, "clicks"), {b"other": b"field"})
    response = await api.post("/v1/clicks", json=click(1_600_000_000, 1, 4, 5))
    assert response.status_code == 202
    await wait_drained(redis, pool, settings.partitions)

    items = (await api.get("/v1/paths", params={"customer_id": 1})).json()["items"]
    assert [i["path"] for i in items] == [[4, 5]]
    dead = await redis.xrange(dead_letter_key(partition, "clicks"))
    assert len(dead) == 3
    assert all(b"reason" in fields for _, fields in dead)

    text = (await api.get("/metrics")).text
    assert sample(text, "helpstream_dead_letters_total") == 3
    assert sample(text, "helpstream_dead_letter_entries", f'partition="{partition}"') == 3


async def test_metrics_count_ingested_applied_late_and_backlog(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    t = 1_600_000_000
    events = [click(t, c, 1, 2) for c in range(10)] + [click(t + 1000, 3, 2, 3)]
    assert (await api.post("/v1/clicks/batch", json={"events": events})).status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    assert (await api.post("/v1/clicks", json=click(t + 100, 3, 7, 8))).status_code == 202
    await wait_drained(redis, pool, settings.partitions)

    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, "helpstream_ingested_events_total", 'stream="clicks"') == 12
    assert sample(text, "helpstream_applied_entries_total", 'stream="clicks"') >= 1
    assert sample(text, "helpstream_backlog_entries") <= settings.partitions * 2
    assert sample(text, "helpstream_oldest_unapplied_age_seconds") == 0
    assert sample(text, "helpstream_late_events_total") == 1
    assert "# TYPE helpstream_backlog_entries gauge" in text


async def test_metrics_need_a_key(api: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_metrics_show_workers_partitions_build_and_request_durations(
    api: httpx.AsyncClient,
    read_api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    await wait_drained(redis, pool, settings.partitions)
    for _ in range(3):
        assert (await read_api.get("/v1/pages/")).status_code in (200, 404, 307)
    await api.put("/v1/pages/5", json={"name": "five"})
    await api.put("/v1/pages/6", json={"name": "six"})
    assert (await api.post("/v1/clicks", json=click(1_600_000_000, 1, 4, 5))).status_code == 202
    # The worker takes its partitions within a few lease refreshes.
    for _ in range(200):
        text = (await api.get("/metrics")).text
        if sample(text, "helpstream_partition_owned") == settings.partitions:
            break
        await asyncio.sleep(0.05)
    assert sample(text, "helpstream_live_workers") == 1
    assert sample(text, "helpstream_partition_owned") == settings.partitions
    assert 'helpstream_build_info{python="' in text and 'version="' in text
    # Route templates, not raw paths; the click fast path is labelled by its route too.
    histogram = "helpstream_http_request_duration_seconds_count"
    assert sample(text, histogram, 'route="/v1/pages/{page_id}"') == 2
    assert sample(text, histogram, 'route="/v1/clicks"') == 1
    assert 'route="/v1/pages/5"' not in text
    assert "# TYPE helpstream_http_request_duration_seconds histogram" in text


async def test_late_events_metric_is_a_running_total_not_a_scan_of_the_rollups(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    t = 1_600_000_000
    assert (await api.post("/v1/clicks", json=click(t + 1000, 3, 2, 3))).status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    late = [click(t, 3, 7, 8), click(t + 1, 3, 8, 9)]
    assert (await api.post("/v1/clicks/batch", json={"events": late})).status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    assert sample((await api.get("/metrics")).text, "helpstream_late_events_total") == 2
    # GET /metrics must not read path_rollups (it grows every minute): emptying it changes
    # nothing in the total.
    await pool.execute("TRUNCATE path_rollups")
    assert sample((await api.get("/metrics")).text, "helpstream_late_events_total") == 2
