"""One client's wrong clock must never move event time for everybody (contract §3).

A `timestamp` more than `max_future_skew` ahead of the server's clock is bad input (422
naming the field) on every ingest route; and the worker never lets event time run ahead
of its own clock by more than that, whatever is already buffered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import KINDS, RedisClient, stream_key
from helpstream.wire import click_to_wire, encode_events
from tests.conftest import WorkerHandle, bearer, serve, wait_drained

pytestmark = pytest.mark.integration

YEAR_2100 = 4_102_444_800


def click(ts: Any, customer: int = 1) -> dict[str, Any]:
    return {"timestamp": ts, "customer_id": customer, "source_page_id": 1, "target_page_id": 2}


def ticket_opened(ts: Any) -> dict[str, Any]:
    return {
        "type": "ticket.opened",
        "ticket_id": 1,
        "customer_id": 1,
        "category": "Bug report",
        "timestamp": ts,
    }


def message_sent(ts: Any) -> dict[str, Any]:
    return {
        "type": "message.sent",
        "message_id": 1,
        "ticket_id": 1,
        "sender_type": "customer",
        "sender_id": 1,
        "timestamp": ts,
    }


async def stream_lengths(redis: RedisClient, partitions: int) -> int:
    return sum([await redis.xlen(stream_key(p, kind)) for p in range(partitions) for kind in KINDS])


def locations(response: httpx.Response) -> list[list[Any]]:
    return [error["loc"] for error in response.json()["detail"]]


FUTURE = [YEAR_2100, "2100-01-01T00:00:00Z"]


@pytest.mark.parametrize("ts", FUTURE)
@pytest.mark.parametrize("scope", ["ingest", "admin"])  # ingest: the click fast path
async def test_future_click_is_rejected_naming_the_field(
    api: httpx.AsyncClient,
    redis: RedisClient,
    settings: Settings,
    api_keys: dict[str, str],
    scope: str,
    ts: Any,
) -> None:
    headers = bearer(api_keys[scope])
    one = await api.post("/v1/clicks", json=click(ts), headers=headers)
    assert one.status_code == 422, one.text
    assert locations(one) == [["body", "timestamp"]]
    assert "ahead of the server's clock" in one.json()["detail"][0]["msg"]
    events = [click(1_515_764_691, customer=i) for i in range(3)]
    events[2] = click(ts, customer=2)
    batch = await api.post("/v1/clicks/batch", json={"events": events}, headers=headers)
    assert batch.status_code == 422, batch.text
    assert locations(batch) == [["body", "events", 2, "timestamp"]]
    assert await stream_lengths(redis, settings.partitions) == 0


@pytest.mark.parametrize("ts", FUTURE)
async def test_future_help_desk_event_is_rejected_naming_the_field(
    api: httpx.AsyncClient, redis: RedisClient, settings: Settings, ts: Any
) -> None:
    one = await api.post("/v1/support-events", json=ticket_opened(ts))
    assert one.status_code == 422, one.text
    assert locations(one) == [["body", "timestamp"]]
    events = [ticket_opened(1_515_764_691), message_sent(ts)]
    batch = await api.post("/v1/support-events/batch", json={"events": events})
    assert batch.status_code == 422, batch.text
    assert locations(batch) == [["body", "events", 1, "timestamp"]]
    assert await stream_lengths(redis, settings.partitions) == 0


async def test_past_and_slightly_ahead_timestamps_are_accepted(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    ahead = int(time.time()) + 200  # a client clock 200 s fast: within the default 300 s
    for ts in (1_515_764_691, "2018-01-12T13:44:51Z", 1_700_000_000, ahead):
        for scope in ("ingest", "admin"):
            response = await api.post("/v1/clicks", json=click(ts), headers=bearer(api_keys[scope]))
            assert response.status_code == 202, (ts, response.text)
    response = await api.post("/v1/support-events", json=ticket_opened(ahead))
    assert response.status_code == 202, response.text


async def test_max_future_skew_is_a_setting(
    settings: Settings, redis: RedisClient, api_keys: dict[str, str]
) -> None:
    strict = settings.model_copy(update={"max_future_skew": 10})
    async with serve(strict) as url, httpx.AsyncClient(base_url=url) as client:
        headers = bearer(api_keys["ingest"])
        ahead = int(time.time()) + 60
        rejected = await client.post("/v1/clicks", json=click(ahead), headers=headers)
        assert rejected.status_code == 422, rejected.text
        assert "10 s" in rejected.json()["detail"][0]["msg"]
        accepted = await client.post("/v1/clicks", json=click(ahead - 55), headers=headers)
        assert accepted.status_code == 202, accepted.text


async def test_buffered_future_click_cannot_close_other_customers_paths(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """Defence in depth: an entry already in the stream (written before the API checked,
    or by another writer) moves event time at most to the worker's clock + the skew."""
    now = int(time.time())
    p = settings.partitions
    for customer, target in ((1, 2), (2, 3)):  # two partitions, both open right now
        body = click(now - 60, customer) | {"target_page_id": target}
        response = await api.post("/v1/clicks", json=body)
        assert response.status_code == 202
    await wait_drained(redis, pool, p)
    skewed = click_to_wire(
        YEAR_2100, 3, 5, 6, False, "0b1f7c1e-9d1c-4a55-9f7e-1f4bde0c3a11", "default"
    )
    await redis.xadd(stream_key(3 % p, "clicks"), {b"b": encode_events([skewed])})
    await wait_drained(redis, pool, p)
    await asyncio.sleep(3 * settings.worker_sweep_seconds)  # sweeps by event time run too

    statuses = {i["customer_id"]: i["status"] for i in (await api.get("/v1/paths")).json()["items"]}
    assert statuses == {1: "open", 2: "open", 3: "open"}
    newest = await pool.fetchval("SELECT max(stream_time) FROM stream_offsets")
    assert newest <= int(time.time()) + settings.max_future_skew
