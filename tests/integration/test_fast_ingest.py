"""The click fast path serves the happy path itself and hands everything else on, intact."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from helpstream.api.app import create_app
from helpstream.api.fast_ingest import FastClickIngest
from helpstream.keys import create_key
from helpstream.settings import Settings
from helpstream.streams import RedisClient, stream_key

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
