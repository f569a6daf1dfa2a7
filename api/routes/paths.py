"""GET paths and live path/page metrics (contract §3)."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from helpstream.api.csv_export import CSV_RESPONSE, Format, stream_csv
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
from helpstream.api.routes.pages import page_names
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


# A cursor names the last path returned by (customer_id, start_ts) and how many paths with
# that same key have been returned. Not by path_id: the worker replaces a path it extends
# (a new row, a new path_id), so a cursor on path_id would list that path again on the next
# page. (customer_id, start_ts) does not change when a path grows; it is shared only by
# same-second resolutions of one customer, which are final, so counting them is stable.
Cursor = tuple[int, int, int]  # customer_id, start_ts, paths with that key already returned

_PATH_SELECT = """
    SELECT path_id, customer_id, start_ts, end_ts, pages, path_length, status,
           has_turnaround, variant
    FROM paths
    WHERE ($1::bigint IS NULL OR customer_id = $1)
      AND ($2::text IS NULL OR status = $2)
      AND ($3::text IS NULL OR variant = $3)
"""
_FIRST_PAGE = _PATH_SELECT + " ORDER BY customer_id, start_ts, path_id LIMIT $4"
_NEXT_PAGE = f"""
    ({_PATH_SELECT} AND customer_id = $4 AND start_ts = $5 ORDER BY path_id OFFSET $6 LIMIT $7)
    UNION ALL
    ({_PATH_SELECT} AND (customer_id, start_ts) > ($4, $5)
     ORDER BY customer_id, start_ts, path_id LIMIT $7)
    ORDER BY customer_id, start_ts, path_id LIMIT $7
"""


def _encode_cursor(customer_id: int, start_ts: int, seen: int) -> str:
    raw = orjson.dumps({"c": customer_id, "s": start_ts, "n": seen})
    return base64.urlsafe_b64encode(raw).decode()


def _is_bigint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _decode_cursor(cursor: str) -> Cursor:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor))
        if not isinstance(data, dict) or set(data) != {"c", "s", "n"}:
            raise ValueError
        customer_id, start_ts, seen = data["c"], data["s"], data["n"]
        # a forged cursor must not reach PostgreSQL as a number it cannot hold
        if not (_is_bigint(customer_id) and _is_bigint(start_ts) and _is_bigint(seen)):
            raise ValueError
        if not 1 <= seen < 2**31:
            raise ValueError
        return customer_id, start_ts, seen
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


def _next_cursor(rows: list[Any], limit: int, after: Cursor | None) -> str | None:
    """The cursor after ``rows[:limit]``, or None when nothing follows."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    key = (last["customer_id"], last["start_ts"])
    seen = sum((r["customer_id"], r["start_ts"]) == key for r in rows[:limit])
    if after is not None and (after[0], after[1]) == key:
        seen += after[2]
    return _encode_cursor(*key, seen)


PATH_COLUMNS = list(PathOut.model_fields)
PATHS_CSV_SQL = """
    SELECT customer_id, start_ts, end_ts, pages, path_length, status, has_turnaround, variant
    FROM paths
    WHERE ($1::bigint IS NULL OR customer_id = $1)
      AND ($2::text IS NULL OR status = $2)
      AND ($3::text IS NULL OR variant = $3)
    ORDER BY customer_id, start_ts, path_id
"""


@router.get(
    "/v1/paths",
    response_model=PathPage,
    responses=CSV_RESPONSE,
    summary="Sessionized paths, ordered by customer and start time",
    description="Pages of at most `limit` paths; pass `next_cursor` back as `cursor` for the "
    "next one. A path that grows between two pages (a new click extends it) is listed once, "
    "not skipped and not repeated. With `format=csv` the answer is **every** matching path in "
    "one streamed CSV (`limit` and `cursor` are ignored; `path` is the page IDs joined with "
    "`>`).",
)
async def list_paths(
    pool: Pool,
    customer_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    status: PathStatusName | None = None,
    variant: VariantQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    fmt: Format = "json",
) -> PathPage | StreamingResponse:
    if fmt == "csv":
        args = (customer_id, status, variant)
        return stream_csv(pool, "paths", PATH_COLUMNS, PATHS_CSV_SQL, args, _path_values)
    after = _decode_cursor(cursor) if cursor else None
    filters = (customer_id, status, variant)
    if after is None:
        rows = await pool.fetch(_FIRST_PAGE, *filters, limit + 1)
    else:
        rows = await pool.fetch(_NEXT_PAGE, *filters, *after, limit + 1)
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
    return PathPage(items=items, next_cursor=_next_cursor(rows, limit, after))


def _path_values(row: Any) -> list[Any]:
    """A `paths` row in PathOut's field order."""
    return [
        row["customer_id"],
        row["start_ts"],
        row["end_ts"],
        list(row["pages"]),
        row["path_length"],
        row["status"],
        row["has_turnaround"],
        row["variant"],
    ]


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
    items = items[:limit]
    names = await page_names(pool, (item.page_id for item in items))
    for item in items:
        item.page_name = names.get(item.page_id)
    return PageMetrics(
        global_turnaround_rate=_ratio(total_turnarounds, total_departures), items=items
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
