"""Out-of-order, duplicated, back-navigating traffic from many customers, end to end."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests import oracle, traffic
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration


async def post_all(api: httpx.AsyncClient, chunks: list[list[traffic.SentClick]]) -> None:
    """Send chunks one after another: arrival order is what the lateness bound is about."""
    for chunk in chunks:
        if len(chunk) == 1:
            response = await api.post("/v1/clicks", json=chunk[0].body())
        else:
            response = await api.post(
                "/v1/clicks/batch", json={"events": [c.body() for c in chunk]}
            )
        assert response.status_code == 202, response.text


async def all_paths(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 37, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/paths", params=query)).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def settled_paths(
    api: httpx.AsyncClient, expected: list[dict[str, Any]], within: float = 10.0
) -> list[dict[str, Any]]:
    """All paths, once they equal ``expected`` or ``within`` seconds have passed.

    Paths of partitions that received nothing new are closed by event time on the next
    wall-clock sweep (every 0.5 s here), so the final state may lag the drain a little.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        paths = await all_paths(api)
        if paths == expected or loop.time() > deadline:
            return paths
        await asyncio.sleep(0.1)


def approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {k: pytest.approx(v) if isinstance(v, float) else v for k, v in expected.items()}


async def test_shuffled_duplicated_traffic_gives_the_rules_paths(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    rng = random.Random(20180112)
    sent = traffic.generate(rng, customers=60, clicks_per_customer=25)
    arrivals = traffic.arrival_order(rng, sent, settings.allowed_lateness, duplicate_share=0.15)
    await post_all(api, traffic.batches(rng, arrivals, largest=120))
    await wait_drained(redis, pool, settings.partitions)

    expected = traffic.expected_paths(sent, settings.path_timeout)
    want = [traffic.as_api(p) for p in expected]
    assert await settled_paths(api, want) == want

    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics == approx({**traffic.path_metrics(expected), "late_events": 0})
    for variant in ("A", "B"):
        subset = [p for p in expected if p.variant == variant]
        got = (await api.get("/v1/metrics/paths", params={"variant": variant})).json()
        assert got == approx({**traffic.path_metrics(subset), "late_events": 0})

    pages = (await api.get("/v1/metrics/pages", params={"limit": 1000})).json()
    assert traffic.without_names(pages) == traffic.expected_page_metrics(expected)


async def test_windows_are_exact_to_the_second(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    rng = random.Random(7)
    sent = traffic.generate(rng, customers=30, clicks_per_customer=15)
    await post_all(api, traffic.batches(rng, sent, largest=200))
    await wait_drained(redis, pool, settings.partitions)
    expected = traffic.expected_paths(sent, settings.path_timeout)
    want = [traffic.as_api(p) for p in expected]
    assert await settled_paths(api, want) == want
    completed = [p for p in expected if p.status != "open"]
    ends = sorted(p.end_ts for p in completed)
    # Turnarounds at the edges: windows starting or ending on the very second a path with
    # a turnaround ends (inside a partial minute, answered from raw paths, not rollups).
    turned = sorted(
        (p for p in completed if oracle.turnaround_locations(p.pages)), key=lambda p: p.end_ts
    )
    at_start = next(p for p in turned if p.pages[0] == p.pages[2] and p.end_ts % 60)  # ABA…
    at_end = next(p for p in turned if p.pages[-1] == p.pages[-3] and p.end_ts % 60)  # …ABA
    windows = [
        (ends[3], ends[-4]),  # arbitrary seconds: partial minutes at both edges
        (ends[0], None),
        (None, ends[10]),
        (ends[5] - ends[5] % 60, ends[20] - ends[20] % 60 + 59),  # whole minutes only
        (ends[7], ends[7]),  # a single second
        (at_start.end_ts, at_start.end_ts),
        (at_end.end_ts, at_end.end_ts),
        (at_start.end_ts, None),
        (None, at_end.end_ts),
        (at_start.end_ts + 1, None),
        (None, at_end.end_ts - 1),
    ]
    for since, until in windows:
        params = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
        got = (await api.get("/v1/metrics/paths", params=params)).json()
        assert got == traffic.expected_path_metrics(expected, since, until), params
        pages = (await api.get("/v1/metrics/pages", params={**params, "limit": 1000})).json()
        want_pages = traffic.expected_page_metrics(expected, since, until)
        assert traffic.without_names(pages) == want_pages, params


def body(ts: int, customer: int, source: int, target: int, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": ts,
        "customer_id": customer,
        "source_page_id": source,
        "target_page_id": target,
        **extra,
    }


async def test_late_events_are_counted_and_kept_not_sessionized(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    t = 1_600_000_000
    await api.post("/v1/clicks", json=body(t, 5, 1, 2))
    await api.post("/v1/clicks", json=body(t + 1000, 5, 2, 3, is_resolved=True))
    await wait_drained(redis, pool, settings.partitions)
    late = body(t + 500, 5, 2, 9)  # 500 s behind the newest click: beyond 300 s
    for _ in range(2):  # delivered twice, counted once
        assert (await api.post("/v1/clicks", json=late)).status_code == 202
    await wait_drained(redis, pool, settings.partitions)

    items = (await api.get("/v1/paths", params={"customer_id": 5})).json()["items"]
    assert [p["path"] for p in items] == [[1, 2, 3]]
    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics["late_events"] == 1
    assert (await api.get("/v1/metrics/paths", params={"until": t + 499})).json()[
        "late_events"
    ] == 0
    kept = await pool.fetchval("SELECT count(*) FROM clicks WHERE late AND customer_id = 5")
    assert kept == 1


async def test_gap_longer_than_timeout_abandons_and_stream_time_closes_idle_paths(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    t = 1_600_000_000
    p = settings.partitions
    events = [
        body(t, 1, 10, 11),
        body(t + 1801, 1, 11, 12),  # gap > 1800: first path abandoned, new path
        body(t + 1802, 1 + p, 20, 21),  # same partition as customer 1
        body(t + 1802 + 1801, 1 + 2 * p, 30, 31),  # moves the partition's event time on
    ]
    response = await api.post("/v1/clicks/batch", json={"events": events})
    assert response.status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    paths = {
        (i["customer_id"], i["path_start_timestamp"]): (i["path"], i["status"])
        for i in (await api.get("/v1/paths")).json()["items"]
    }
    assert paths == {
        (1, t): ([10, 11], "abandoned"),
        (1, t + 1801): ([11, 12], "abandoned"),  # idle on the stream for > 1800 s
        (1 + p, t + 1802): ([20, 21], "abandoned"),
        (1 + 2 * p, t + 3603): ([30, 31], "open"),
    }


async def test_idle_path_closes_on_the_wall_clock(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient, api: httpx.AsyncClient
) -> None:
    quick = settings.model_copy(update={"path_timeout": 1, "worker_sweep_seconds": 0.2})
    worker_pool = await asyncpg.create_pool(quick.database_url, min_size=1, max_size=4)
    handle = WorkerHandle(quick, worker_pool, redis)
    handle.start()
    try:
        assert (await api.post("/v1/clicks", json=body(1_600_000_000, 3, 1, 2))).status_code == 202
        await wait_drained(redis, pool, quick.partitions)
        statuses: list[str] = []
        for _ in range(100):
            statuses = [i["status"] for i in (await api.get("/v1/paths")).json()["items"]]
            if statuses == ["abandoned"]:
                break
            await asyncio.sleep(0.05)
        assert statuses == ["abandoned"]
        metrics = (await api.get("/v1/metrics/paths")).json()
        assert metrics["abandoned_paths"] == 1
    finally:
        await handle.shutdown()
        await worker_pool.close()


async def test_event_id_deduplicates_and_content_deduplicates_without_it(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    t = 1_600_000_000
    event_id = "7b7e3c38-5b43-4b41-8f0a-2d6f3b8b1f00"
    first = body(t, 8, 1, 2, event_id=event_id)
    retry = body(t, 8, 1, 2, event_id=event_id)
    plain = body(t + 5, 8, 2, 3)
    for event in (first, retry, plain, plain):
        assert (await api.post("/v1/clicks", json=event)).status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    items = (await api.get("/v1/paths", params={"customer_id": 8})).json()["items"]
    assert [(i["path"], i["status"]) for i in items] == [([1, 2, 3], "open")]
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 2
