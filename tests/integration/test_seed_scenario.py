"""The seed's sample scenario, end to end: HTTP → Redis Streams → worker → PostgreSQL → HTTP."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

SEED = [
    (1515764691, 1, 11, 28, False),
    (1515764752, 2, 11, 35, False),
    (1515764876, 2, 35, 42, True),
    (1515764997, 1, 28, 35, False),
    (1515765000, 1, 35, 42, True),
]


def click(ts: int, customer: int, source: int, target: int, resolved: bool) -> dict[str, object]:
    return {
        "timestamp": ts,
        "customer_id": customer,
        "source_page_id": source,
        "target_page_id": target,
        "is_resolved": resolved,
    }


async def test_seed_scenario_paths_and_metrics(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    for event in SEED:
        response = await api.post("/v1/clicks", json=click(*event))
        assert response.status_code == 202
        assert response.json() == {"accepted": 1}
    await wait_drained(redis, pool, settings.partitions)

    body = (await api.get("/v1/paths")).json()
    assert body["next_cursor"] is None
    paths = {p["customer_id"]: p for p in body["items"]}
    assert paths[1]["path"] == [11, 28, 35, 42]
    assert paths[1]["path_length"] == 4
    assert paths[1]["path_start_timestamp"] == 1515764691
    assert paths[1]["path_end_timestamp"] == 1515765000
    assert paths[2]["path"] == [11, 35, 42]
    assert paths[2]["path_length"] == 3
    assert {p["status"] for p in paths.values()} == {"resolved"}
    assert not any(p["has_turnaround"] for p in paths.values())

    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics == {
        "completed_paths": 2,
        "resolved_paths": 2,
        "abandoned_paths": 0,
        "resolution_rate": 1.0,
        "average_path_length": 3.5,
        "path_length_variance": 0.25,
        "turnaround_rate": 0.0,
        "late_events": 0,
    }


async def test_seed_scenario_as_one_batch_in_reverse_order(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    events = [click(*e) for e in SEED if e[1] == 2][::-1]
    response = await api.post("/v1/clicks/batch", json={"events": events})
    assert response.status_code == 202
    assert response.json() == {"accepted": 2}
    await wait_drained(redis, pool, settings.partitions)
    items = (await api.get("/v1/paths", params={"customer_id": 2})).json()["items"]
    assert [p["path"] for p in items] == [[11, 35, 42]]
