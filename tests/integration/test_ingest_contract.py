"""Ingest's contract edges: 422 naming the field and index, nothing stored, 413, 503."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.embedded import EmbeddedRedis
from helpstream.settings import Settings
from helpstream.streams import KINDS, RedisClient, stream_key
from tests.conftest import bearer, serve

pytestmark = pytest.mark.integration

GOOD = {"timestamp": 1515764691, "customer_id": 1, "source_page_id": 11, "target_page_id": 28}


async def stream_lengths(redis: RedisClient, partitions: int) -> int:
    total = 0
    for partition in range(partitions):
        for kind in KINDS:
            total += await redis.xlen(stream_key(partition, kind))
    return total


def locations(response: httpx.Response) -> list[list[Any]]:
    return [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", "yesterday"),
        ("timestamp", -5),
        ("customer_id", -1),
        ("customer_id", "abc"),
        ("source_page_id", 1.5),
        ("target_page_id", None),
        ("is_resolved", "maybe"),
        ("event_id", "not-a-uuid"),
        ("variant", "has space"),
        ("variant", "x" * 65),
    ],
)
async def test_bad_field_is_named(
    api: httpx.AsyncClient, redis: RedisClient, settings: Settings, field: str, value: Any
) -> None:
    response = await api.post("/v1/clicks", json={**GOOD, field: value})
    assert response.status_code == 422
    assert ["body", field] in locations(response)
    assert await stream_lengths(redis, settings.partitions) == 0


async def test_missing_required_fields_are_each_named(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/clicks", json={"is_resolved": True})
    assert response.status_code == 422
    assert sorted(loc[-1] for loc in locations(response)) == [
        "customer_id",
        "source_page_id",
        "target_page_id",
        "timestamp",
    ]


async def test_batch_with_one_bad_event_is_rejected_whole(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    events: list[dict[str, Any]] = [dict(GOOD, customer_id=i) for i in range(5)]
    events[3]["target_page_id"] = "x"
    response = await api.post("/v1/clicks/batch", json={"events": events})
    assert response.status_code == 422
    assert locations(response) == [["body", "events", 3, "target_page_id"]]
    assert await stream_lengths(redis, settings.partitions) == 0
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 0


@pytest.mark.parametrize("events", [[], [GOOD] * 10_001])
async def test_batch_size_bounds(
    api: httpx.AsyncClient, redis: RedisClient, settings: Settings, events: list[Any]
) -> None:
    response = await api.post("/v1/clicks/batch", json={"events": events})
    assert response.status_code in (413, 422)
    assert await stream_lengths(redis, settings.partitions) == 0


async def test_iso_timestamp_is_accepted(api: httpx.AsyncClient) -> None:
    for timestamp in ("2018-01-12T13:44:51Z", "2018-01-12T13:44:51+00:00", "1515764691"):
        response = await api.post("/v1/clicks", json={**GOOD, "timestamp": timestamp})
        assert response.status_code == 202, (timestamp, response.text)


async def test_oversized_body_gets_413(settings: Settings, api_keys: dict[str, str]) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    async with serve(small) as url, httpx.AsyncClient(base_url=url) as client:
        events = [GOOD] * 100
        response = await client.post(
            "/v1/clicks/batch", json={"events": events}, headers=bearer(api_keys["admin"])
        )
    assert response.status_code == 413
    assert "detail" in response.json()


async def test_redis_down_gives_503_with_retry_after(
    settings: Settings, pool: asyncpg.Pool, api_keys: dict[str, str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        own_redis = EmbeddedRedis(Path(tmp))
        redis_url = own_redis.start()
        try:
            isolated = settings.model_copy(update={"redis_url": redis_url})
            async with (
                serve(isolated) as url,
                httpx.AsyncClient(base_url=url, headers=bearer(api_keys["admin"])) as client,
            ):
                assert (await client.post("/v1/clicks", json=GOOD)).status_code == 202
                own_redis.stop()
                response = await client.post("/v1/clicks", json=GOOD)
                assert response.status_code == 503
                assert int(response.headers["Retry-After"]) >= 1
                assert "detail" in response.json()
                batch = await client.post("/v1/clicks/batch", json={"events": [GOOD]})
                assert batch.status_code == 503
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["redis"] == "unreachable"
        finally:
            own_redis.stop()


async def test_backlog_over_limit_gives_503(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient, api_keys: dict[str, str]
) -> None:
    tight = settings.model_copy(update={"max_backlog": 3})
    async with (
        serve(tight) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(api_keys["admin"])) as client,
    ):
        statuses = []
        for customer in range(40):  # no worker runs: the backlog only grows
            response = await client.post("/v1/clicks", json={**GOOD, "customer_id": customer})
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert "Retry-After" in response.headers
                break
            await asyncio.sleep(0.05)  # let the backlog monitor catch up
        assert statuses[-1] == 503
