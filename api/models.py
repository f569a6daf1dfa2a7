"""Request and response bodies of the public API (contract §3)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from helpstream.constants import DEFAULT_MAX_FUTURE_SKEW, VARIANT_REGEX

BIGINT_MAX = 2**63 - 1
TIMESTAMP_MAX = 253402300799  # 9999-12-31T23:59:59Z


def _unix_seconds(value: object) -> object:
    """Integer unix seconds, or an ISO-8601 string (a naive one is taken as UTC)."""
    if isinstance(value, bool):
        raise ValueError("must be integer unix seconds or an ISO-8601 string")
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be integer unix seconds or an ISO-8601 string") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp())
    return value


def clock_context(max_future_skew: int, now: float | None = None) -> dict[str, Any]:
    """Validation context of one ingest request: the server's clock and the allowed skew.

    Every ingest route validates with it (``model_validate_json(body, context=...)``), so
    the one rule below applies to clicks and help-desk events alike.
    """
    return {"now": time.time() if now is None else now, "max_future_skew": max_future_skew}


def _not_ahead_of_the_clock(value: int, info: ValidationInfo) -> int:
    """A timestamp from a client whose clock runs ahead is bad input: accepted, it would
    move event time for every customer (stream time only ever grows)."""
    context = info.context or {}
    skew = context.get("max_future_skew", DEFAULT_MAX_FUTURE_SKEW)
    now = context.get("now") or time.time()
    if value > now + skew:
        raise ValueError(
            f"is more than {skew} s ahead of the server's clock (max_future_skew); "
            "check the sender's clock"
        )
    return value


# The Field comes before the validator: after it, pydantic would publish the bounds as
# non-standard "ge"/"le" keys and clients (and the fuzzer) would not see them.
UnixSeconds = Annotated[
    int,
    Field(
        ge=0,
        le=TIMESTAMP_MAX,
        description="Unix seconds (ISO-8601 such as 2018-01-12T13:44:51Z also accepted); "
        "at most `max_future_skew` (default 300 s) ahead of the server's clock.",
        json_schema_extra={"examples": [1515764691]},
    ),
    BeforeValidator(_unix_seconds),
    AfterValidator(_not_ahead_of_the_clock),
]


def _json_integer(value: object) -> object:
    """A JSON integer (1.0 is one, as in JSON Schema), not `false` or "12": pydantic's lax
    mode would store those as 0 and 12."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


Id = Annotated[int, Field(ge=0, le=BIGINT_MAX), BeforeValidator(_json_integer)]
Variant = Annotated[
    str,
    Field(
        pattern=VARIANT_REGEX,
        description="The site composition the customer was shown.",
    ),
]


class ClickIn(BaseModel):
    """One click on a link of the support site."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timestamp": 1515764691,
                    "customer_id": 1,
                    "source_page_id": 11,
                    "target_page_id": 28,
                    "is_resolved": False,
                }
            ]
        }
    )

    timestamp: UnixSeconds
    customer_id: Id
    source_page_id: Id = Field(description="The page the link was on.")
    target_page_id: Id = Field(description="The page the link leads to.")
    is_resolved: bool = Field(
        default=False,
        strict=True,  # JSON true/false only: not 0, 1, "yes" or "off"
        description="True when the customer acknowledged the page solved the case.",
    )
    event_id: uuid.UUID | None = Field(
        default=None,
        description="Deliveries with the same customer_id and event_id count once (the "
        "first delivery is kept); the same event_id on another customer is another event.",
    )
    variant: Variant = "default"


class ClickBatchIn(BaseModel):
    events: list[ClickIn] = Field(min_length=1, max_length=10_000)


class Accepted(BaseModel):
    accepted: int = Field(description="Events durably buffered; they will be processed.")


PathStatusName = Literal["open", "resolved", "abandoned"]


class PathOut(BaseModel):
    customer_id: int
    path_start_timestamp: int
    path_end_timestamp: int
    path: list[int]
    path_length: int
    status: PathStatusName
    has_turnaround: bool
    variant: str


class PathPage(BaseModel):
    items: list[PathOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class PathMetrics(BaseModel):
    completed_paths: int = Field(description="Resolved + abandoned paths ending in the window.")
    resolved_paths: int
    abandoned_paths: int
    resolution_rate: float | None = Field(description="resolved / completed; null when none.")
    average_path_length: float | None = Field(description="Mean length of resolved paths.")
    path_length_variance: float | None = Field(
        description="Population variance of the lengths of resolved paths."
    )
    turnaround_rate: float | None = Field(
        description="Share of completed paths with at least one turnaround."
    )
    late_events: int = Field(
        description="Events that arrived later than allowed_lateness: kept, not sessionized."
    )


class PageStats(BaseModel):
    page_id: int
    page_name: str | None = Field(
        default=None, description="The page's name (`PUT /v1/pages/{page_id}`); null if unnamed."
    )
    visits: int
    departures: int
    turnarounds: int
    turnaround_rate: float | None = Field(
        description="turnarounds / departures; null without departures."
    )
    resolutions: int
    z_score: float | None = Field(
        description="(t − d·p) / sqrt(d·p·(1−p)) with p the global rate; null when undefined."
    )
    flagged: bool = Field(
        description="Significantly many turnarounds (Benjamini–Hochberg, 5 % false "
        "discovery rate over all pages): inspect this page first."
    )


class PageMetrics(BaseModel):
    global_turnaround_rate: float | None = Field(
        description="p = Σ turnarounds / Σ departures; null without departures."
    )
    items: list[PageStats]


class TimelineBucket(BaseModel):
    bucket: int = Field(description="Start of the bucket (unix seconds, a multiple of its size).")
    completed: int
    resolved: int
    abandoned: int


class PathTimeline(BaseModel):
    bucket_seconds: int
    items: list[TimelineBucket] = Field(description="Buckets with completed paths, ascending.")


class TopPath(BaseModel):
    path: list[int]
    count: int = Field(description="Resolved paths that visited exactly these pages.")


class TopPaths(BaseModel):
    items: list[TopPath]


class Variants(BaseModel):
    variants: list[str] = Field(description="Variants with completed paths, sorted.")
