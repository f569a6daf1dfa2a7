"""`GET /v1/paths` pages neither skip nor repeat a path that grows between two pages
(issue 15, item 8c): extending an open path must not move it in the cursor's order."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.streams import RedisClient
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

T = 1515764691
CUSTOMERS = range(10)


def click(customer: int, ts: int, source: int, target: int, resolved: bool = False) -> Any:
    return {
        "timestamp": ts,
        "customer_id": customer,
        "source_page_id": source,
        "target_page_id": target,
        "is_resolved": resolved,
    }


async def post_and_apply(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, events: list[Any]
) -> None:
    response = await api.post("/v1/clicks/batch", json={"events": events})
    assert response.status_code == 202, response.text
    await wait_drained(redis, pool, 4)


async def test_extending_paths_between_pages_neither_skips_nor_repeats(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, worker: WorkerHandle
) -> None:
    await post_and_apply(api, redis, pool, [click(c, T, 11, 28) for c in CUSTOMERS])
    seen: list[tuple[int, int]] = []
    cursor: str | None = None
    step = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/paths", params=params)).json()
        seen.extend((p["customer_id"], p["path_start_timestamp"]) for p in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        step += 1  # every open path grows meanwhile (the worker replaces its row)
        await post_and_apply(
            api,
            redis,
            pool,
            [click(c, T + step, 29 + step if step > 1 else 28, 30 + step) for c in CUSTOMERS],
        )
    assert sorted(seen) == [(c, T) for c in CUSTOMERS]  # each path exactly once
    final = (await api.get("/v1/paths", params={"limit": 1000})).json()["items"]
    assert all(p["path_length"] == 2 + step for p in final)  # they did grow


async def test_paths_starting_in_the_same_second_are_each_listed_once(
    api: httpx.AsyncClient, redis: RedisClient, pool: asyncpg.Pool, worker: WorkerHandle
) -> None:
    """Two resolutions in one second: two paths with one (customer, start); pages split them."""
    events = [click(7, T, 11, 28, resolved=True), click(7, T, 28, 35, resolved=True)]
    await post_and_apply(api, redis, pool, [*events, click(8, T, 11, 28)])
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/paths", params=params)).json()
        pages.append([(p["customer_id"], p["path"]) for p in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        await post_and_apply(api, redis, pool, [click(8, T + len(pages), 28, 40 + len(pages))])
    assert [item for page in pages for item in page] == [
        (7, [11, 28]),
        (7, [28, 35]),
        (8, [11, 28, 41, 28, 42]),
    ]
