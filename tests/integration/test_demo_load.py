"""`helpstream demo` end to end, and the demo help desk shuffled and duplicated.

The expected numbers come from `tests.reference_reports`, a plain-Python reading of the
contract that shares no code with the SQL.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.demo import generate, load
from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests.conftest import WorkerHandle, wait_drained
from tests.integration.test_reports import REPORTS, _approx, _truncate_help_desk
from tests.reference_reports import reports

pytestmark = pytest.mark.integration

FILTERS: list[dict[str, str]] = [
    {},
    {"category": "Wrong order"},
    {"from": "2023-06-01", "to": "2023-12-31"},
    {"from": "2024-01-01", "category": "Account access"},
]


def _reference_args(params: dict[str, str]) -> dict[str, Any]:
    def day(text: str, end: bool) -> int:
        start = int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())
        return start + 86400 if end else start

    return {
        "from_ts": day(params["from"], False) if "from" in params else None,
        "to_ts": day(params["to"], True) if "to" in params else None,
        "category": params.get("category"),
    }


async def _assert_reports_match(api: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    for params in FILTERS:
        expected = reports(events, **_reference_args(params))
        for name in REPORTS:
            response = await api.get(f"/v1/reports/{name}", params=params)
            assert response.status_code == 200
            assert response.json() == _approx(expected[name]), (name, params)


async def test_demo_loads_through_the_api_and_reports_match_the_reference(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
    api_keys: dict[str, str],
) -> None:
    out, err = io.StringIO(), io.StringIO()
    data = await asyncio.to_thread(
        load, str(api.base_url), api_key=api_keys["admin"], out=out, err=err, wait_seconds=60
    )
    assert "/dashboard" in out.getvalue() and "/docs" in out.getvalue()
    assert "still being applied" not in out.getvalue()
    assert f"{len(data.support_events) + len(data.clicks)}/" in err.getvalue()
    assert "\r" not in err.getvalue()  # not a terminal: no progress bar redrawing
    pages = (await api.get("/v1/pages")).json()["items"]
    assert {p["page_id"] for p in pages} == {p["page_id"] for p in data.pages}
    page_items = (await api.get("/v1/metrics/pages")).json()["items"]
    assert all(item["page_name"] for item in page_items)
    await wait_drained(redis, pool, settings.partitions)
    await _assert_reports_match(api, data.support_events)

    metrics = (await api.get("/v1/metrics/paths")).json()
    assert metrics["completed_paths"] > 500
    assert metrics["turnaround_rate"] > 0
    by_variant = {
        v: (await api.get("/v1/metrics/paths", params={"variant": v})).json() for v in "AB"
    }
    assert by_variant["B"]["turnaround_rate"] < by_variant["A"]["turnaround_rate"]

    # Issue 17: the demo's redesign B wins, and the comparison says so with its uncertainty.
    response = await api.get("/v1/experiments/compare", params={"baseline": "A", "variant": "B"})
    assert response.status_code == 200, response.text
    comparison = response.json()
    print(json.dumps(comparison, indent=2))
    assert comparison["verdict"] == "better"
    assert comparison["path_length"]["p_value"] < 0.01
    assert comparison["resolution_rate"]["p_value"] < 0.01
    assert comparison["baseline"]["completed_paths"] == by_variant["A"]["completed_paths"]
    assert not comparison["sample_ratio_mismatch"]["suspect"]
    deflection = (await api.get("/v1/metrics/deflection")).json()
    print(json.dumps(deflection, indent=2))
    assert deflection["completed_paths"] == metrics["completed_paths"]


async def test_shuffled_and_duplicated_demo_events_give_the_same_reports(
    api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    events = generate(7).support_events
    rng = random.Random(11)
    for round_ in range(2):
        await _truncate_help_desk(pool)
        mixed = events + rng.sample(events, len(events) // 10)
        rng.shuffle(mixed)
        i = 0
        while i < len(mixed):
            size = rng.choice((1, 50, 333, 1000))
            response = await api.post(
                "/v1/support-events/batch", json={"events": mixed[i : i + size]}
            )
            assert response.status_code == 202, (round_, response.text)
            i += size
        await wait_drained(redis, pool, settings.partitions)
        await _assert_reports_match(api, events)
