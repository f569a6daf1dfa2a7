"""GET paths and live path/page metrics (contract §3)."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from helpstream.api.deps import Pool
from helpstream.api.models import (
    PageMetrics,
    PageStats,
    PathMetrics,
    PathOut,
    PathPage,
    PathStatusName,
    PathTimeline,
    TimelineBucket,
    TopPath,
    TopPaths,
    Variants,
)
from helpstream.api.stats import flag_excess
from helpstream.api.windows import UNBOUNDED_HIGH, UNBOUNDED_LOW, window
from helpstream.constants import VARIANT_REGEX
from helpstream.db import query

router = APIRouter(tags=["paths"])

VariantQuery = Annotated[str | None, Query(pattern=VARIANT_REGEX, description="Only this variant.")]
SinceQuery = Annotated[
    int | None, Query(ge=0, le=2**53, description="Paths ending at or after (unix s).")
]
UntilQuery = Annotated[
    int | None, Query(ge=0, le=2**53, description="Paths ending at or before (unix s).")
]


def _encode_cursor(row: Any) -> str:
    raw = orjson.dumps([row["customer_id"], row["start_ts"], row["path_id"]])
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[int, int, int]:
    try:
        customer_id, start_ts, path_id = orjson.loads(base64.urlsafe_b64decode(cursor))
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
            for v in (customer_id, start_ts, path_id)
        ):  # a forged cursor must not reach PostgreSQL as a bigint it cannot hold
            raise ValueError
        return customer_id, start_ts, path_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "cursor"),
                    "msg": "invalid cursor",
                    "input": cursor,
                }
            ]
        ) from None


@router.get(
    "/v1/paths",
    response_model=PathPage,
    summary="Sessionized paths, ordered by customer and start time",
)
async def list_paths(
    pool: Pool,
    customer_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    status: PathStatusName | None = None,
    variant: VariantQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> PathPage:
    after = _decode_cursor(cursor) if cursor else None
    rows = await pool.fetch(
        """
        SELECT path_id, customer_id, start_ts, end_ts, pages, path_length, status,
               has_turnaround, variant
        FROM paths
        WHERE ($1::bigint IS NULL OR customer_id = $1)
          AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR variant = $3)
          AND ($4::bigint IS NULL OR (customer_id, start_ts, path_id) > ($4, $5, $6))
        ORDER BY customer_id, start_ts, path_id
        LIMIT $7
        """,
        customer_id,
        status,
        variant,
        *(after or (None, None, None)),
        limit + 1,
    )
    items = [
        PathOut(
            customer_id=r["customer_id"],
            path_start_timestamp=r["start_ts"],
            path_end_timestamp=r["end_ts"],
            path=list(r["pages"]),
            path_length=r["path_length"],
            status=r["status"],
            has_turnaround=r["has_turnaround"],
            variant=r["variant"],
        )
        for r in rows[:limit]
    ]
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return PathPage(items=items, next_cursor=next_cursor)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@router.get(
    "/v1/metrics/paths",
    response_model=PathMetrics,
    summary="Path-length mean and variance, resolution and turnaround rates",
    description="Over completed paths whose end time is in [since, until] (inclusive). "
    "Length statistics are over resolved paths; the variance is the population variance.",
)
async def path_metrics(
    pool: Pool, variant: VariantQuery = None, since: SinceQuery = None, until: UntilQuery = None
) -> PathMetrics:
    w = window(since, until)
    row = await pool.fetchrow(
        query("path_metrics"), variant, w.bucket_from, w.bucket_to, *w.edge_low, *w.edge_high
    )
    completed, resolved = int(row["completed"]), int(row["resolved"])
    mean = _ratio(float(row["length_sum"]), resolved)
    variance = None
    if resolved:
        # Exact in integers: n·Σx² − (Σx)², divided once at the end.
        n, s, q = resolved, int(row["length_sum"]), int(row["length_sumsq"])
        variance = (n * q - s * s) / (n * n)
    return PathMetrics(
        completed_paths=completed,
        resolved_paths=resolved,
        abandoned_paths=int(row["abandoned"]),
        resolution_rate=_ratio(resolved, completed),
        average_path_length=mean,
        path_length_variance=variance,
        turnaround_rate=_ratio(int(row["turnaround_paths"]), completed),
        late_events=int(row["late_events"]),
    )


def z_score(turnarounds: int, departures: int, p: float) -> float | None:
    """How unexpected a page's turnarounds are under the global rate p (binomial z)."""
    spread = departures * p * (1 - p)
    if spread <= 0:
        return None
    return (turnarounds - departures * p) / math.sqrt(spread)


@router.get(
    "/v1/metrics/pages",
    response_model=PageMetrics,
    summary="Pages by turnaround z-score: the ones to inspect first",
    description="Over completed paths ending in [since, until]. z_score = (t − d·p) / "
    "sqrt(d·p·(1−p)) with p = Σturnarounds / Σdepartures; flagged when the excess is "
    "significant at a 5 % false discovery rate over all pages with a z_score "
    "(Benjamini–Hochberg on the one-sided p-values P(Z ≥ z_score)).",
)
async def page_metrics(
    pool: Pool,
    variant: VariantQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> PageMetrics:
    w = window(since, until)
    rows = await pool.fetch(
        query("page_metrics"), variant, w.bucket_from, w.bucket_to, *w.edge_low, *w.edge_high
    )
    total_turnarounds = sum(r["turnarounds"] for r in rows)
    total_departures = sum(r["departures"] for r in rows)
    p = total_turnarounds / total_departures if total_departures else 0.0
    scores = [z_score(r["turnarounds"], r["departures"], p) for r in rows]
    items = [
        PageStats(
            page_id=r["page_id"],
            visits=r["visits"],
            departures=r["departures"],
            turnarounds=r["turnarounds"],
            turnaround_rate=_ratio(r["turnarounds"], r["departures"]),
            resolutions=r["resolutions"],
            z_score=z,
            flagged=flagged,
        )
        for r, z, flagged in zip(rows, scores, flag_excess(scores), strict=True)
    ]
    items.sort(key=lambda s: (s.z_score is None, -(s.z_score or 0.0), s.page_id))
    return PageMetrics(
        global_turnaround_rate=_ratio(total_turnarounds, total_departures), items=items[:limit]
    )


MAX_TIMELINE_BUCKETS = 10_000


@router.get(
    "/v1/metrics/paths/timeline",
    response_model=PathTimeline,
    summary="Resolved and abandoned paths per time bucket",
    description="Completed paths counted by the bucket of their end time, from the per-minute "
    "rollups: a minute counts when it overlaps [since, until]. `bucket` is the bucket size in "
    "seconds (a multiple of 60). Buckets without paths are left out; at most the latest "
    f"{MAX_TIMELINE_BUCKETS} buckets are returned.",
)
async def path_timeline(
    pool: Pool,
    variant: VariantQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    bucket: Annotated[
        int, Query(ge=60, le=366 * 86_400, multiple_of=60, description="Bucket size (s).")
    ] = 3600,
) -> PathTimeline:
    rows = await pool.fetch(
        """
        SELECT bucket - ((bucket % $4) + $4) % $4 AS start,
               sum(completed)::bigint AS completed,
               sum(resolved)::bigint AS resolved,
               sum(abandoned)::bigint AS abandoned
        FROM path_rollups
        WHERE ($1::text IS NULL OR variant = $1) AND bucket >= $2 AND bucket <= $3
        GROUP BY 1
        HAVING sum(completed) > 0
        ORDER BY 1 DESC
        LIMIT $5
        """,
        variant,
        UNBOUNDED_LOW if since is None else since - 59,
        UNBOUNDED_HIGH if until is None else until,
        bucket,
        MAX_TIMELINE_BUCKETS,
    )
    items = [
        TimelineBucket(
            bucket=r["start"],
            completed=r["completed"],
            resolved=r["resolved"],
            abandoned=r["abandoned"],
        )
        for r in reversed(rows)
    ]
    return PathTimeline(bucket_seconds=bucket, items=items)


@router.get(
    "/v1/metrics/top-paths",
    response_model=TopPaths,
    summary="The most common paths to resolution, with counts",
    description="Resolved paths ending in [since, until] grouped by their exact page "
    "sequence, most frequent first (ties: shorter first).",
)
async def top_paths(
    pool: Pool,
    variant: VariantQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> TopPaths:
    rows = await pool.fetch(
        """
        SELECT pages, count(*) AS n
        FROM paths
        WHERE status = 'resolved' AND ($1::text IS NULL OR variant = $1)
          AND end_ts BETWEEN $2 AND $3
        GROUP BY pages
        ORDER BY n DESC, cardinality(pages), pages
        LIMIT $4
        """,
        variant,
        UNBOUNDED_LOW if since is None else since,
        UNBOUNDED_HIGH if until is None else until,
        limit,
    )
    return TopPaths(items=[TopPath(path=list(r["pages"]), count=r["n"]) for r in rows])


@router.get(
    "/v1/metrics/variants",
    response_model=Variants,
    summary="The variants (site compositions) that have completed paths",
    description="At most 100, sorted; compare them with `/v1/metrics/paths?variant=`.",
)
async def variants(pool: Pool) -> Variants:
    rows = await pool.fetch(
        "SELECT DISTINCT variant FROM path_rollups WHERE completed > 0 ORDER BY variant LIMIT 100"
    )
    return Variants(variants=[r["variant"] for r in rows])
