"""The one way a route puts events into the streams: backlog check, append, 503 on failure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.deps import Resources
from api.errors import ServiceUnavailable
from api.ingest import BufferUnavailable
from api.models import DEFAULT_MAX_FUTURE_SKEW, Accepted, clock_context

M = TypeVar("M", bound=BaseModel)

INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"description": "Request body too large"},
    422: {"description": "Invalid event: `detail` names each bad field (and event index)"},
    503: {"description": "Event buffer unreachable or over its backlog limit (see Retry-After)"},
}


def _body_loc(loc: tuple[int | str, ...], error_type: str) -> tuple[int | str, ...]:
    return ("body", *loc)


async def parse_body(
    request: Request,
    model: type[M],
    locate: Callable[[tuple[int | str, ...], str], tuple[int | str, ...]] = _body_loc,
) -> M:
    """Validate the raw body with pydantic-core's JSON parser (faster than a dict first);
    `locate` turns pydantic's error location into the one the 422 reports."""
    body = await request.body()
    resources: Resources | None = getattr(request.state, "resources", None)
    skew = resources.settings.max_future_skew if resources else DEFAULT_MAX_FUTURE_SKEW
    try:
        return model.model_validate_json(body, context=clock_context(skew))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        for error in errors:
            error["loc"] = locate(tuple(error["loc"]), error["type"])
        raise RequestValidationError(errors) from None


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
