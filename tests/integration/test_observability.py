"""Prometheus metrics and dead letters: what an operator sees of the pipeline."""

from __future__ import annotations

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
        match = re.fullmatch(rf"{name}(\{{[^}}]*\}})? (\S+)", line)
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
