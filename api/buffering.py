"""The one way a route puts events into the streams: backlog check, append, 503 on failure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.deps import Resources
from api.errors import ServiceUnavailable
from api.ingest import BufferUnavailable
from api.models import Accepted


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
