"""Page names and CSV exports (contract §8), through the real API, workers and database."""

from __future__ import annotations

import csv
import io
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import WorkerHandle, bearer, wait_drained

pytestmark = pytest.mark.integration

REPORTS = (
    "resolution-time",
    "agents-per-ticket",
    "tickets-per-agent",
    "resolution-time-by-month",
    "agent-ratings",
    "first-response-time",
    "csat",
)


async def test_pages_are_named_listed_by_group_and_shown_in_page_metrics(
    api: httpx.AsyncClient,
    read_api: httpx.AsyncClient,
    worker: WorkerHandle,
    settings: Settings,
    pool: asyncpg.Pool,
    redis: RedisClient,
) -> None:
    put = await api.put("/v1/pages/11", json={"name": "Home", "url": "/", "group": "top"})
    assert put.status_code == 200, put.text
    assert put.json() == {"page_id": 11, "name": "Home", "url": "/", "group": "top"}
    await api.put("/v1/pages/28", json={"name": "Billing", "url": None, "group": None})
    renamed = await api.put("/v1/pages/28", json={"name": "Billing & payments", "group": "hubs"})
    assert renamed.json() == {
        "page_id": 28,
        "name": "Billing & payments",
        "url": None,
        "group": "hubs",
    }

    listed = (await read_api.get("/v1/pages")).json()
    assert [p["page_id"] for p in listed["items"]] == [11, 28]
    hubs = (await read_api.get("/v1/pages", params={"group": "hubs"})).json()
    assert hubs == {
        "items": [{"page_id": 28, "name": "Billing & payments", "url": None, "group": "hubs"}]
    }

    clicks = [
        {"timestamp": 1000, "customer_id": 1, "source_page_id": 11, "target_page_id": 28},
        {"timestamp": 1010, "customer_id": 1, "source_page_id": 28, "target_page_id": 11},
        {
            "timestamp": 1020,
            "customer_id": 1,
            "source_page_id": 11,
            "target_page_id": 35,
            "is_resolved": True,
        },
    ]
    assert (await api.post("/v1/clicks/batch", json={"events": clicks})).status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    items = (await read_api.get("/v1/metrics/pages")).json()["items"]
    names = {item["page_id"]: item["page_name"] for item in items}
    assert names == {11: "Home", 28: "Billing & payments", 35: None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a\u0000b"}, "name"),
        ({"name": "ok", "url": 5}, "url"),
        ({"name": "ok", "group": ""}, "group"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
async def test_bad_page_bodies_are_422_naming_the_field(
    api: httpx.AsyncClient, pool: asyncpg.Pool, body: dict[str, Any], field: str
) -> None:
    response = await api.put("/v1/pages/7", json=body)
    assert response.status_code == 422, response.text
    assert ["body", field] in [e["loc"] for e in response.json()["detail"]]
    assert await pool.fetchval("SELECT count(*) FROM pages") == 0


async def test_naming_pages_needs_admin_and_reading_them_read(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    for scope, expected in (("read", 403), ("ingest", 403), ("admin", 200)):
        response = await api.put(
            "/v1/pages/3", json={"name": "Contact"}, headers=bearer(api_keys[scope])
        )
        assert response.status_code == expected, scope
    for scope, expected in (("read", 200), ("ingest", 403)):
        response = await api.get("/v1/pages", headers=bearer(api_keys[scope]))
        assert response.status_code == expected, scope
    too_big = await api.put("/v1/pages/18446744073709551616", json={"name": "x"})
    assert too_big.status_code == 422


def _csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_paths_export_streams_every_matching_path_as_csv(
    api: httpx.AsyncClient,
    read_api: httpx.AsyncClient,
    worker: WorkerHandle,
    settings: Settings,
    pool: asyncpg.Pool,
    redis: RedisClient,
) -> None:
    # 1,200 customers, one resolved path each: more than one JSON page and one CSV chunk.
    clicks = [
        {
            "timestamp": 5000 + c,
            "customer_id": c,
            "source_page_id": 11,
            "target_page_id": 28,
            "is_resolved": c % 3 == 0,
            "variant": "A" if c % 2 else "B",
        }
        for c in range(1200)
    ]
    assert (await api.post("/v1/clicks/batch", json={"events": clicks})).status_code == 202
    await wait_drained(redis, pool, settings.partitions)

    rows = _csv(await read_api.get("/v1/paths", params={"format": "csv", "limit": 1}))
    assert list(rows[0]) == [
        "customer_id",
        "path_start_timestamp",
        "path_end_timestamp",
        "path",
        "path_length",
        "status",
        "has_turnaround",
        "variant",
    ]
    assert len(rows) == 1200  # every path: limit and cursor do not apply to CSV
    assert rows[3] == {
        "customer_id": "3",
        "path_start_timestamp": "5003",
        "path_end_timestamp": "5003",
        "path": "11>28",
        "path_length": "2",
        "status": "resolved",
        "has_turnaround": "false",
        "variant": "A",
    }
    json_page = (await read_api.get("/v1/paths", params={"limit": 1000})).json()["items"]
    for row, item in zip(rows, json_page, strict=False):
        assert row["path"] == ">".join(map(str, item["path"]))
        assert row["status"] == item["status"]
    filtered = _csv(
        await read_api.get(
            "/v1/paths", params={"format": "csv", "status": "resolved", "variant": "B"}
        )
    )
    assert {r["customer_id"] for r in filtered} == {str(c) for c in range(0, 1200, 6)}
    bad = await read_api.get("/v1/paths", params={"format": "xml"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "format"]


async def test_every_report_exports_the_same_fields_as_csv(
    api: httpx.AsyncClient,
    read_api: httpx.AsyncClient,
    worker: WorkerHandle,
    settings: Settings,
    pool: asyncpg.Pool,
    redis: RedisClient,
) -> None:
    events = [
        {"type": "agent.upserted", "agent_id": 1, "first_name": "=Ada", "last_name": "Lovelace"},
        {
            "type": "ticket.opened",
            "ticket_id": 1,
            "customer_id": 5,
            "category": "Bug report",
            "timestamp": 1_700_000_000,
        },
        {
            "type": "message.sent",
            "message_id": 1,
            "ticket_id": 1,
            "sender_type": "customer",
            "sender_id": 5,
            "timestamp": 1_700_000_000,
            "text": "help",
        },
        {
            "type": "message.sent",
            "message_id": 2,
            "ticket_id": 1,
            "sender_type": "agent",
            "sender_id": 1,
            "timestamp": 1_700_005_400,
            "text": "done",
        },
        {"type": "ticket.resolved", "ticket_id": 1, "timestamp": 1_700_005_400},
        {"type": "ticket.rated", "ticket_id": 1, "rating": 5, "timestamp": 1_700_005_500},
    ]
    posted = await api.post("/v1/support-events/batch", json={"events": events})
    assert posted.status_code == 202
    await wait_drained(redis, pool, settings.partitions)
    for report in REPORTS:
        as_json = (await read_api.get(f"/v1/reports/{report}")).json()
        items = as_json if isinstance(as_json, list) else [as_json]
        rows = _csv(await read_api.get(f"/v1/reports/{report}", params={"format": "csv"}))
        assert len(rows) == len(items), report
        for row, item in zip(rows, items, strict=True):
            assert list(row) == list(item), report
            for field, value in item.items():
                if field == "agent":  # a formula-looking name is defused for spreadsheets
                    assert row[field] == "'=Ada Lovelace"
                elif value is None:
                    assert row[field] == ""
                elif isinstance(value, float):
                    assert float(row[field]) == pytest.approx(value)
                else:
                    assert row[field] == str(value), (report, field)
    filtered = _csv(
        await read_api.get(
            "/v1/reports/resolution-time", params={"format": "csv", "category": "Wrong order"}
        )
    )
    assert filtered == [
        {
            "tickets": "0",
            "min_hours": "",
            "avg_hours": "",
            "max_hours": "",
            "p50_hours": "",
            "p90_hours": "",
        }
    ]


async def test_openapi_documents_the_csv_responses(read_api: httpx.AsyncClient) -> None:
    schema = (await read_api.get("/openapi.json")).json()
    for path in ["/v1/paths", *(f"/v1/reports/{r}" for r in REPORTS)]:
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv"} <= set(content), path
    assert "put" in schema["paths"]["/v1/pages/{page_id}"]
