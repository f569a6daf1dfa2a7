"""The one way a route puts events into the streams: batch limit, backlog check, append.

`EventBuffer` is owned by the app's lifespan; it starts and stops the coalescing
`StreamWriter` and the `BacklogMonitor` and turns their failures into 503s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from fastapi.exceptions import RequestValidationError

from helpstream.api.auth import ErrorOut
from helpstream.api.errors import ServiceUnavailable
from helpstream.api.ingest import BacklogMonitor, BufferUnavailable, StreamWriter, entries_of
from helpstream.api.models import Accepted
from helpstream.api.openapi import ValidationErrorOut
from helpstream.settings import Settings
from helpstream.streams import RedisClient

INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorOut,
        "description": "Request body larger than `HELPSTREAM_MAX_BODY_BYTES`; nothing stored",
    },
    422: {
        "model": ValidationErrorOut,
        "description": "Invalid event: `detail` names each bad field (and event index); "
        "a batch with any bad event is rejected whole",
    },
    503: {
        "model": ErrorOut,
        "description": "Event buffer unreachable or over its backlog limit; nothing stored",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before sending again",
                "schema": {"type": "integer"},
            }
        },
    },
}


class EventBuffer:
    """Redis Streams as the routes see them: events in, a 202's body or a 503 out."""

    def __init__(self, settings: Settings, redis: RedisClient) -> None:
        self.partitions = settings.partitions
        self.max_batch_events = settings.max_batch_events
        self.retry_after = settings.retry_after_seconds
        self.writer = StreamWriter(redis)
        self.backlog = BacklogMonitor(
            redis,
            settings.partitions,
            {
                "clicks": settings.max_backlog_click_bytes,
                "support": settings.max_backlog_support_bytes,
            },
            settings.max_backlog,
            self.writer,
        )

    def start(self) -> None:
        self.writer.start()
        self.backlog.start()

    async def stop(self) -> None:
        await self.backlog.stop()
        await self.writer.stop()

    def check_batch_size(self, size: int) -> None:
        """The configured batch limit (the schema's 10,000 is the ceiling): a 422 on events."""
        if size > self.max_batch_events:
            raise RequestValidationError(
                [
                    {
                        "type": "too_long",
                        "loc": ("body", "events"),
                        "msg": f"at most {self.max_batch_events} events per batch",
                        "input": None,
                    }
                ]
            )

    async def buffer(self, kind: str, routed: Iterable[tuple[int, Any]]) -> Accepted:
        """Buffer (routing id, wire event) pairs of one stream kind; 202's body once in Redis."""
        count, written = self.enqueue(kind, routed)
        await self.written(written)
        return Accepted(accepted=count)

    def enqueue(
        self, kind: str, routed: Iterable[tuple[int, Any]]
    ) -> tuple[int, asyncio.Future[None]]:
        """Queue the events for Redis: their count, and a future to pass to `written`.
        A 503 when the workers are too far behind."""
        if self.backlog.over_limit(kind):
            raise ServiceUnavailable(
                f"workers are behind on {kind} events; retry later", self.retry_after
            )
        entries, count = entries_of(kind, routed, self.partitions)
        return count, self.writer.enqueue(entries)

    async def written(self, future: asyncio.Future[None]) -> None:
        """Returns once the queued events are in Redis; a 503 if they could not be."""
        try:
            await future
        except BufferUnavailable:
            raise self.unavailable() from None

    def unavailable(self) -> ServiceUnavailable:
        """The 503 for events Redis did not take (the future raised `BufferUnavailable`)."""
        return ServiceUnavailable("event buffer unavailable; retry later", self.retry_after)
