"""`GET /v1/metrics/stream`: live metrics as Server-Sent Events (contract §5).

Each connection re-reads the same figures as `GET /v1/metrics/paths`, `/v1/metrics/pages`
and `/v1/reports/resolution-time` every `stream_poll_seconds` and sends an event (`paths`,
`pages`, `reports`) whenever one changed, and all three when it connects. Between events a
`: keepalive` comment goes out at least every `stream_keepalive_seconds` (≤ 15 s).

A stream ends when the client goes away; on shutdown, uvicorn cancels the streams still
open after its graceful-shutdown timeout (`helpstream api` sets it to a few seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from helpstream.api.deps import AppSettings, Pool
from helpstream.api.routes.paths import (
    SinceQuery,
    UntilQuery,
    VariantQuery,
    page_metrics,
    path_metrics,
)
from helpstream.api.routes.reports import Filters, resolution_time

log = logging.getLogger(__name__)

router = APIRouter(tags=["stream"])


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


def _sse(event: str, model: BaseModel) -> bytes:
    return f"event: {event}\ndata: {model.model_dump_json()}\n\n".encode()


@router.get(
    "/v1/metrics/stream",
    response_class=EventStreamResponse,
    summary="Live path, page and report metrics (Server-Sent Events)",
    description="A `text/event-stream` that never ends by itself. Events: `paths` (the "
    "JSON of `GET /v1/metrics/paths`), `pages` (`GET /v1/metrics/pages`) and `reports` "
    "(`GET /v1/reports/resolution-time`), each sent on connect and again soon after new "
    "data changed it; the query parameters filter them as they filter those GETs. A "
    "`: keepalive` comment line is sent at least every 15 s. Browsers' EventSource cannot "
    "send the Authorization header: read the stream with fetch().",
    responses={
        200: {
            "description": "The event stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics_stream(
    request: Request,
    settings: AppSettings,
    pool: Pool,
    filters: Filters,
    variant: VariantQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> EventStreamResponse:
    poll = settings.stream_poll_seconds
    keepalive = settings.stream_keepalive_seconds
    sources: dict[str, Callable[[], Awaitable[BaseModel]]] = {
        "paths": lambda: path_metrics(pool, variant, since, until),
        "pages": lambda: page_metrics(pool, variant, since, until),
        "reports": lambda: resolution_time(pool, filters),
    }

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        last: dict[str, str] = {}
        quiet_since = loop.time()
        yield b"retry: 3000\n\n"
        while not await request.is_disconnected():
            for name, read in sources.items():
                try:
                    model = await read()
                except Exception as exc:  # the database may be away for a while
                    log.warning("metrics stream: reading %s failed: %r", name, exc)
                    continue
                text = model.model_dump_json()
                if last.get(name) != text:
                    last[name] = text
                    quiet_since = loop.time()
                    yield _sse(name, model)
            if loop.time() - quiet_since >= keepalive - poll:
                quiet_since = loop.time()
                yield b": keepalive\n\n"
            await asyncio.sleep(poll)

    return EventStreamResponse(
        events(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
