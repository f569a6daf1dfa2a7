"""POST /v1/support-events[/batch]: validation, whole-batch rejection, partitioning, storage."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient, stream_key
from tests.conftest import WorkerHandle, wait_drained

pytestmark = pytest.mark.integration

OPENED: dict[str, Any] = {
    "type": "ticket.opened",
    "ticket_id": 5,
    "customer_id": 9,
    "category": "Wrong order",
    "timestamp": "2024-03-01T10:00:00Z",
}
MESSAGE: dict[str, Any] = {
    "type": "message.sent",
    "message_id": 50,
    "ticket_id": 5,
    "sender_type": "agent",
    "sender_id": 3,
    "timestamp": 1709287200,
    "text": "Hello",
}
RATED: dict[str, Any] = {"type": "ticket.rated", "ticket_id": 5, "rating": 4, "timestamp": 1}


async def _stream_lengths(redis: RedisClient, settings: Settings) -> int:
    return sum([await redis.xlen(stream_key(p, "support")) for p in range(settings.partitions)])


@pytest.mark.parametrize(
    ("event", "loc"),
    [
        ({**RATED, "rating": 6}, ["body", "rating"]),
        ({**RATED, "rating": 0}, ["body", "rating"]),
        ({**RATED, "rating": True}, ["body", "rating"]),
        ({**OPENED, "category": "Billing"}, ["body", "category"]),
        ({**MESSAGE, "sender_type": "bot"}, ["body", "sender_type"]),
        ({**MESSAGE, "ticket_id": -1}, ["body", "ticket_id"]),
        ({**MESSAGE, "timestamp": "soon"}, ["body", "timestamp"]),
        ({k: v for k, v in OPENED.items() if k != "customer_id"}, ["body", "customer_id"]),
        ({k: v for k, v in OPENED.items() if k != "type"}, ["body", "type"]),
        ({**OPENED, "type": "ticket.closed"}, ["body", "type"]),
        ({"type": "agent.upserted", "agent_id": 1, "first_name": "A"}, ["body", "last_name"]),
    ],
)
async def test_a_bad_event_is_422_naming_the_field(
    api: httpx.AsyncClient,
    redis: RedisClient,
    settings: Settings,
    event: dict[str, Any],
    loc: list[Any],
) -> None:
    response = await api.post("/v1/support-events", json=event)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert await _stream_lengths(redis, settings) == 0


async def test_a_bad_event_rejects_the_whole_batch_naming_its_index(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    events = [
        OPENED,
        MESSAGE,
        {**OPENED, "ticket_id": 6, "category": "Refund"},
        RATED,
        {**RATED, "rating": 6},
    ]
    response = await api.post("/v1/support-events/batch", json={"events": events})
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert locs == [["body", "events", 2, "category"], ["body", "events", 4, "rating"]]
    assert await _stream_lengths(redis, settings) == 0
    await wait_drained(redis, pool, settings.partitions)
    assert await pool.fetchval("SELECT count(*) FROM tickets") == 0
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_batch_size_limits(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/support-events/batch", json={"events": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events"]
    too_many = [{**RATED, "timestamp": i} for i in range(10_001)]
    response = await api.post("/v1/support-events/batch", json={"events": too_many})
    assert response.status_code == 422


async def test_events_are_partitioned_by_ticket_and_stored(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    agent = {
        "type": "agent.upserted",
        "agent_id": 3,
        "first_name": "Kim",
        "last_name": "Lee",
        "phone": 5550100,
    }
    events = [MESSAGE, MESSAGE, OPENED, RATED, agent]
    response = await api.post("/v1/support-events/batch", json={"events": events})
    assert response.status_code == 202
    assert response.json() == {"accepted": 5}
    # Ticket 5 → partition 1 (of 4), agent 3 → partition 3: one stream entry each.
    assert await redis.xlen(stream_key(5 % settings.partitions, "support")) == 1
    assert await redis.xlen(stream_key(3 % settings.partitions, "support")) == 1
    await wait_drained(redis, pool, settings.partitions)

    ticket = await pool.fetchrow("SELECT * FROM tickets WHERE ticket_id = 5")
    assert ticket["customer_id"] == 9
    assert ticket["category"] == "Wrong order"
    assert ticket["opened_at"] == 1709287200
    assert ticket["status"] == "open"
    assert ticket["rating"] == 4
    assert ticket["message_count"] == 1  # the duplicate message counted once
    assert ticket["first_agent_message_at"] == 1709287200
    row = await pool.fetchrow("SELECT first_name, last_name, phone FROM agents")
    assert tuple(row) == ("Kim", "Lee", "5550100")


async def test_openapi_documents_the_event_union(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    body = schema["paths"]["/v1/support-events"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/SupportEventIn")
    components = schema["components"]["schemas"]
    assert "SupportBatchIn" in components
    assert "TicketRated" in components
    for name in ("first-response-time", "csat"):
        assert schema["paths"][f"/v1/reports/{name}"]["get"]["description"]
