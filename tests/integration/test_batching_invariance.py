"""How events are grouped into requests and worker batches never changes what they count as.

* `event_id` is scoped to the customer: deliveries with the same `customer_id` and
  `event_id` count once; the same `event_id` on another customer is another event.
* Late: an event is late when, on arrival, a click of the same customer more than
  `allowed_lateness` newer had already arrived. Arrival order is the stream's order and,
  within one request, the order of its `events` list.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

T = 1_600_000_000


def click(ts: int, customer: int, source: int, target: int, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": ts,
        "customer_id": customer,
        "source_page_id": source,
        "target_page_id": target,
        **extra,
    }


async def post_together(api: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    response = await api.post("/v1/clicks/batch", json={"events": events})
    assert response.status_code == 202, response.text


async def post_apart(
    api: httpx.AsyncClient,
    events: list[dict[str, Any]],
    redis: RedisClient,
    pool: asyncpg.Pool,
    partitions: int,
) -> None:
    """One request each, each applied before the next is sent (separate worker batches)."""
    for event in events:
        assert (await api.post("/v1/clicks", json=event)).status_code == 202
        await wait_drained(redis, pool, partitions)


async def paths_of(api: httpx.AsyncClient, customer: int) -> list[list[int]]:
    items = (await api.get("/v1/paths", params={"customer_id": customer})).json()["items"]
    return [i["path"] for i in items]


async def stored(pool: asyncpg.Pool, customer: int) -> list[tuple[int, bool]]:
    rows = await pool.fetch(
        "SELECT ts, late FROM clicks WHERE customer_id = $1 ORDER BY ts", customer
    )
    return [(r["ts"], r["late"]) for r in rows]


async def test_late_classification_does_not_depend_on_batching(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    def events(customer: int) -> list[dict[str, Any]]:
        # The second arrives 500 s of event time behind the first: beyond the 300 s bound.
        return [click(T + 1000, customer, 1, 2), click(T + 500, customer, 2, 3)]

    await post_together(api, events(11))
    await post_apart(api, events(12), redis, pool, settings.partitions)
    await wait_drained(redis, pool, settings.partitions)

    for customer in (11, 12):
        assert await paths_of(api, customer) == [[1, 2]], customer
        assert await stored(pool, customer) == [(T + 500, True), (T + 1000, False)], customer
    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics["late_events"] == 2


async def test_in_order_batch_is_never_late(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """Within the bound, order inside a request does not matter (as across requests)."""
    events = [click(T + 200, 21, 2, 3), click(T, 21, 1, 2)]  # 200 s out of order: allowed
    await post_together(api, events)
    await wait_drained(redis, pool, settings.partitions)
    assert await paths_of(api, 21) == [[1, 2, 3]]
    assert await stored(pool, 21) == [(T, False), (T + 200, False)]


async def test_same_event_id_on_two_customers_counts_for_each_whatever_the_batching(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    p = settings.partitions
    shared = "5d2c8a4e-1b7f-4c3a-9e6d-0f1a2b3c4d5e"
    other = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    # Customers c and c + p share a partition, so one request lands in one worker batch.
    together = [click(T, 1, 1, 2, event_id=shared), click(T + 9, 1 + p, 4, 5, event_id=shared)]
    apart = [click(T, 2, 1, 2, event_id=other), click(T + 9, 2 + p, 4, 5, event_id=other)]
    await post_together(api, together)
    await post_apart(api, apart, redis, pool, p)
    # A retry of each (same customer, same event_id) still counts once, in or across batches.
    await post_together(api, together + together)
    await post_apart(api, apart, redis, pool, p)
    await wait_drained(redis, pool, p)

    for customer in (1, 2):
        assert await paths_of(api, customer) == [[1, 2]], customer
        assert await paths_of(api, customer + p) == [[4, 5]], customer + p
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 4
