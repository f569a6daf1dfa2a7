"""`GET /v1/metrics/stream`: live metrics as Server-Sent Events (contract §5).

The figures are those of `GET /v1/metrics/paths`, `/v1/metrics/pages` and
`/v1/reports/resolution-time`, read by one poller per process and filter set
(`helpstream.api.live`) every `stream_poll_seconds` and fanned out to every open stream
with those filters: an event (`paths`, `pages`, `reports`) whenever one changed, and all
three when a stream connects. Between events a `: keepalive` comment goes out at least
every `stream_keepalive_seconds` (≤ 15 s).

A stream ends when the client goes away; on shutdown, uvicorn cancels the streams still
open after its graceful-shutdown timeout (`helpstream api` sets it to a few seconds).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from helpstream.api.deps import AppSettings, Pool
from helpstream.api.live import MetricsHub, Source
from helpstream.api.routes.paths import (
    SinceQuery,
    UntilQuery,
    VariantQuery,
    page_metrics,
    path_metrics,
)
from helpstream.api.routes.reports import Filters, resolution_time
from helpstream.settings import Settings

router = APIRouter(tags=["stream"])


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


def _event_schema(name: str, component: str) -> dict[str, Any]:
    """One event as schemathesis and OpenAPI 3.1 read a `text/event-stream` schema."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": f"#/components/schemas/{component}"},
            },
            "id": {"type": "string"},
            "retry": {"type": "integer"},
        },
    }


EVENT_SCHEMA = {
    "type": "object",  # FastAPI's default for a non-JSON response is "string": overridden
    "description": "Each event; its `data` is the JSON of the matching GET.",
    "oneOf": [
        _event_schema("paths", "PathMetrics"),
        _event_schema("pages", "PageMetrics"),
        _event_schema("reports", "ResolutionTime"),
    ],
}


def metrics_hub(request: Request, settings: Settings) -> MetricsHub:
    """The app's one hub, made by the first stream (the lifespan state is per request)."""
    hub: MetricsHub | None = getattr(request.app.state, "metrics_hub", None)
    if hub is None:
        hub = request.app.state.metrics_hub = MetricsHub(settings.stream_poll_seconds)
    return hub


@router.get(
    "/v1/metrics/stream",
    response_class=EventStreamResponse,
    summary="Live path, page and report metrics (Server-Sent Events)",
    description="A `text/event-stream` that never ends by itself. Events: `paths` (the "
    "JSON of `GET /v1/metrics/paths`), `pages` (`GET /v1/metrics/pages`) and `reports` "
    "(`GET /v1/reports/resolution-time`), each sent on connect and again soon after new "
    "data changed it; the query parameters filter them as they filter those GETs. A "
    "`: keepalive` comment line is sent at least every 15 s. Browsers' EventSource cannot "
    "send the Authorization header: read the stream with fetch(). All streams with the "
    "same filters share one reader per server process.",
    responses={
        200: {
            "description": "The event stream",
            "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
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
    keepalive = settings.stream_keepalive_seconds
    hub = metrics_hub(request, settings)
    key = (variant, since, until, filters.args)
    sources: dict[str, Source] = {
        "paths": lambda: path_metrics(pool, variant, since, until),
        "pages": lambda: page_metrics(pool, variant, since, until),
        "reports": lambda: resolution_time(pool, filters),
    }

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 3000\n\n"
        async with hub.subscribe(key, sources) as subscription:
            while not await request.is_disconnected():
                pending = await subscription.next_events(wait_seconds=keepalive)
                yield b"".join(pending) if pending else b": keepalive\n\n"

    return EventStreamResponse(
        events(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
