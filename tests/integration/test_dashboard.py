"""The dashboard page and the live metrics stream (contract §5), against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from helpstream.constants import CATEGORIES
from helpstream.keys import KEY_PATTERN, create_key
from helpstream.settings import Settings
from helpstream.streams import RedisClient
from tests import oracle, traffic
from tests.conftest import WorkerHandle, bearer, serve, wait_drained

pytestmark = pytest.mark.integration

CHARTS = [
    "paths-over-time",
    "path-length",
    "flagged-pages",
    "top-paths",
    "resolution-time",
    "agents-per-ticket",
    "tickets-per-agent",
    "resolution-time-by-month",
    "agent-ratings",
    "first-response-time",
    "csat",
    "variant-comparison",
]
FILTERS = ["variant", "since", "until", "from", "to", "category"]
NO_KEY = {"Authorization": ""}

# Contract §3's seed scenario: customer 1 → [11,28,35,42], customer 2 → [11,35,42].
SEED = [
    (1515764691, 1, 11, 28, False),
    (1515764700, 1, 28, 35, False),
    (1515764710, 1, 35, 42, True),
    (1515764695, 2, 11, 35, False),
    (1515764720, 2, 35, 42, True),
]


def seed_clicks() -> list[dict[str, Any]]:
    return [
        {
            "timestamp": ts,
            "customer_id": customer,
            "source_page_id": source,
            "target_page_id": target,
            "is_resolved": resolved,
        }
        for ts, customer, source, target, resolved in SEED
    ]


async def test_dashboard_is_public_html_with_the_form_charts_and_filters(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    response = await api.get("/dashboard", headers=NO_KEY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text

    inputs = re.findall(r"<input\b[^>]*>", page)
    assert any('name="api_key"' in i and 'type="password"' in i for i in inputs), inputs
    assert re.search(r'<form id="login-form"[^>]*>.*?<button type="submit"', page, re.S)
    for name in CHARTS:
        assert f'data-chart="{name}"' in page, name
    for name in FILTERS:
        assert re.search(rf'<(input|select)\b[^>]*\bname="{name}"', page), name
    for category in CATEGORIES:
        assert json.dumps(category) in page, category
    assert "sessionStorage" in page
    assert "__CATEGORIES__" not in page
    # Self-contained: nothing is loaded from elsewhere (the network may be closed).
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)

    # No key in the page, whoever asks and however: the key lives only in the browser.
    assert not KEY_PATTERN.search(page)
    for key in api_keys.values():
        assert key not in page
    for key in api_keys.values():
        logged_in = await api.get("/dashboard", params={"api_key": key}, headers=bearer(key))
        assert logged_in.status_code == 200
        assert logged_in.text == page
        assert key not in logged_in.text

    schema = (await api.get("/openapi.json")).json()
    assert "/dashboard" not in schema["paths"]
    for path in ("/v1/metrics/stream", "/v1/metrics/paths/timeline", "/v1/metrics/top-paths"):
        assert path in schema["paths"], path
    stream_doc = schema["paths"]["/v1/metrics/stream"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream_doc["content"]


async def test_stream_needs_a_read_key(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    for headers, status in ((NO_KEY, 401), (bearer(api_keys["ingest"]), 403)):
        async with api.stream("GET", "/v1/metrics/stream", headers=headers) as response:
            assert response.status_code == status
            await response.aread()
            assert "detail" in response.json()


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of an event stream; comment lines come as ("", ": ...")."""
    event, data = "", []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield "", line
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            yield event, "\n".join(data)
            event, data = "", []


async def next_event(events: AsyncIterator[tuple[str, str]], name: str) -> Any:
    async for event, data in events:
        if event == name:
            return json.loads(data)
    raise AssertionError("the stream ended")


async def test_stream_sends_paths_soon_after_clicks_are_applied(
    api: httpx.AsyncClient,
    read_api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    async with (
        asyncio.timeout(30),
        read_api.stream("GET", "/v1/metrics/stream") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        # On connect: the current figures, as the GETs give them.
        first: dict[str, Any] = {}
        while len(first) < 3:
            event, data = await anext(events)
            if event:
                first[event] = json.loads(data)
        # Compared with the oracle, not with the GET routes (which share the stream's code).
        assert first["paths"] == traffic.expected_path_metrics([])
        assert first["pages"] == {"global_turnaround_rate": None, "items": []}
        assert first["reports"] == {
            "tickets": 0,
            "min_hours": None,
            "avg_hours": None,
            "max_hours": None,
            "p50_hours": None,
            "p90_hours": None,
        }

        posted = await api.post("/v1/clicks/batch", json={"events": seed_clicks()})
        assert posted.status_code == 202
        applied_by = time.monotonic()
        paths = await next_event(events, "paths")
        while paths["resolved_paths"] < 2:
            paths = await next_event(events, "paths")
        await wait_drained(redis, pool, settings.partitions)
        expected = oracle.all_paths(
            [oracle.OClick(ts, c, s, t, r) for ts, c, s, t, r in SEED], settings.path_timeout
        )
        assert paths == traffic.expected_path_metrics(expected)
        assert paths["resolved_paths"] == 2 and paths["average_path_length"] == 3.5
        assert time.monotonic() - applied_by < 10
        pages = await next_event(events, "pages")
        assert traffic.without_names(pages) == traffic.expected_page_metrics(expected)


async def test_dashboard_endpoints_timeline_top_paths_and_variants(
    api: httpx.AsyncClient,
    read_api: httpx.AsyncClient,
    worker: WorkerHandle,
    redis: RedisClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    clicks = seed_clicks() + [
        # customer 3 repeats customer 2's path, in variant B
        {**c, "customer_id": 3, "variant": "B"}
        for c in seed_clicks()
        if c["customer_id"] == 2
    ]
    assert (await api.post("/v1/clicks/batch", json={"events": clicks})).status_code == 202
    await wait_drained(redis, pool, settings.partitions)

    timeline = (await read_api.get("/v1/metrics/paths/timeline", params={"bucket": 60})).json()
    assert timeline["bucket_seconds"] == 60
    assert [b["bucket"] % 60 for b in timeline["items"]] == [0] * len(timeline["items"])
    assert sum(b["resolved"] for b in timeline["items"]) == 3
    assert sum(b["abandoned"] for b in timeline["items"]) == 0
    hourly = (await read_api.get("/v1/metrics/paths/timeline")).json()
    assert hourly["items"] == [
        {"bucket": 1515762000, "completed": 3, "resolved": 3, "abandoned": 0}
    ]
    only_b = await read_api.get("/v1/metrics/paths/timeline", params={"variant": "B"})
    assert sum(b["resolved"] for b in only_b.json()["items"]) == 1
    outside = await read_api.get("/v1/metrics/paths/timeline", params={"until": 1515760000})
    assert outside.json()["items"] == []
    bad = await read_api.get("/v1/metrics/paths/timeline", params={"bucket": 61})
    assert bad.status_code == 422

    top = (await read_api.get("/v1/metrics/top-paths")).json()
    assert top["items"] == [
        {"path": [11, 35, 42], "count": 2},
        {"path": [11, 28, 35, 42], "count": 1},
    ]
    limited = await read_api.get("/v1/metrics/top-paths", params={"limit": 1, "variant": "B"})
    assert limited.json()["items"] == [{"path": [11, 35, 42], "count": 1}]
    early = await read_api.get("/v1/metrics/top-paths", params={"until": 1515764715})
    assert early.json()["items"] == [{"path": [11, 28, 35, 42], "count": 1}]

    variants = (await read_api.get("/v1/metrics/variants")).json()
    assert variants == {"variants": ["B", "default"]}


async def test_stream_sends_keepalive_comments(settings: Settings, pool: asyncpg.Pool) -> None:
    quick = settings.model_copy(
        update={"stream_poll_seconds": 0.1, "stream_keepalive_seconds": 0.5}
    )
    key = await create_key(pool, "read", "stream")
    async with (
        serve(quick) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(key.key), timeout=10) as client,
        asyncio.timeout(10),
        client.stream("GET", "/v1/metrics/stream") as response,
    ):
        started = time.monotonic()
        async for _event, data in sse_events(response):
            if data == ": keepalive":
                break
        assert time.monotonic() - started < 2


async def test_server_shutdown_ends_open_streams(settings: Settings, pool: asyncpg.Pool) -> None:
    """An open stream must not keep the server (and the `api` fixture's teardown) waiting."""
    key = await create_key(pool, "read", "stream")
    server = serve(settings)
    url = await server.__aenter__()
    stopped = False
    try:
        async with (
            httpx.AsyncClient(headers=bearer(key.key), timeout=10) as client,
            client.stream("GET", url + "/v1/metrics/stream") as response,
        ):
            events = sse_events(response)
            assert (await next_event(events, "paths"))["completed_paths"] == 0
            started = time.monotonic()
            async with asyncio.timeout(8):
                await server.__aexit__(None, None, None)
            stopped = True
            assert time.monotonic() - started < 5
            # The client sees the stream end (cut after the grace period) rather than hang.
            with contextlib.suppress(httpx.RemoteProtocolError):
                async with asyncio.timeout(5):
                    async for _ in events:
                        pass
    finally:
        if not stopped:
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(10):
                    await server.__aexit__(None, None, None)
