"""The click fast path serves the happy path itself and hands everything else on, intact."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from helpstream.api.app import create_app
from helpstream.api.fast_ingest import FastClickIngest
from helpstream.embedded import EmbeddedPostgres
from helpstream.keys import create_key
from helpstream.settings import Settings
from helpstream.streams import RedisClient, stats_key, stream_key
from tests.conftest import bearer, serve

pytestmark = pytest.mark.integration

CLICK = {"timestamp": 1515764691, "customer_id": 1, "source_page_id": 11, "target_page_id": 28}


class Recorder:
    """Stands in for the FastAPI app: records what it was handed."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def call(
    middleware: FastClickIngest, state: dict[str, Any], path: str, body: bytes, key: str | None
) -> int:
    headers = [(b"content-type", b"application/json")]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "state": state}
    chunks = [body[: len(body) // 2], body[len(body) // 2 :]]  # a body in two messages

    async def receive() -> Message:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await middleware(scope, receive, send)
    return statuses[0]


async def test_fast_path_and_hand_over(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    app = create_app(settings)
    ingest = (await create_key(pool, "ingest", "fast")).key
    reader = (await create_key(pool, "read", "slow")).key
    recorder = Recorder()
    middleware = FastClickIngest(recorder)
    async with app.router.lifespan_context(app) as state:
        one = orjson.dumps(CLICK)
        batch = orjson.dumps({"events": [CLICK, {**CLICK, "customer_id": 2}]})
        assert await call(middleware, dict(state), "/v1/clicks", one, ingest) == 202
        assert await call(middleware, dict(state), "/v1/clicks/batch", batch, ingest) == 202
        assert recorder.bodies == []  # served without the FastAPI route

        bad = orjson.dumps({**CLICK, "customer_id": -1})
        handed_over = [
            ("/v1/clicks", bad, ingest),  # invalid body: the route's 422
            ("/v1/clicks", one, None),  # no key: the route's 401
            ("/v1/clicks", one, reader),  # wrong scope: the route's 403
            ("/v1/clicks", one, "hs_000000000000_" + "x" * 43),  # unknown key
        ]
        for path, body, key in handed_over:
            assert await call(middleware, dict(state), path, body, key) == 299
        assert recorder.bodies == [body for _, body, _ in handed_over]  # bodies intact

    lengths = [await redis.xlen(stream_key(p, "clicks")) for p in range(settings.partitions)]
    assert sum(lengths) == 3  # one entry for the single click, two for the batch's partitions


class BrokenBuffer:
    """An event buffer that fails in a way nobody planned for."""

    def __init__(self, max_batch_events: int) -> None:
        self.max_batch_events = max_batch_events

    def enqueue(self, kind: str, routed: object) -> None:
        raise RuntimeError("a bug")


async def test_an_unexpected_error_gets_the_apps_500_not_a_dropped_connection(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    """In front of Starlette's error middleware, the fast path answers a bug itself."""
    app = create_app(settings)
    ingest = (await create_key(pool, "ingest", "fast")).key
    recorder = Recorder()
    middleware = FastClickIngest(recorder)
    async with app.router.lifespan_context(app) as state:
        broken = {**dict(state), "buffer": BrokenBuffer(settings.max_batch_events)}
        status = await call(middleware, broken, "/v1/clicks", orjson.dumps(CLICK), ingest)
    assert status == 500
    assert recorder.bodies == []  # answered, not handed over after the limit was charged
    lengths = [await redis.xlen(stream_key(p, "clicks")) for p in range(settings.partitions)]
    assert sum(lengths) == 0


async def test_postgres_down_and_key_not_cached_gives_503(
    settings: Settings, redis: RedisClient
) -> None:
    """As the route answers: 503 + Retry-After, never a 500 (and a cached key still works)."""
    with tempfile.TemporaryDirectory() as tmp:
        own_postgres = EmbeddedPostgres(Path(tmp))
        database_url = own_postgres.start()
        try:
            isolated = settings.model_copy(update={"database_url": database_url})
            async with serve(isolated) as url, httpx.AsyncClient(base_url=url) as client:
                conn = await asyncpg.connect(database_url)
                try:
                    used = (await create_key(conn, "ingest", "used")).key
                    unused = (await create_key(conn, "ingest", "unused")).key
                finally:
                    await conn.close()
                assert (
                    await client.post("/v1/clicks", json=CLICK, headers=bearer(used))
                ).status_code == 202
                own_postgres.stop()
                for path, body in (
                    ("/v1/clicks", CLICK),
                    ("/v1/clicks/batch", {"events": [CLICK]}),
                ):
                    response = await client.post(path, json=body, headers=bearer(unused))
                    assert response.status_code == 503, response.text
                    assert int(response.headers["Retry-After"]) >= 1
                    assert "detail" in response.json()
                cached = await client.post("/v1/clicks", json=CLICK, headers=bearer(used))
                assert cached.status_code == 202  # ingest needs only Redis
        finally:
            own_postgres.stop()


async def _in_one_window(send: Callable[[], Awaitable[list[int]]]) -> list[int]:
    """Run ``send`` starting just after a second boundary (the limiter's windows are whole
    seconds); tries again if it happened to straddle one."""
    for _ in range(5):
        await asyncio.sleep(1.02 - time.time() % 1)
        start = int(time.time())
        statuses = await send()
        if int(time.time()) == start:
            return statuses
    raise AssertionError("could not send the requests within one second")


async def test_each_request_is_charged_once(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    """Exactly `limit` requests per window get past the limiter, whichever path served them:
    a request the fast path hands over to the route is not charged twice."""
    limit = 6
    tiny = settings.model_copy(update={"rate_limit_ingest": limit})
    key = (await create_key(pool, "ingest", "limited")).key
    bad = {**CLICK, "customer_id": -1}
    async with serve(tiny) as url, httpx.AsyncClient(base_url=url, headers=bearer(key)) as client:

        async def send() -> list[int]:
            statuses = []
            for body in [bad, bad] + [CLICK] * (2 * limit):  # 2 for the route, then the fast path
                statuses.append((await client.post("/v1/clicks", json=body)).status_code)
            return statuses

        statuses = await _in_one_window(send)
    assert statuses == [422, 422] + [202] * (limit - 2) + [429] * (limit + 2)


async def test_buffer_failure_gives_503_and_writes_at_most_once(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    """A failed write is answered 503 by the fast path itself: the route does not try again
    (a write that failed half-way must not be written a second time)."""
    key = (await create_key(pool, "ingest", "fast")).key
    partition = CLICK["customer_id"] % settings.partitions
    await redis.set(stats_key(partition), "not a hash")  # the pipeline's HINCRBY fails
    async with (
        serve(settings) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(key)) as client,
    ):
        response = await client.post("/v1/clicks", json=CLICK)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert "detail" in response.json()
    assert await redis.xlen(stream_key(partition, "clicks")) <= 1


async def test_rate_limited_fast_request_gets_the_routes_429(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    tiny = settings.model_copy(update={"rate_limit_ingest": 1})
    key = (await create_key(pool, "ingest", "limited")).key
    async with serve(tiny) as url, httpx.AsyncClient(base_url=url, headers=bearer(key)) as client:

        async def send() -> list[int]:
            first = await client.post("/v1/clicks", json=CLICK)
            second = await client.post("/v1/clicks", json=CLICK)
            assert second.json() == {"detail": "rate limit exceeded for this API key; retry later"}
            assert int(second.headers["Retry-After"]) >= 1
            return [first.status_code, second.status_code]

        assert await _in_one_window(send) == [202, 429]


async def test_a_middleware_editing_response_headers_in_place_does_not_leak_into_the_next(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    """The 202's headers are built once per count: each response gets its own list."""
    app = create_app(settings)
    ingest = (await create_key(pool, "ingest", "headers")).key
    seen: list[list[tuple[bytes, bytes]]] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            seen.append(list(message["headers"]))
            message["headers"].append((b"x-added-by-middleware", b"1"))  # as MutableHeaders does

    async with app.router.lifespan_context(app) as state:
        assert app.fast_path is not None
        for customer in (1, 2):
            body = orjson.dumps({**CLICK, "customer_id": customer})
            scope = {
                "type": "http",
                "method": "POST",
                "path": "/v1/clicks",
                "headers": [(b"authorization", f"Bearer {ingest}".encode())],
                "state": dict(state),
            }

            async def receive(body: bytes = body) -> Message:
                return {"type": "http.request", "body": body, "more_body": False}

            await app.fast_path(scope, receive, send)
    assert len(seen) == 2 and seen[0] == seen[1]
    assert (b"x-added-by-middleware", b"1") not in seen[1]
