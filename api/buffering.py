"""The one way a route puts events into the streams: backlog check, append, 503 on failure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.exceptions import RequestValidationError

from api.deps import Resources
from api.errors import ServiceUnavailable
from api.ingest import BufferUnavailable
from api.models import Accepted


def check_batch_size(deps: Resources, size: int) -> None:
    """The configured batch limit (the schema's 10,000 is the ceiling): a 422 on events."""
    limit = deps.settings.max_batch_events
    if size > limit:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "events"),
                    "msg": f"at most {limit} events per batch",
                    "input": None,
                }
            ]
        )


async def buffer_events(deps: Resources, kind: str, routed: Iterable[tuple[int, Any]]) -> Accepted:
    """Buffer (routing id, wire event) pairs of one stream kind; 202's body once in Redis."""
    retry_after = deps.settings.retry_after_seconds
    if deps.backlog.over_limit:
        raise ServiceUnavailable("workers are behind; retry later", retry_after)
    try:
        count = await deps.writer.append_events(kind, routed, deps.settings.partitions)
    except BufferUnavailable:
        raise ServiceUnavailable("event buffer unavailable; retry later", retry_after) from None
    return Accepted(accepted=count)
